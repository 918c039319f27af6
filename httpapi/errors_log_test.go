package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
)

// TestWriteError_Shed: a transfer the ledger sheds is answered 503 with
// Retry-After like any other unavailable store, but not logged as an
// error: under overload that would be thousands of lines a second.
func TestWriteError_Shed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		logged bool
	}{
		{"ledger busy", ledger.ErrBusy, false},
		{"store unavailable", coffer.Errorf(coffer.EUNAVAILABLE, "The database is busy."), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("POST", "/v1/transfers", nil), log, tc.err)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Errorf("got %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
			}
			if got := strings.Contains(logs.String(), "level=ERROR"); got != tc.logged {
				t.Errorf("logged as an error: got %v, want %v (log: %q)", got, tc.logged, logs.String())
			}
		})
	}
}
