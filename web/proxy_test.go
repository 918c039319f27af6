package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/forwarded"
	"github.com/coffer-money/coffer/web"
)

// TestServer_TrustedProxy checks that X-Forwarded-Host and X-Forwarded-For
// count only when the request comes from a configured proxy: the test
// server's peer is 127.0.0.1, trusted in one keeper and not in the other.
func TestServer_TrustedProxy(t *testing.T) {
	proxyHdr := []string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example"}
	createPurse := func(t *testing.T, e *env, hdr ...string) (page, int) {
		t.Helper()
		b := e.browser(t)
		id := b.register("")
		b.login(id)
		b.get("/purses")
		p := b.post("/purses", url.Values{"currency": {"EUR"}}, hdr...)
		list, err := e.svc.Purses(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return p, len(list)
	}

	t.Run("UntrustedPeer", func(t *testing.T) {
		e := newEnv(t)
		p, n := createPurse(t, e, proxyHdr...)
		wantStatus(t, p, http.StatusForbidden)
		wantBody(t, p, "did not come from this site")
		if n != 0 {
			t.Fatalf("got %d purses after a refused form, want 0", n)
		}
	})

	trusted, err := forwarded.Parse([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("TrustedPeer", func(t *testing.T) {
		e := newEnvWith(t, web.Config{TrustedProxies: trusted})
		p, n := createPurse(t, e, proxyHdr...)
		wantStatus(t, p, http.StatusSeeOther)
		if n != 1 {
			t.Fatalf("got %d purses, want 1", n)
		}
	})

	t.Run("PublicURL", func(t *testing.T) {
		e := newEnvWith(t, web.Config{PublicURL: "https://coffer.example.org"})
		p, n := createPurse(t, e, "Origin", "https://coffer.example.org")
		wantStatus(t, p, http.StatusSeeOther)
		if n != 1 {
			t.Fatalf("got %d purses, want 1", n)
		}
		p, _ = createPurse(t, e, "Origin", "http://coffer.example.org")
		wantStatus(t, p, http.StatusForbidden)
	})

	// Behind the proxy, the allowed IP ranges apply to the client's
	// address from X-Forwarded-For, not to the proxy's.
	t.Run("ClientAddress", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			cfg    web.Config
			xff    string
			status int
		}{
			{"TrustedAllowed", web.Config{TrustedProxies: trusted}, "198.51.100.7", http.StatusOK},
			{"TrustedSpoofedLeft", web.Config{TrustedProxies: trusted}, "198.51.100.7, 203.0.113.5", http.StatusForbidden},
			{"UntrustedSpoofed", web.Config{}, "198.51.100.7", http.StatusForbidden},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newEnvWith(t, c.cfg)
				ctx := context.Background()
				m, err := e.svc.Register(ctx, app.RegisterInput{Password: testPassword})
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				token, _, err := e.svc.Login(ctx, app.LoginInput{Login: m.ID, Password: testPassword, IP: "198.51.100.7"})
				if err != nil {
					t.Fatalf("Login: %v", err)
				}
				if _, err := e.svc.SetIPRanges(ctx, app.Actor{MemberID: m.ID, IP: "198.51.100.1", Method: "session"}, []string{"198.51.100.0/24"}); err != nil {
					t.Fatalf("SetIPRanges: %v", err)
				}
				// A remote client's cookie is the Secure one; a loopback
				// client's the plain one. Both are sent, as either may be read.
				req, _ := http.NewRequest("GET", e.srv.URL+"/purses", nil)
				req.Header.Set("Cookie", "__Host-coffer_session="+token+"; coffer_session="+token)
				req.Header.Set("X-Forwarded-For", c.xff)
				wantStatus(t, e.browser(t).do(req), c.status)
			})
		}
	})
}
