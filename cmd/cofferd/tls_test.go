package main

// End-to-end tests of personal certificates: the operator's CA, the HTTPS
// listener, and independent clients (openssl makes the request, curl calls
// the API with the certificate).

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/ca"
	"github.com/coffer-money/coffer/client"
)

// tlsFixture is a running cofferd with a CA in its data directory and an
// HTTPS listener beside the plain one.
type tlsFixture struct {
	*e2eServer
	https  string // https://127.0.0.1:PORT
	caFile string // the data directory's CA certificate
	dir    string // scratch files
}

var httpsLine = regexp.MustCompile(`listening on (https://\S+)`)

func newTLSFixture(t *testing.T, extra ...string) *tlsFixture {
	t.Helper()
	data, dir := t.TempDir(), t.TempDir()
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 0 {
		t.Fatalf("cofferd admin ca init: exit %d\n%s%s", code, out, errOut)
	}
	srvCert, srvKey := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if out, errOut, code := cofferd(t, "admin", "ca", "server-cert", "--data", data, "--host", "127.0.0.1",
		"--out-cert", srvCert, "--out-key", srvKey); code != 0 {
		t.Fatalf("cofferd admin ca server-cert: exit %d\n%s%s", code, out, errOut)
	}
	f := &tlsFixture{caFile: filepath.Join(data, "ca", "ca.crt"), dir: dir}
	f.e2eServer = startServerWith(t, data, append([]string{"--tls-cert", srvCert, "--tls-key", srvKey,
		"--tls-client-ca", f.caFile, "--tls-addr", "127.0.0.1:0"}, extra...)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := httpsLine.FindStringSubmatch(f.stdout.String()); m != nil {
			f.https = m[1]
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("cofferd did not say where it listens for HTTPS\nstdout:\n%s\nstderr:\n%s", f.stdout, f.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// issued is the answer to POST /v1/certificates.
type issued struct {
	CertificateID string `json:"certificate_id"`
	Serial        string `json:"serial"`
	Certificate   string `json:"certificate"`
	Fingerprint   string `json:"fingerprint"`
	NotAfter      string `json:"not_after"`
}

// requestCert sends csr for m and writes the certificate to file.
func (f *tlsFixture) requestCert(t *testing.T, m *e2eMember, csr []byte, file string) issued {
	t.Helper()
	var c issued
	f.must(t, "POST", "/v1/certificates", m.token, map[string]string{"csr": string(csr)}, http.StatusCreated, &c)
	if c.CertificateID == "" || c.Serial == "" || c.Fingerprint == "" || c.NotAfter == "" || !strings.Contains(c.Certificate, "BEGIN CERTIFICATE") {
		t.Fatalf("POST /v1/certificates: got %+v, want certificate_id, serial, certificate, not_after, fingerprint", c)
	}
	if err := os.WriteFile(file, []byte(c.Certificate), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// writeKeyPair writes a certificate made directly by auth (not through the
// API) and its key, and returns the two file names.
func (f *tlsFixture) writeKeyPair(t *testing.T, name string, auth *ca.Authority, tmpl *x509.Certificate) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, err := auth.Issue(tmpl, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := ca.EncodeKeyPEM(key)
	cf, kf := filepath.Join(f.dir, name+".crt"), filepath.Join(f.dir, name+".key")
	if err := os.WriteFile(cf, ca.EncodeCertPEM(c.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}

func (f *tlsFixture) securityEvents(t *testing.T, m *e2eMember) []string {
	t.Helper()
	var ev struct {
		Events []struct {
			Kind string `json:"kind"`
		} `json:"events"`
	}
	f.must(t, "GET", "/v1/security/events", m.token, nil, http.StatusOK, &ev)
	var kinds []string
	for _, e := range ev.Events {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func TestCofferd_CAInit(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 0 || !strings.Contains(out, "created certificate authority") {
		t.Fatalf("ca init: exit %d\n%s%s", code, out, errOut)
	}
	dir := filepath.Join(data, "ca")
	for name, want := range map[string]os.FileMode{"": 0o700, "ca.key": 0o600, "ca.crt": 0o644} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: got %v %v, want mode %04o", filepath.Join(dir, name), fi.Mode().Perm(), err, want)
		}
	}
	key, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if _, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 1 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Errorf("second ca init: exit %d, stderr %q; want exit 1 refusing to overwrite", code, errOut)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.key")); !bytes.Equal(again, key) {
		t.Error("a refused ca init changed the CA key")
	}

	// Importing: the first CA goes into a second data directory; a key of
	// another CA is refused.
	other := t.TempDir()
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", other, "--cert", filepath.Join(dir, "ca.crt"), "--key", filepath.Join(dir, "ca.key")); code != 0 || !strings.Contains(out, "imported") {
		t.Fatalf("ca init --cert --key: exit %d\n%s%s", code, out, errOut)
	}
	orig, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if imported, _ := os.ReadFile(filepath.Join(other, "ca", "ca.crt")); !bytes.Equal(imported, orig) {
		t.Error("the imported CA certificate differs from the original")
	}
	third := t.TempDir()
	if _, errOut, code := cofferd(t, "admin", "ca", "init", "--data", third, "--cert", filepath.Join(dir, "ca.crt"), "--key", filepath.Join(f0(t), "ca", "ca.key")); code != 1 || !strings.Contains(errOut, "does not belong") {
		t.Errorf("ca init with another CA's key: exit %d, stderr %q; want a refusal", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(third, "ca", "ca.key")); err == nil {
		t.Error("a refused import left a key behind")
	}

	if _, errOut, code := cofferd(t, "admin", "ca", "server-cert", "--data", t.TempDir(), "--host", "127.0.0.1", "--out-cert", filepath.Join(third, "s.crt"), "--out-key", filepath.Join(third, "s.key")); code != 1 || !strings.Contains(errOut, "ca init") {
		t.Errorf("server-cert without a CA: exit %d, stderr %q; want advice to run ca init", code, errOut)
	}
	if _, _, code := cofferd(t, "serve", "--data", data, "--addr", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "ca.crt")); code == 0 {
		t.Error("serve with --tls-cert but no --tls-key: got exit 0")
	}
}

// f0 makes a data directory with a fresh CA and returns it.
func f0(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", d); code != 0 {
		t.Fatalf("ca init: exit %d\n%s%s", code, out, errOut)
	}
	return d
}

func TestCofferd_CertificateCurl(t *testing.T) {
	needBinaries(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		missingTool(t, "curl is not on PATH")
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		missingTool(t, "openssl is not on PATH")
	}
	t.Parallel()
	f := newTLSFixture(t)
	m := registerMember(t, f.e2eServer)
	purse := newPurse(t, f.e2eServer, m, "USD")

	// openssl makes the key and the request, naming someone else.
	keyFile, csrFile := filepath.Join(f.dir, "member.key"), filepath.Join(f.dir, "member.csr")
	if out, err := exec.Command(openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-subj", "/CN=whatever", "-keyout", keyFile, "-out", csrFile).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	csr, _ := os.ReadFile(csrFile)
	certFile := filepath.Join(f.dir, "member.crt")
	cert := f.requestCert(t, m, csr, certFile)

	// openssl agrees on what was issued.
	out, err := exec.Command(openssl, "x509", "-in", certFile, "-noout", "-subject", "-ext", "extendedKeyUsage,basicConstraints,keyUsage").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	for _, want := range []string{"CN = " + m.id, "TLS Web Client Authentication", "CA:FALSE", "Digital Signature"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl x509 of the certificate: got %s, want it to show %q", out, want)
		}
	}
	if bytes.Contains(out, []byte("whatever")) {
		t.Errorf("the certificate carries the requested subject: %s", out)
	}
	if out, err := exec.Command(openssl, "verify", "-CAfile", f.caFile, "-purpose", "sslclient", certFile).CombinedOutput(); err != nil {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}

	curlGet := func(args ...string) (status string, body []byte) {
		t.Helper()
		bf := filepath.Join(t.TempDir(), "body")
		all := append([]string{"-sS", "--cacert", f.caFile, "-o", bf, "-w", "%{http_code}"}, args...)
		out, err := exec.Command(curl, all...).Output()
		if err != nil {
			// A refused handshake is a failed request too.
			return "000", nil
		}
		body, _ = os.ReadFile(bf)
		return string(out), body
	}
	status, body := curlGet("--cert", certFile, "--key", keyFile, f.https+"/v1/purses")
	if status != "200" || !strings.Contains(string(body), purse) {
		t.Fatalf("curl --cert /v1/purses: got %s %s, want 200 with purse %s", status, body, purse)
	}
	// Plain HTTPS with a bearer token works on the same listener.
	if status, body := curlGet("-H", "Authorization: Bearer "+m.token, f.https+"/v1/purses"); status != "200" || !strings.Contains(string(body), purse) {
		t.Errorf("curl over HTTPS with a token: got %s %s, want 200", status, body)
	}
	if status, _ := curlGet(f.https + "/v1/purses"); status != "401" {
		t.Errorf("curl over HTTPS with no credential: got %s, want 401", status)
	}

	t.Run("BadRequests", func(t *testing.T) {
		rsaKey, rsaCSR := filepath.Join(f.dir, "rsa.key"), filepath.Join(f.dir, "rsa.csr")
		if out, err := exec.Command(openssl, "req", "-new", "-newkey", "rsa:1024", "-nodes", "-subj", "/CN=weak",
			"-keyout", rsaKey, "-out", rsaCSR).CombinedOutput(); err != nil {
			t.Fatalf("openssl req rsa:1024: %v\n%s", err, out)
		}
		weak, _ := os.ReadFile(rsaCSR)
		b, _ := pem.Decode(csr)
		der := bytes.Clone(b.Bytes)
		der[len(der)-4] ^= 0x40 // inside the signature
		tampered := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
		for name, c := range map[string]struct {
			csr  []byte
			code string
		}{"RSA-1024": {weak, "unsupported_key"}, "BadSignature": {tampered, "invalid_csr"}} {
			body, _ := json.Marshal(map[string]string{"csr": string(c.csr)})
			st, data, err := f.call("POST", "/v1/certificates", m.token, body)
			var p struct {
				Code string `json:"code"`
			}
			json.Unmarshal(data, &p)
			if err != nil || st != 400 || p.Code != c.code {
				t.Errorf("%s: got %d %s %v, want 400 %s", name, st, data, err, c.code)
			}
		}
		var l struct {
			Certificates []issued `json:"certificates"`
		}
		f.must(t, "GET", "/v1/certificates", m.token, nil, http.StatusOK, &l)
		if len(l.Certificates) != 1 {
			t.Errorf("certificates after refused requests: got %d, want 1", len(l.Certificates))
		}
	})

	t.Run("Refused", func(t *testing.T) {
		auth, err := ca.Load(filepath.Join(f.data, "ca"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		other, _ := ca.New(ca.ECDSAP256, "another CA", time.Now(), 0)
		now := time.Now()
		tmpl := func() *x509.Certificate {
			s, _ := ca.NewSerial()
			return ca.ClientTemplate(m.id, s, now, 24*time.Hour)
		}
		expired := tmpl()
		expired.NotBefore, expired.NotAfter = now.Add(-72*time.Hour), now.Add(-time.Hour)
		serverOnly := tmpl()
		serverOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, c := range []struct {
			name string
			auth *ca.Authority
			tmpl *x509.Certificate
			code string
		}{
			{"OtherCA", other, tmpl(), "certificate_invalid"},
			{"Expired", auth, expired, "certificate_expired"},
			{"NoClientAuth", auth, serverOnly, "certificate_invalid"},
		} {
			t.Run(c.name, func(t *testing.T) {
				cf, kf := f.writeKeyPair(t, c.name, c.auth, c.tmpl)
				status, body := curlGet("--cert", cf, "--key", kf, f.https+"/v1/purses")
				if status == "200" || strings.Contains(string(body), purse) {
					t.Fatalf("curl with %s: got %s %s, want a refusal", c.name, status, body)
				}
				// The server asks for certificates without requiring
				// them and judges them itself, so the refusal comes as a
				// problem document rather than a failed handshake.
				if status != "401" || !strings.Contains(string(body), `"code":"`+c.code+`"`) {
					t.Errorf("curl with %s: got %s %s, want 401 %s", c.name, status, body, c.code)
				}
			})
		}
	})

	t.Run("Revoked", func(t *testing.T) {
		f.must(t, "DELETE", "/v1/certificates/"+cert.CertificateID, m.token, nil, http.StatusNoContent, nil)
		status, body := curlGet("--cert", certFile, "--key", keyFile, f.https+"/v1/purses")
		if status != "401" || !strings.Contains(string(body), "certificate_revoked") {
			t.Errorf("curl with the revoked certificate: got %s %s, want 401 certificate_revoked", status, body)
		}
		kinds := strings.Join(f.securityEvents(t, m), " ")
		for _, k := range []string{"certificate.issued", "certificate.new_ip", "certificate.revoked"} {
			if !strings.Contains(kinds, k) {
				t.Errorf("security events %q, want %s", kinds, k)
			}
		}
	})
}

// TestCofferd_CertificateRevocationCutsConnections holds connections open
// with a certificate and revokes it from elsewhere.
func TestCofferd_CertificateRevocationCutsConnections(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	f := newTLSFixture(t)
	m := registerMember(t, f.e2eServer)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := client.NewCertificateRequest(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(f.dir, "m.crt"), filepath.Join(f.dir, "m.key")
	cert := f.requestCert(t, m, csr, certFile)
	keyPEM, _ := ca.EncodeKeyPEM(key)
	os.WriteFile(keyFile, keyPEM, 0o600)
	cfg, err := client.LoadTLSConfig(certFile, keyFile, f.caFile)
	if err != nil {
		t.Fatal(err)
	}

	// A raw HTTP/1.1 keep-alive connection, idle at the moment of revocation.
	raw := dialTLS(t, f.https, cfg)
	if st := raw.get(t, "/v1/purses"); st != 200 {
		t.Fatalf("raw connection: got %d, want 200", st)
	}
	// A pooled client connection (HTTP/2 when offered).
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() (int, bool, error) {
		var reused bool
		req, _ := http.NewRequest("GET", f.https+"/v1/purses", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, reused, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, reused, nil
	}
	if st, _, err := get(); st != 200 {
		t.Fatalf("pooled client: got %d %v, want 200", st, err)
	}
	if st, reused, err := get(); st != 200 || !reused {
		t.Fatalf("pooled client, second request: got %d reused=%v %v, want 200 on the same connection", st, reused, err)
	}

	f.must(t, "DELETE", "/v1/certificates/"+cert.CertificateID, m.token, nil, http.StatusNoContent, nil)

	if closed, err := raw.closedWithin(5 * time.Second); !closed {
		t.Errorf("raw keep-alive connection after revocation: still open (%v), want it closed by the server", err)
	}
	// The pooled connection is gone too, though the client may notice only
	// when it tries it (and then retries on a new one, whose handshake
	// works but whose request is refused).
	st, _, err := get()
	if st == 200 {
		t.Errorf("pooled client after revocation: got 200, want the request refused")
	}
	if err == nil && st != 401 {
		t.Errorf("pooled client after revocation: got %d, want 401", st)
	}
}

type tlsRaw struct {
	c *tls.Conn
	r *bufio.Reader
}

func dialTLS(t *testing.T, base string, cfg *tls.Config) *tlsRaw {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tlsRaw{c: c, r: bufio.NewReader(c)}
}

func (r *tlsRaw) get(t *testing.T, path string) int {
	t.Helper()
	fmt.Fprintf(r.c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path)
	resp, err := http.ReadResponse(r.r, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// closedWithin reports whether the peer closes the connection within d.
func (r *tlsRaw) closedWithin(d time.Duration) (bool, error) {
	r.c.SetReadDeadline(time.Now().Add(d))
	_, err := r.r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, err
	}
	return err != nil, err
}

// TestCoffer_Cert is the keeper's side: request a certificate with a
// session, then work with the certificate alone, then revoke it.
func TestCoffer_Cert(t *testing.T) {
	needBinaries(t)
	if cofferBin == "" {
		t.Skipf("the coffer keeper does not build: %s", tail(cofferBuildErr, 5))
	}
	t.Parallel()
	f := newTLSFixture(t)
	home := t.TempDir()
	keeper := func(wantCode int, config string, args ...string) string {
		t.Helper()
		var o, e bytes.Buffer
		cmd := exec.Command(cofferBin, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "COFFER_CONFIG="+config,
			"COFFER_PASSWORD="+e2ePassword, "COFFER_SERVER=", "COFFER_MEMBER=", "COFFER_CERT=", "COFFER_CERT_KEY=", "COFFER_CA=")
		cmd.Stdout, cmd.Stderr = &o, &e
		if code := exitCodeOf(cmd.Run()); code != wantCode {
			t.Fatalf("coffer %s: got exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, o.String(), e.String())
		}
		return o.String() + e.String()
	}
	config := filepath.Join(home, "config")
	m := regexp.MustCompile(`Your member ID: ([0-9]{12})`).FindStringSubmatch(keeper(0, config, "--server", f.url, "register"))
	if m == nil {
		t.Fatal("coffer register printed no member ID")
	}
	keeper(0, config, "--server", f.url, "purse", "new", "USD")
	var c struct {
		CertificateID string `json:"certificate_id"`
		CertFile      string `json:"cert_file"`
		KeyFile       string `json:"key_file"`
	}
	if err := json.Unmarshal([]byte(keeper(0, config, "--server", f.url, "--json", "cert", "request", "--out", filepath.Join(home, "certs"))), &c); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: got %v %v, want mode 0600", fi, err)
	}
	noSession := filepath.Join(home, "none")
	withCert := []string{"--server", f.https, "--cert", c.CertFile, "--cert-key", c.KeyFile, "--ca", f.caFile}
	if out := keeper(0, noSession, append(withCert, "purses")...); !strings.Contains(out, "USD") {
		t.Errorf("coffer --cert purses: got %q, want the USD purse", out)
	}
	keeper(0, config, "--server", f.url, "cert", "revoke", c.CertificateID)
	if out := keeper(1, noSession, append(withCert, "purses")...); !strings.Contains(out, "revoked") {
		t.Errorf("coffer --cert purses after revocation: got %q, want it to say revoked", out)
	}
}
