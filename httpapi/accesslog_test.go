package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// logBuffer collects JSON log lines from the server's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns the log lines whose msg is msg (all when msg is ""),
// decoded, and empties the buffer.
func (b *logBuffer) take(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg == "" || m["msg"] == msg {
			out = append(out, m)
		}
	}
	b.buf.Reset()
	return out
}

// newLoggedEnv is newEnv behind accesslog.Wrap, logging JSON at debug
// level into the returned buffer.
func newLoggedEnv(t *testing.T, cfg accesslog.Config) (*env, *logBuffer) {
	t.Helper()
	ctx := context.Background()
	lb := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	metrics := httpapi.NewMetrics()
	engine := ledger.New(db, slog.New(slog.DiscardHandler), ledger.Config{})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, slog.New(slog.DiscardHandler), app.Config{Hasher: cheapHasher, Now: clk.Now})
	api := httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true, TrustedProxies: cfg.TrustedProxies})
	srv := httptest.NewServer(accesslog.Wrap(api, log, cfg))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &env{t: t, srv: srv, db: db, clock: clk}, lb
}

// TestWithAccessLog checks the access log over the API: lines carry the
// route pattern, the member and the request ID the problem names.
func TestWithAccessLog(t *testing.T) {
	t.Run("Lines", func(t *testing.T) {
		e, lb := newLoggedEnv(t, accesslog.Config{})
		m := e.register(t, "")
		lb.take(t, "request")

		// A route with an ID in its path is logged by its pattern.
		a := e.request(t, "GET", "/v1/purses/Z123456789012", m.token, nil)
		p := wantProblem(t, a, http.StatusNotFound, "purse_not_found")
		id := a.Header.Get("Request-Id")
		if len(id) != 32 {
			t.Fatalf("got Request-Id %q, want 32 hex digits", id)
		}
		var doc struct {
			RequestID string `json:"request_id"`
		}
		a.decode(t, &doc)
		if doc.RequestID != id {
			t.Errorf("got problem request_id %q, want the Request-Id header %q (%+v)", doc.RequestID, id, p)
		}
		lines := lb.take(t, "request")
		if len(lines) != 1 {
			t.Fatalf("got %d access log lines, want 1: %v", len(lines), lines)
		}
		l := lines[0]
		want := map[string]any{"level": "DEBUG", "method": "GET", "route": "GET /v1/purses/{purse}", "status": 404.0,
			"member": m.id, "request_id": id, "client": "127.0.0.1", "bytes": float64(len(a.Body))}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("got %s %v, want %v (line %v)", k, l[k], v, l)
			}
		}
		if _, ok := l["duration"]; !ok {
			t.Errorf("got no duration in %v", l)
		}
		if line, _ := json.Marshal(l); bytes.Contains(line, []byte("Z123456789012")) {
			t.Errorf("got the purse number in the access log line %s", line)
		}

		// Success is logged at info; a request without credentials has
		// no member.
		a = e.request(t, "GET", "/v1/purses", m.token, nil)
		wantStatus(t, a, http.StatusOK)
		if l := lb.take(t, "request"); len(l) != 1 || l[0]["level"] != "INFO" || l[0]["route"] != "GET /v1/purses" || l[0]["status"] != 200.0 {
			t.Errorf("got %v, want one INFO line for GET /v1/purses, 200", l)
		}
		a = e.request(t, "GET", "/v1/nowhere/42", "", nil)
		wantProblem(t, a, http.StatusNotFound, "not_found")
		if l := lb.take(t, "request"); len(l) != 1 || l[0]["route"] != "unmatched" || l[0]["member"] != "" {
			t.Errorf("got %v, want one line with route unmatched and no member", l)
		}

		// A server error is logged at error level, with the request ID,
		// in the access log and in the error's own line.
		e.db.Close()
		a = e.request(t, "GET", "/v1/purses", m.token, nil)
		if a.Status < 500 {
			t.Fatalf("got %s with the database closed, want 5xx", a)
		}
		id = a.Header.Get("Request-Id")
		var failed, access []map[string]any
		for _, l := range lb.take(t, "") {
			switch l["msg"] {
			case "request failed":
				failed = append(failed, l)
			case "request":
				access = append(access, l)
			}
		}
		if len(failed) != 1 || failed[0]["request_id"] != id {
			t.Errorf("got error lines %v, want one with request_id %q", failed, id)
		}
		if len(access) != 1 || access[0]["level"] != "ERROR" || access[0]["request_id"] != id {
			t.Errorf("got access lines %v, want one at ERROR with request_id %q", access, id)
		}
	})
}
