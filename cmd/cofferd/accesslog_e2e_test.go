package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestCofferd_AccessLog: the server logs one line per request, the API's
// and the web keeper's alike, by route pattern, with the member, the
// request ID it answers in Request-Id and in problem documents, and the
// client a trusted proxy names; --access-log off writes none.
func TestCofferd_AccessLog(t *testing.T) {
	needBinaries(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, url, token string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Request-Id") == "" {
			t.Errorf("GET %s: no Request-Id header", url)
		}
		return resp, body
	}

	t.Run("on", func(t *testing.T) {
		t.Parallel()
		s := startServerWith(t, t.TempDir(), "--log-level", "debug", "--log-format", "json", "--trusted-proxy", "127.0.0.1")
		m := registerMember(t, s)

		// The API, through the trusted proxy, which names the client and
		// the request's ID.
		resp, body := get(t, s.url+"/v1/purses/Z123456789012", m.token, "X-Forwarded-For", "203.0.113.7", "X-Request-Id", "edge-4711")
		var p struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 404 || p.Code != "purse_not_found" {
			t.Fatalf("got %d %s, want 404 purse_not_found", resp.StatusCode, body)
		}
		if id := resp.Header.Get("Request-Id"); id != "edge-4711" || p.RequestID != id {
			t.Errorf("got Request-Id %q and problem request_id %q, want the proxy's edge-4711 in both", id, p.RequestID)
		}
		// The web keeper, directly: a visitor is sent to the login page.
		login, _ := get(t, s.url+"/login", "")
		purse, _ := get(t, s.url+"/purses/Z123456789012", "")
		if purse.StatusCode/100 != 3 {
			t.Errorf("web page of a purse, logged out: got %d, want a redirect", purse.StatusCode)
		}
		// The OpenID Connect provider's endpoints are named by their path;
		// any other path under /oauth/ by the prefix.
		discovery, _ := get(t, s.url+"/.well-known/openid-configuration", "")
		oauth, _ := get(t, s.url+"/oauth/x-4711", "")
		// A web error page shows the ID, for the member to quote.
		missing, page := get(t, s.url+"/no/such/page", "")
		if id := missing.Header.Get("Request-Id"); missing.StatusCode != 404 || !strings.Contains(string(page), `<span id="request-id">`+id+`</span>`) {
			t.Errorf("web page not found: got %d, want 404 showing the request ID %s", missing.StatusCode, id)
		}
		if code := s.stop(); code != 0 {
			t.Fatalf("cofferd exited %d", code)
		}

		lines := map[string]map[string]any{} // by request ID
		for l := range strings.Lines(s.stderr.String()) {
			var e map[string]any
			if json.Unmarshal([]byte(l), &e) == nil && e["msg"] == "request" {
				lines[e["request_id"].(string)] = e
			}
		}
		for id, want := range map[string]map[string]any{
			"edge-4711":                        {"level": "DEBUG", "method": "GET", "route": "GET /v1/purses/{purse}", "status": 404.0, "member": m.id, "client": "203.0.113.7"},
			login.Header.Get("Request-Id"):     {"level": "INFO", "route": "GET /login", "status": 200.0, "member": "", "client": "127.0.0.1"},
			purse.Header.Get("Request-Id"):     {"level": "INFO", "route": "GET /purses/{purse}", "status": float64(purse.StatusCode), "member": ""},
			missing.Header.Get("Request-Id"):   {"level": "DEBUG", "route": "unmatched", "status": 404.0},
			discovery.Header.Get("Request-Id"): {"route": "/.well-known/openid-configuration", "status": float64(discovery.StatusCode)},
			oauth.Header.Get("Request-Id"):     {"route": "/oauth/*", "status": float64(oauth.StatusCode)},
		} {
			got, ok := lines[id]
			if !ok {
				t.Errorf("no access log line with request_id %q", id)
				continue
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("request %s: got %s %v, want %v (line %v)", id, k, got[k], v, got)
				}
			}
			if b, _ := got["bytes"].(float64); b <= 0 {
				t.Errorf("request %s: got bytes %v, want > 0", id, got["bytes"])
			}
		}
		if strings.Contains(s.stderr.String(), "Z123456789012") || strings.Contains(s.stderr.String(), "x-4711") {
			t.Error("a purse number or a path reached the log")
		}
	})

	// Without --trusted-proxy, a client's X-Request-Id is not taken.
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		s := startServerWith(t, t.TempDir(), "--log-level", "debug", "--log-format", "json", "--access-log", "off")
		if resp, _ := get(t, s.url+"/login", "", "X-Request-Id", "edge-4712"); resp.Header.Get("Request-Id") == "edge-4712" {
			t.Error("a client's X-Request-Id was taken without a trusted proxy")
		}
		get(t, s.url+"/v1/nowhere", "")
		if code := s.stop(); code != 0 {
			t.Fatalf("cofferd exited %d", code)
		}
		if strings.Contains(s.stderr.String(), `"msg":"request"`) {
			t.Errorf("--access-log off: got access log lines:\n%s", s.stderr)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"--access-log", "maybe"}, {"--access-log-sample", "0"}} {
			out, err := exec.Command(cofferdBin, append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, args...)...).CombinedOutput()
			if exitCodeOf(err) == 0 || !strings.Contains(string(out), args[0]) {
				t.Errorf("serve %v: got exit %d, output %q; want a refusal naming %s", args, exitCodeOf(err), out, args[0])
			}
		}
	})
}
