package main

// End-to-end tests of the HTTPS listener's other modes: --tls-only (no
// plain listener) and certificates from an ACME CA, here Let's Encrypt's
// test server pebble validating the name for real (PEBBLE_VA_ALWAYS_VALID=0)
// against the running cofferd.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/ca"
	"golang.org/x/net/dns/dnsmessage"
)

// acmeDomain is the name the tests get certificates for; their own DNS
// server tells pebble it is 127.0.0.1, and their clients dial it there.
const acmeDomain = "coffer.test"

var acmeChallengesLine = regexp.MustCompile(`ACME challenges on (http://\S+)`)

// servedProcess is a subprocess whose output is kept.
type servedProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	err            error
}

// startProcess starts bin with args and env (beside the test's own) and
// stops it when the test ends.
func startProcess(t *testing.T, env []string, bin string, args ...string) *servedProcess {
	t.Helper()
	p := &servedProcess{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", filepath.Base(bin), tail(p.stdout.String(), 40), tail(p.stderr.String(), 40))
		}
	})
	return p
}

// await waits until the process's standard output matches re and returns
// the first submatch.
func (p *servedProcess) await(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Path, p.err, p.stdout, p.stderr)
		case <-deadline:
			t.Fatalf("%s did not print %s within 20 s\nstdout:\n%s\nstderr:\n%s", p.cmd.Path, re, p.stdout, p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// portOf is the port of host:port or a URL ending in one.
func portOf(t *testing.T, s string) int {
	t.Helper()
	s = s[strings.LastIndexByte(s, ':')+1:]
	p, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("no port in %q", s)
	}
	return p
}

// httpsClient trusts roots and dials every name at 127.0.0.1, the way a
// member's client reaches acmeDomain through DNS.
func httpsClient(t *testing.T, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 90 * time.Second}
}

// TestCofferd_TLSOnly checks that with --tls-only the server listens on
// HTTPS alone, names itself by that listener, and that the flags that
// cannot work together are refused at start-up.
func TestCofferd_TLSOnly(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data, dir := t.TempDir(), t.TempDir()
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 0 {
		t.Fatalf("cofferd admin ca init: exit %d\n%s%s", code, out, errOut)
	}
	srvCert, srvKey := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if out, errOut, code := cofferd(t, "admin", "ca", "server-cert", "--data", data, "--host", "127.0.0.1",
		"--out-cert", srvCert, "--out-key", srvKey); code != 0 {
		t.Fatalf("cofferd admin ca server-cert: exit %d\n%s%s", code, out, errOut)
	}
	plainPort := freePort(t)
	s := startProcess(t, nil, cofferdBin, "serve", "--data", data, "--addr", "127.0.0.1:"+strconv.Itoa(plainPort),
		"--tls-only", "--tls-cert", srvCert, "--tls-key", srvKey, "--tls-addr", "127.0.0.1:0", "--metrics-addr", "off", "--log-level", "warn")
	base := s.await(t, httpsLine)
	if strings.Contains(s.stdout.String(), "listening on http://") {
		t.Errorf("with --tls-only the server says: %s", s.stdout)
	}
	// Nothing took the plain address: this test can listen on it.
	if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(plainPort)); err != nil {
		t.Errorf("with --tls-only, something listens on --addr 127.0.0.1:%d: %v", plainPort, err)
	} else {
		ln.Close()
	}

	caPEM, err := os.ReadFile(filepath.Join(data, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	c := httpsClient(t, roots)
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET %s/healthz: %v", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/healthz: status %d, want 200", base, resp.StatusCode)
	}
	// Without --public-url the HTTPS listener names the server.
	resp, err = c.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.Issuer != base {
		t.Errorf("OpenID Connect issuer: got %q (%v), want the HTTPS listener's %q", doc.Issuer, err, base)
	}

	t.Run("Refused", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--tls-only"}, "--tls-only needs an HTTPS listener"},
			{[]string{"--acme-domain", "coffer.example", "--tls-cert", srvCert, "--tls-key", srvKey}, "choose one source"},
			{[]string{"--acme-domain", "192.0.2.1"}, "an IP address"},
			{[]string{"--acme-domain", "*.coffer.example"}, "wildcard"},
			{[]string{"--acme-domain", "coffer"}, "not a public DNS name"},
			{[]string{"--acme-domain", "coffer.example", "--acme-directory", "http://acme.example/directory"}, "not an https:// URL"},
			{[]string{"--acme-domain", "coffer.example", "--acme-http-addr", "127.0.0.1:0"}, "--acme-http-addr goes with"},
		} {
			args := append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-addr", "127.0.0.1:0", "--metrics-addr", "off"}, c.args...)
			out, errOut, code := cofferd(t, args...)
			if code == 0 || !strings.Contains(errOut, c.want) || strings.Contains(out, "listening on") {
				t.Errorf("serve %s: exit %d, stdout %q, stderr %q; want a refusal saying %q", strings.Join(c.args, " "), code, out, errOut, c.want)
			}
		}
	})
}

// pebbleBin finds Let's Encrypt's ACME test server: $COFFER_TEST_PEBBLE,
// else pebble on PATH (.ci/run installs it).
func pebbleBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("COFFER_TEST_PEBBLE"); p != "" {
		return p
	}
	p, err := exec.LookPath("pebble")
	if err != nil {
		missingTool(t, "no pebble binary: set COFFER_TEST_PEBBLE or put pebble on PATH (go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3)")
	}
	return p
}

// serveTestDNS answers every A question with 127.0.0.1 and every other
// question with no records, over TCP (as pebble asks), until ln closes.
func serveTestDNS(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				var n uint16
				if binary.Read(c, binary.BigEndian, &n) != nil {
					return
				}
				msg := make([]byte, n)
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				var p dnsmessage.Parser
				h, err := p.Start(msg)
				if err != nil {
					return
				}
				qs, err := p.AllQuestions()
				if err != nil {
					return
				}
				b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
				b.StartQuestions()
				for _, q := range qs {
					b.Question(q)
				}
				b.StartAnswers()
				for _, q := range qs {
					if q.Type == dnsmessage.TypeA {
						b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
							dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
					}
				}
				out, err := b.Finish()
				if err != nil {
					return
				}
				if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(out)))); err != nil {
					return
				}
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}()
	}
}

// acmeCA is pebble, Let's Encrypt's ACME test server.
type acmeCA struct {
	bin               string
	dir               string
	certFile, keyFile string         // its listener's certificate
	listenerCAs       *x509.CertPool // what that certificate chains to
	listen, manage    int            // its ACME and management ports
	directory         string         // the ACME directory URL
	roots             *x509.CertPool // the root its certificates chain to, once started
}

// newPebble prepares pebble: its listener's certificate, made by a
// throwaway CA that is written to rootFile (cofferd must trust it to
// reach the directory), and its ports, so that cofferd can be given the
// directory URL before pebble starts.
func newPebble(t *testing.T, bin, rootFile string) *acmeCA {
	t.Helper()
	a := &acmeCA{bin: bin, dir: t.TempDir()}
	now := time.Now()
	auth, err := ca.New(ca.ECDSAP256, "pebble listener test CA", now.Add(-time.Hour), 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := auth.IssueServer(key.Public(), []string{"127.0.0.1", "localhost"}, now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.EncodeKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	a.certFile, a.keyFile = filepath.Join(a.dir, "cert.pem"), filepath.Join(a.dir, "key.pem")
	for f, b := range map[string][]byte{a.certFile: ca.EncodeCertPEM(cert.Raw), a.keyFile: keyPEM, rootFile: auth.CertPEM()} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a.listenerCAs = auth.Pool()
	a.listen, a.manage = freePort(t), freePort(t)
	a.directory = fmt.Sprintf("https://127.0.0.1:%d/dir", a.listen)
	return a
}

// start runs pebble with its DNS questions sent to dnsAddr and its
// validation of http-01 and tls-alpn-01 challenges made on the names'
// httpPort and tlsPort, and fetches its issuing root.
func (a *acmeCA) start(t *testing.T, dnsAddr string, httpPort, tlsPort int) {
	t.Helper()
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(a.listen),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(a.manage),
		"certificate":                    a.certFile,
		"privateKey":                     a.keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(a.dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0"},
		a.bin, "-config", cfgFile, "-dnsserver", dnsAddr)

	// The issuing root comes from the management listener once pebble
	// is up.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.listenerCAs}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	rootsURL := fmt.Sprintf("https://127.0.0.1:%d/roots/0", a.manage)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(rootsURL)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				a.roots = x509.NewCertPool()
				if !a.roots.AppendCertsFromPEM(body) {
					t.Fatalf("GET %s: no PEM certificate in %q", rootsURL, body)
				}
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("pebble exited: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not serve %s within 20 s: %v", rootsURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCofferd_ACME checks that cofferd gets its HTTPS certificate from an
// ACME CA when a client first asks for the name, proving it controls the
// name with tls-alpn-01 on the HTTPS listener (with --tls-only: no plain
// listener) or, when the CA cannot reach that one, with http-01 on the
// plain listener; that the certificate is kept in the cache directory;
// and that the server's public URL is https://DOMAIN.
func TestCofferd_ACME(t *testing.T) {
	needBinaries(t)
	pebble := pebbleBin(t)
	t.Parallel()
	dnsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsLn.Close() })
	go serveTestDNS(dnsLn)

	for _, c := range []struct {
		name      string
		tlsOnly   bool
		challenge string // the challenge the CA can reach; the other goes to a closed port
	}{
		{"TLSALPN01", true, "tls-alpn-01"},
		{"HTTP01", false, "http-01"},              // on the plain member listener
		{"HTTP01ChallengesOnly", true, "http-01"}, // on --acme-http-addr
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data, dir := t.TempDir(), t.TempDir()
			rootFile := filepath.Join(dir, "pebble-listener-ca.pem")
			pb := newPebble(t, pebble, rootFile)
			// With an operator CA the listener asks for members' client
			// certificates, beside the CA's challenges.
			if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 0 {
				t.Fatalf("cofferd admin ca init: exit %d\n%s%s", code, out, errOut)
			}
			plainPort := freePort(t)
			args := []string{"serve", "--data", data, "--addr", "127.0.0.1:" + strconv.Itoa(plainPort), "--tls-addr", "127.0.0.1:0",
				"--metrics-addr", "off", "--log-level", "warn",
				"--acme-domain", acmeDomain, "--acme-email", "operator@example.com", "--acme-directory", pb.directory}
			if c.tlsOnly {
				args = append(args, "--tls-only")
				if c.challenge == "http-01" {
					args = append(args, "--acme-http-addr", "127.0.0.1:0")
				}
			}
			// cofferd reaches the directory over HTTPS with the system's
			// roots, which SSL_CERT_FILE replaces.
			s := startProcess(t, []string{"SSL_CERT_FILE=" + rootFile}, cofferdBin, args...)
			tlsPort := portOf(t, s.await(t, httpsLine))
			httpPort := plainPort // nothing listens there with --tls-only
			switch {
			case !c.tlsOnly:
				s.await(t, listeningLine)
			case c.challenge == "http-01":
				challenges := s.await(t, acmeChallengesLine)
				httpPort = portOf(t, challenges)
				// Everything but a challenge is sent to https.
				noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := noRedirect.Get(challenges + "/healthz?x=1")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				want := fmt.Sprintf("https://%s:%d/healthz?x=1", acmeDomain, tlsPort)
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != want {
					t.Errorf("GET %s/healthz?x=1: status %d, Location %q; want 301 to %s", challenges, resp.StatusCode, loc, want)
				}
			}
			if c.tlsOnly && strings.Contains(s.stdout.String(), "listening on http://") {
				t.Errorf("with --tls-only the server says: %s", s.stdout)
			}
			if c.challenge == "http-01" {
				pb.start(t, dnsLn.Addr().String(), httpPort, freePort(t))
			} else {
				pb.start(t, dnsLn.Addr().String(), httpPort, tlsPort)
			}

			base := fmt.Sprintf("https://%s:%d", acmeDomain, tlsPort)
			client := httpsClient(t, pb.roots)
			var askedCert bool
			client.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				askedCert = true
				return &tls.Certificate{}, nil
			}
			resp, err := client.Get(base + "/healthz")
			if err != nil {
				t.Fatalf("GET %s/healthz: %v", base, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s/healthz: status %d, want 200", base, resp.StatusCode)
			}
			if !askedCert {
				t.Error("the HTTPS listener did not ask for a client certificate")
			}
			leaf := resp.TLS.PeerCertificates[0]
			if !slices.Contains(leaf.DNSNames, acmeDomain) {
				t.Errorf("certificate names %v, want %s", leaf.DNSNames, acmeDomain)
			}

			cache := filepath.Join(data, "acme")
			if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("ACME cache %s: %v %v, want a directory of mode 0700", cache, fi.Mode().Perm(), err)
			}
			if _, err := os.Stat(filepath.Join(cache, acmeDomain)); err != nil {
				t.Errorf("the certificate is not in the cache: %v", err)
			}

			// The server names itself https://DOMAIN:PORT.
			resp, err = client.Get(base + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Issuer string `json:"issuer"`
			}
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err != nil || doc.Issuer != base {
				t.Errorf("OpenID Connect issuer: got %q (%v), want %q", doc.Issuer, err, base)
			}
		})
	}
}
