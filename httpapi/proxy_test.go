package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/forwarded"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// newProxyEnv is newEnv behind proxies that write X-Forwarded-*: trusted
// lists them.
func newProxyEnv(t *testing.T, trusted ...string) *env {
	t.Helper()
	return newProxyEnvWith(t, forwarded.XForwarded, trusted...)
}

// newProxyEnvWith is newProxyEnv for proxies that write the headers h.
func newProxyEnvWith(t *testing.T, h forwarded.Header, trusted ...string) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	proxies, err := forwarded.ParseWith(trusted, h)
	if err != nil {
		t.Fatal(err)
	}
	metrics := httpapi.NewMetrics()
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now})
	srv := httptest.NewServer(httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true, TrustedProxies: proxies}))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &env{t: t, srv: srv, db: db, clock: clk}
}

// TestServer_ClientIP checks which address the API takes for the client:
// the connection's peer, unless that is a trusted proxy, and then the
// rightmost untrusted address of X-Forwarded-For. The test server's peer
// is 127.0.0.1.
func TestServer_ClientIP(t *testing.T) {
	yourIP := func(t *testing.T, e *env, m *member, xff string) string {
		t.Helper()
		var hdr []string
		if xff != "" {
			hdr = []string{"X-Forwarded-For", xff}
		}
		a := e.request(t, "GET", "/v1/security/ip-ranges", m.token, nil, hdr...)
		wantStatus(t, a, 200)
		var out struct {
			YourIP string `json:"your_ip"`
		}
		a.decode(t, &out)
		return out.YourIP
	}

	t.Run("NoProxyTrusted", func(t *testing.T) {
		e := newEnv(t)
		m := e.register(t, "")
		if got := yourIP(t, e, m, "198.51.100.7"); got != "127.0.0.1" {
			t.Fatalf("got your_ip %q with a stranger's X-Forwarded-For, want the peer 127.0.0.1", got)
		}
	})

	e := newProxyEnv(t, "127.0.0.1", "10.0.0.0/8")
	m := e.register(t, "")
	for _, c := range []struct{ name, xff, want string }{
		{"NoHeader", "", "127.0.0.1"},
		{"OneHop", "198.51.100.7", "198.51.100.7"},
		{"SpoofedLeftIgnored", "203.0.113.66, 198.51.100.7", "198.51.100.7"},
		{"TrustedHopsSkipped", "203.0.113.66, 198.51.100.7, 10.2.3.4", "198.51.100.7"},
		{"Garbage", "198.51.100.7, not-an-address", "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := yourIP(t, e, m, c.xff); got != c.want {
				t.Fatalf("X-Forwarded-For %q: got your_ip %q, want %q", c.xff, got, c.want)
			}
		})
	}

	// The allowed IP ranges bind the client behind the proxy, and a
	// client cannot talk its way in with an address of its own.
	t.Run("IPRanges", func(t *testing.T) {
		e.restrict(t, m.id, "198.51.100.0/24")
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil, "X-Forwarded-For", "198.51.100.7"), 200)
		wantProblem(t, e.request(t, "GET", "/v1/purses", m.token, nil, "X-Forwarded-For", "198.51.100.7, 203.0.113.5"), 403, "ip_not_allowed")
		wantProblem(t, e.request(t, "GET", "/v1/purses", m.token, nil), 403, "ip_not_allowed")
	})
}

// TestServer_NoMetrics checks that the API does not serve the metrics:
// they have a listener of their own.
func TestServer_NoMetrics(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.request(t, "GET", "/metrics", "", nil), 404, "not_found")
}

// TestServer_SignatureBehindProxy checks that a signature made for the
// public URL (https://coffer.example/…) verifies behind a trusted proxy
// that names the scheme and host the client used, and only there: from a
// stranger the same headers change nothing.
func TestServer_SignatureBehindProxy(t *testing.T) {
	// sign signs for https://coffer.example and sends to the test server
	// with the proxy's headers.
	sign := func(t *testing.T, e *env, s *signer, hdr ...string) answer {
		t.Helper()
		var local string
		return e.signedRequest(t, s, "GET", "/v1/purses", nil, signOpts{
			before: func(r *http.Request) {
				local = r.URL.Host
				r.URL.Scheme, r.URL.Host, r.Host = "https", "coffer.example", "coffer.example"
			},
			after: func(r *http.Request) {
				r.URL.Scheme, r.URL.Host, r.Host = "http", local, local
				for i := 0; i+1 < len(hdr); i += 2 {
					r.Header.Set(hdr[i], hdr[i+1])
				}
			},
		})
	}
	xf := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "coffer.example", "X-Forwarded-For", "198.51.100.7"}
	std := []string{"Forwarded", `for=198.51.100.7;host=coffer.example;proto=https`}

	for _, c := range []struct {
		name    string
		newEnv  func(t *testing.T) *env
		hdr     []string
		wantErr string // "" for 200
	}{
		{"XForwarded", func(t *testing.T) *env { return newProxyEnv(t, "127.0.0.1") }, xf, ""},
		{"Forwarded", func(t *testing.T) *env { return newProxyEnvWith(t, forwarded.Standard, "127.0.0.1") }, std, ""},
		{"NoProxyTrusted", newEnv, xf, coffer.ESIGINVALID},
		{"NoProxyTrustedForwarded", newEnv, std, coffer.ESIGINVALID},
		{"OtherFamilyIgnored", func(t *testing.T) *env { return newProxyEnv(t, "127.0.0.1") }, std, coffer.ESIGINVALID},
		{"NoHeaders", func(t *testing.T) *env { return newProxyEnv(t, "127.0.0.1") }, nil, coffer.ESIGINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.newEnv(t)
			m := e.register(t, "")
			s := e.addKey(t, m, "laptop")
			a := sign(t, e, s, c.hdr...)
			if c.wantErr == "" {
				wantStatus(t, a, 200)
			} else {
				wantProblem(t, a, 401, c.wantErr)
			}
		})
	}
}
