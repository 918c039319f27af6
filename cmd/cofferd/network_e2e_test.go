package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// discoveryIssuer fetches the OpenID Connect discovery document from base
// with the given Host header ("" for base's own) and returns its issuer.
func discoveryIssuer(t *testing.T, base, host string) string {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/.well-known/openid-configuration", nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery with Host %q: status %d, %v", host, resp.StatusCode, err)
	}
	if !strings.HasPrefix(doc.TokenEndpoint, doc.Issuer+"/") {
		t.Fatalf("discovery with Host %q: token endpoint %q is not under the issuer %q", host, doc.TokenEndpoint, doc.Issuer)
	}
	return doc.Issuer
}

// TestCofferd_PublicURL checks that the OpenID Connect issuer is the
// configured public URL whatever Host a request names, and that a public
// URL that could be impersonated is refused at start-up.
func TestCofferd_PublicURL(t *testing.T) {
	needBinaries(t)
	t.Parallel()

	t.Run("DefaultIsTheListener", func(t *testing.T) {
		s := startServer(t, t.TempDir())
		for _, host := range []string{"", "evil.example", "evil.example:8080"} {
			if got := discoveryIssuer(t, s.url, host); got != s.url {
				t.Errorf("Host %q: got issuer %q, want the listener's %q", host, got, s.url)
			}
		}
	})

	t.Run("Configured", func(t *testing.T) {
		s := startServerWith(t, t.TempDir(), "--public-url", "https://coffer.example/")
		for _, host := range []string{"", "evil.example"} {
			if got := discoveryIssuer(t, s.url, host); got != "https://coffer.example" {
				t.Errorf("Host %q: got issuer %q, want https://coffer.example", host, got)
			}
		}
		s2 := startServerWith(t, t.TempDir(), "--public-url", "https://coffer.example", "--oidc-issuer", "https://id.coffer.example")
		if got := discoveryIssuer(t, s2.url, "evil.example"); got != "https://id.coffer.example" {
			t.Errorf("with --oidc-issuer: got issuer %q, want https://id.coffer.example", got)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, c := range []struct{ flag, value, want string }{
			{"--public-url", "http://coffer.example", "plain http is allowed only on a loopback host"},
			{"--public-url", "http://192.0.2.10:8080", "plain http is allowed only on a loopback host"},
			{"--public-url", "ftp://coffer.example", "must use https"},
			{"--public-url", "coffer.example", "not an absolute URL"},
			{"--public-url", "https://coffer.example/coffer", "bare origin"},
			{"--public-url", "https://coffer.example/?next=evil", "bare origin"},
			{"--public-url", "https://user@coffer.example", "bare origin"},
			{"--oidc-issuer", "http://coffer.example", "plain http is allowed only on a loopback host"},
		} {
			dir := t.TempDir()
			out, errOut, code := cofferd(t, "serve", "--data", dir, "--addr", "127.0.0.1:0", "--metrics-addr", "off", c.flag, c.value)
			if code == 0 || !strings.Contains(errOut, c.want) || strings.Contains(out, "listening on") {
				t.Errorf("serve %s %s: exit %d, stdout %q, stderr %q; want a refusal saying %q", c.flag, c.value, code, out, errOut, c.want)
			}
		}
	})
}

// TestCofferd_MetricsListener checks that the metrics are served on their
// own listener only: the member listeners, plain and TLS, answer 404.
func TestCofferd_MetricsListener(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	f := newTLSFixture(t)
	s := f.e2eServer
	registerMember(t, s) // some traffic to count
	if s.scrape == "" || strings.HasPrefix(s.scrape, s.url) {
		t.Fatalf("metrics URL %q: want a listener of its own beside %s", s.scrape, s.url)
	}

	get := func(t *testing.T, c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, body := get(t, http.DefaultClient, s.scrape)
	if status != http.StatusOK || !strings.Contains(body, "# TYPE coffer_http_requests_total counter") ||
		!strings.Contains(body, `coffer_http_requests_total{route="POST /v1/members",status="201"}`) {
		t.Fatalf("GET %s: status %d, want 200 with the Prometheus text of coffer's counters; body:\n%.2000s", s.scrape, status, body)
	}
	if status, _ := get(t, http.DefaultClient, s.url+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the member listener: status %d, want 404", status)
	}

	pem, err := os.ReadFile(f.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	if status, body := get(t, &http.Client{Transport: tr}, f.https+"/metrics"); status != http.StatusNotFound || strings.Contains(body, "coffer_") {
		t.Errorf("GET /metrics on the TLS listener: status %d, want 404; body:\n%.500s", status, body)
	}

	t.Run("Off", func(t *testing.T) {
		s := startServerWith(t, t.TempDir(), "--metrics-addr", "off")
		if strings.Contains(s.stdout.String(), "metrics on") || s.scrape != "" {
			t.Fatalf("with --metrics-addr off the server says: %s", s.stdout)
		}
	})
}
