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

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/forwarded"
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

// newLoggedEnv is newEnv behind WithAccessLog, logging JSON at debug
// level into the returned buffer.
func newLoggedEnv(t *testing.T, cfg httpapi.AccessLog) (*env, *logBuffer) {
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
	srv := httptest.NewServer(httpapi.WithAccessLog(api, log, cfg))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &env{t: t, srv: srv, db: db, clock: clk}, lb
}

func TestWithAccessLog(t *testing.T) {
	t.Run("Lines", func(t *testing.T) {
		e, lb := newLoggedEnv(t, httpapi.AccessLog{})
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

	t.Run("Levels", func(t *testing.T) {
		lb := &logBuffer{}
		log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h := httpapi.WithAccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.SetRoute(r.Context(), "GET /status/{code}")
			switch r.URL.Path {
			case "/status/500":
				w.WriteHeader(500)
			case "/status/302":
				w.WriteHeader(302)
			case "/status/429":
				w.WriteHeader(429)
			}
		}), log, httpapi.AccessLog{})
		for path, level := range map[string]string{"/status/500": "ERROR", "/status/302": "INFO", "/status/429": "DEBUG", "/status/200": "INFO"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			l := lb.take(t, "request")
			if len(l) != 1 || l[0]["level"] != level || l[0]["route"] != "GET /status/{code}" || l[0]["request_id"] != rec.Header().Get("Request-Id") {
				t.Errorf("%s: got %v, want one %s line with the route and the request ID %q", path, l, level, rec.Header().Get("Request-Id"))
			}
		}
	})

	t.Run("Sample", func(t *testing.T) {
		lb := &logBuffer{}
		log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h := httpapi.WithAccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fail" {
				w.WriteHeader(503)
			}
		}), log, httpapi.AccessLog{Sample: 3})
		for range 6 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ok", nil))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fail", nil))
		}
		ok, failed := 0, 0
		for _, l := range lb.take(t, "request") {
			switch l["status"] {
			case 200.0:
				ok++
			case 503.0:
				failed++
			}
		}
		if ok != 2 || failed != 6 {
			t.Errorf("got %d successes and %d failures logged, want 2 (1 in 3 of 6) and 6 (all)", ok, failed)
		}
	})

	t.Run("Off", func(t *testing.T) {
		lb := &logBuffer{}
		log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h := httpapi.WithAccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }), log, httpapi.AccessLog{Off: true})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if l := lb.take(t, "request"); len(l) != 0 {
			t.Errorf("got %v, want no access log line", l)
		}
		if rec.Header().Get("Request-Id") == "" {
			t.Error("got no Request-Id with the access log off, want one")
		}
	})

	// A proxy's request ID is kept only from a trusted proxy, and only
	// when short and printable. httptest.NewRequest's peer is 192.0.2.1.
	t.Run("IncomingID", func(t *testing.T) {
		trusted, err := forwarded.Parse([]string{"192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(httpapi.RequestID(r.Context()))) })
		for _, c := range []struct {
			name    string
			proxies *forwarded.Trusted
			header  string
			value   string
			kept    bool
		}{
			{"trusted X-Request-Id", trusted, "X-Request-Id", "edge-7f3a:42", true},
			{"trusted Request-Id", trusted, "Request-Id", "abc.DEF_123", true},
			{"untrusted", nil, "X-Request-Id", "edge-7f3a:42", false},
			{"space", trusted, "X-Request-Id", "a b", false},
			{"quote", trusted, "X-Request-Id", `a"b`, false},
			{"control", trusted, "X-Request-Id", "a\x01b", false},
			{"non-ASCII", trusted, "X-Request-Id", "été", false},
			{"long", trusted, "X-Request-Id", strings.Repeat("a", 65), false},
		} {
			h := httpapi.WithAccessLog(echo, slog.New(slog.DiscardHandler), httpapi.AccessLog{TrustedProxies: c.proxies})
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set(c.header, c.value)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("Request-Id")
			if got != rec.Body.String() {
				t.Errorf("%s: got Request-Id %q but RequestID %q, want the same", c.name, got, rec.Body.String())
			}
			if kept := got == c.value; kept != c.kept || got == "" {
				t.Errorf("%s: got Request-Id %q for %s %q, want kept=%v", c.name, got, c.header, c.value, c.kept)
			}
		}
	})
}
