package accesslog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/forwarded"
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

func TestWrap(t *testing.T) {
	t.Run("Levels", func(t *testing.T) {
		lb := &logBuffer{}
		log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h := accesslog.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			accesslog.SetRoute(r.Context(), "GET /status/{code}")
			switch r.URL.Path {
			case "/status/500":
				w.WriteHeader(500)
			case "/status/302":
				w.WriteHeader(302)
			case "/status/429":
				w.WriteHeader(429)
			}
		}), log, accesslog.Config{})
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
		h := accesslog.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fail" {
				w.WriteHeader(503)
			}
		}), log, accesslog.Config{Sample: 3})
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
		h := accesslog.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }), log, accesslog.Config{Off: true})
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
		echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(accesslog.RequestID(r.Context()))) })
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
			h := accesslog.Wrap(echo, slog.New(slog.DiscardHandler), accesslog.Config{TrustedProxies: c.proxies})
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
