package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/coffer-money/coffer/httpapi"
)

// TestLimitRequests holds two requests in the handler of a limit of two: a
// third is answered 503 with Retry-After at once, the probes still pass,
// and once one finishes the next is served.
func TestLimitRequests(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/transfers" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	h := limitRequests(next, 2, httpapi.NewMetrics())
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
		return rec
	}

	var held sync.WaitGroup
	for range 2 {
		held.Go(func() {
			if rec := serve("/v1/transfers"); rec.Code != http.StatusOK {
				t.Errorf("held request: got %d, want 200", rec.Code)
			}
		})
		<-entered
	}
	rec := serve("/v1/transfers")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("third request: got %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	var p httpapi.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "unavailable" {
		t.Errorf("third request: got body %s (%v), want a problem with code unavailable", rec.Body, err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if rec := serve(path); rec.Code != http.StatusOK {
			t.Errorf("%s while full: got %d, want 200", path, rec.Code)
		}
	}
	release <- struct{}{}
	// One place is free once a held request has returned.
	for {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/purses", nil)
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			break
		}
	}
	close(release)
	held.Wait()

	if got := limitRequests(next, 0, httpapi.NewMetrics()); got == nil {
		t.Error("no limit: got nil handler")
	}
}
