package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// Work cut off by the request's deadline is answered 503 unavailable with
// Retry-After, not 500; a damaged database is answered 500 without a log
// line per request.
func TestWithDeadline_CutOffWorkIsUnavailable(t *testing.T) {
	h := WithDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a database call that waited past the deadline
		writeError(w, r, slog.New(slog.DiscardHandler), fmt.Errorf("sqlite.History: %w", r.Context().Err()))
	}), 10*time.Millisecond)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/purses", nil))
	var p Problem
	json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != http.StatusServiceUnavailable || p.Code != coffer.EUNAVAILABLE || rec.Header().Get("Retry-After") == "" {
		t.Errorf("got %d %s (Retry-After %q), want 503 unavailable with Retry-After", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
}

func TestWriteError_DamageLoggedOnceAMinute(t *testing.T) {
	var logged []string
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) { logged = append(logged, string(b)); return len(b), nil }), &slog.HandlerOptions{Level: slog.LevelInfo}))
	damaged := &coffer.Error{Code: coffer.EINTERNAL, Message: "damaged", Err: fmt.Errorf("%w: page 7", coffer.ErrDamaged)}
	for range 3 {
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest("GET", "/v1/purses", nil), log, damaged)
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("got %d, want 500", rec.Code)
		}
	}
	if len(logged) != 1 {
		t.Errorf("three requests on a damaged database logged %q, want one line (at most one a minute)", logged)
	}
	writeError(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/purses", nil), log, fmt.Errorf("other"))
	if len(logged) != 2 {
		t.Errorf("an internal error: got %d more log lines, want 1", len(logged)-1)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
