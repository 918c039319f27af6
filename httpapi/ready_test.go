package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// fakeReadier answers Ready with err and counts the probes.
type fakeReadier struct {
	err   error
	calls int
}

func (f *fakeReadier) Ready(context.Context) error { f.calls++; return f.err }

func TestServer_Readyz(t *testing.T) {
	store := &fakeReadier{}
	now := time.Unix(1_800_000_000, 0)
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ready: &readiness{store: store, now: func() time.Time { return now }}}
	get := func() (*httptest.ResponseRecorder, map[string]string) {
		rec := httptest.NewRecorder()
		s.serveReady(rec, httptest.NewRequest("GET", "/readyz", nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("GET /readyz: body %q: %v", rec.Body, err)
		}
		return rec, body
	}

	rec, body := get()
	if rec.Code != http.StatusOK || body["status"] != "ok" {
		t.Errorf("ready store: got %d %v, want 200 status ok", rec.Code, body)
	}

	// Within a second the last answer stands: no new probe.
	store.err = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server's disk is full; try again later."}
	now = now.Add(readyFor / 2)
	if rec, _ := get(); rec.Code != http.StatusOK || store.calls != 1 {
		t.Errorf("second GET within %v: got %d after %d probes, want 200 after 1", readyFor, rec.Code, store.calls)
	}

	now = now.Add(readyFor)
	rec, body = get()
	if rec.Code != http.StatusServiceUnavailable || body["status"] != "unavailable" || body["reason"] != "The server's disk is full; try again later." {
		t.Errorf("full disk: got %d %v, want 503 status unavailable with the store's reason", rec.Code, body)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("full disk: no Retry-After")
	}
	if store.calls != 2 {
		t.Errorf("probes: got %d, want 2", store.calls)
	}

	// An internal fault is not told to the client.
	store.err = io.ErrUnexpectedEOF
	now = now.Add(readyFor)
	if rec, body := get(); rec.Code != http.StatusServiceUnavailable || body["reason"] != coffer.ErrorMessage(io.ErrUnexpectedEOF) {
		t.Errorf("internal fault: got %d %v, want 503 with the generic message", rec.Code, body)
	}
}
