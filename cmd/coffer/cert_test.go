package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	service "github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ca"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// realServer is the real API in-process: plain HTTP for sessions, HTTPS
// asking for client certificates, both on one store.
type realServer struct {
	plain, tls *httptest.Server
	serverCA   string // file trusting the HTTPS listener's certificate
}

func newRealServer(t *testing.T) *realServer {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := ca.New(ca.ECDSAP256, "test CA", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	metrics := httpapi.NewMetrics()
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	svc := service.New(db, engine, log, service.Config{Certs: service.CertConfig{Authority: auth},
		Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}})
	api := httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true})
	s := &realServer{plain: httptest.NewServer(api), tls: httptest.NewUnstartedServer(api)}
	s.tls.TLS = httpapi.TLSConfig(tls.Certificate{}, auth.Pool())
	s.tls.TLS.Certificates = nil // StartTLS puts in its own
	s.tls.Config.ConnContext, s.tls.Config.ConnState = api.ConnContext, api.ConnState
	s.tls.StartTLS()
	t.Cleanup(func() {
		s.plain.Close()
		s.tls.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	s.serverCA = filepath.Join(t.TempDir(), "server-ca.crt")
	if err := os.WriteFile(s.serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.tls.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// keeperRun runs the keeper with args and the given config directory.
func keeperRun(t *testing.T, config string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"COFFER_PASSWORD": testPassword}
	err := run(context.Background(), append([]string{"--config", config}, args...), strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	code := report(err, &errb)
	return result{out.String(), errb.String(), code}
}

func TestRun_Cert(t *testing.T) {
	s := newRealServer(t)
	config := filepath.Join(t.TempDir(), "coffer")
	ok := func(args ...string) string {
		t.Helper()
		r := keeperRun(t, config, args...)
		if r.code != 0 {
			t.Fatalf("coffer %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}
	m := regexp.MustCompile(`Your member ID: (\d{12})`).FindStringSubmatch(ok("--server", s.plain.URL, "register"))
	if m == nil {
		t.Fatal("register printed no member ID")
	}
	member := m[1]

	out := filepath.Join(t.TempDir(), "certs")
	var issued struct {
		CertificateID string `json:"certificate_id"`
		CertFile      string `json:"cert_file"`
		KeyFile       string `json:"key_file"`
	}
	if err := json.Unmarshal([]byte(ok("--server", s.plain.URL, "--json", "cert", "request", "--out", out)), &issued); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(issued.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: got %v %v, want mode 0600", issued.KeyFile, fi, err)
	}
	data, err := os.ReadFile(issued.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("certificate file %s is not PEM", issued.CertFile)
	}
	x, err := x509.ParseCertificate(b.Bytes)
	if err != nil || x.Subject.CommonName != member {
		t.Fatalf("certificate file: %v, subject %v; want CN=%s", err, x.Subject, member)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(out, ".key-*")); len(leftovers) != 0 {
		t.Errorf("temporary key files left behind: %v", leftovers)
	}

	// With the certificate, and a config directory holding no session.
	empty := filepath.Join(t.TempDir(), "empty")
	withCert := []string{"--server", s.tls.URL, "--cert", issued.CertFile, "--cert-key", issued.KeyFile, "--ca", s.serverCA}
	certRun := func(args ...string) result {
		t.Helper()
		return keeperRun(t, empty, append(append([]string{}, withCert...), args...)...)
	}
	if r := certRun("purses"); r.code != 0 || !strings.Contains(r.stdout, "No purses yet") {
		t.Fatalf("coffer --cert purses: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := certRun("cert", "list"); r.code != 0 || !regexp.MustCompile(`\*\s+`+issued.CertificateID+`\s+active`).MatchString(r.stdout) {
		t.Errorf("coffer --cert cert list: exit %d, stdout %q, want the current certificate marked", r.code, r.stdout)
	}
	if r := certRun("cert", "request", "--out", out); r.code != 1 || !strings.Contains(r.stderr, "password session") {
		t.Errorf("coffer --cert cert request: exit %d, stderr %q; want a refusal naming the password session", r.code, r.stderr)
	}

	if got := ok("--server", s.plain.URL, "cert", "revoke", issued.CertificateID); !strings.Contains(got, "revoked") {
		t.Errorf("cert revoke: got %q", got)
	}
	if r := certRun("purses"); r.code != 1 || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("coffer --cert purses after revocation: exit %d, stderr %q; want exit 1 saying revoked", r.code, r.stderr)
	}
	if got := ok("--server", s.plain.URL, "cert", "list"); !strings.Contains(got, "revoked") {
		t.Errorf("cert list after revocation: got %q", got)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"CertWithoutKey", []string{"--server", s.tls.URL, "--cert", issued.CertFile, "purses"}, 2, "go together"},
		{"PlainServer", []string{"--server", s.plain.URL, "--cert", issued.CertFile, "--cert-key", issued.KeyFile, "purses"}, 2, "https"},
		{"NoServer", []string{"--cert", issued.CertFile, "--cert-key", issued.KeyFile, "purses"}, 2, "--server"},
		{"OtherMember", append(append([]string{}, withCert...), "--as", "000000000001", "purses"), 2, "does not match"},
		{"NoSubcommand", []string{"cert"}, 2, "missing argument"},
		{"RevokeWithoutID", []string{"cert", "revoke"}, 2, "want"},
		{"Unknown", []string{"cert", "renew"}, 2, "want"},
		{"UnknownCertificate", []string{"--server", s.plain.URL, "cert", "revoke", "nope"}, 1, "no such certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := keeperRun(t, config, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("coffer %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
			}
		})
	}
}
