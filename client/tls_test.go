package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA and a client certificate it issued, in files.
type testPKI struct {
	ca                *x509.Certificate
	certFile, keyFile string
}

func newTestPKI(t *testing.T, member string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: member},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{ca: caCert, certFile: filepath.Join(dir, "member.crt"), keyFile: filepath.Join(dir, "member.key")}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return p
}

// writePEM writes a certificate to a file and returns its name.
func writePEM(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadTLSConfig(t *testing.T) {
	p := newTestPKI(t, "123456789012")
	other := newTestPKI(t, "210987654321")
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte("not PEM"), 0o644)
	for _, c := range []struct {
		name                     string
		cert, key, ca            string
		wantErr, wantCertificate bool
	}{
		{"Nothing", "", "", "", false, false},
		{"CertAndKey", p.certFile, p.keyFile, "", false, true},
		{"CertOnly", p.certFile, "", "", true, false},
		{"KeyOnly", "", p.keyFile, "", true, false},
		{"KeyOfAnother", p.certFile, other.keyFile, "", true, false},
		{"MissingFile", p.certFile + ".nope", p.keyFile, "", true, false},
		{"CAJunk", "", "", junk, true, false},
		{"CAMissing", "", "", junk + ".nope", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadTLSConfig(c.cert, c.key, c.ca)
			if (err != nil) != c.wantErr {
				t.Fatalf("got error %v, want error %v", err, c.wantErr)
			}
			if err == nil && (len(cfg.Certificates) == 1) != c.wantCertificate {
				t.Fatalf("got %d certificates, want one: %v", len(cfg.Certificates), c.wantCertificate)
			}
			if err == nil && cfg.MinVersion < tls.VersionTLS12 {
				t.Errorf("MinVersion = %x, want at least TLS 1.2", cfg.MinVersion)
			}
		})
	}
	cfg, _ := LoadTLSConfig(p.certFile, p.keyFile, "")
	if id, err := CertificateMemberID(cfg); err != nil || id != "123456789012" {
		t.Errorf("CertificateMemberID = %q, %v; want 123456789012", id, err)
	}
	if _, err := CertificateMemberID(&tls.Config{}); err == nil {
		t.Error("CertificateMemberID without a certificate: got no error")
	}
}

func TestWithTLSConfig(t *testing.T) {
	p := newTestPKI(t, "123456789012")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			problem(w, 400, "invalid_request", "Bad Request", "no token expected")
			return
		}
		writeJSON(w, 200, map[string]any{"purses": []map[string]string{{"purse": "Z" + r.TLS.PeerCertificates[0].Subject.CommonName}}})
	}))
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA := writePEM(t, srv.Certificate())

	cfg, err := LoadTLSConfig(p.certFile, p.keyFile, serverCA)
	if err != nil {
		t.Fatal(err)
	}
	c := New(srv.URL, WithTLSConfig(cfg))
	list, err := c.Purses(context.Background())
	if err != nil || len(list) != 1 || list[0].Purse != "Z123456789012" {
		t.Fatalf("Purses with the client certificate: got %+v, %v", list, err)
	}
	// Without the server's CA the server is not trusted.
	cfg, _ = LoadTLSConfig(p.certFile, p.keyFile, "")
	if _, err := New(srv.URL, WithTLSConfig(cfg), WithRetry(1, 0, 0)).Purses(context.Background()); err == nil {
		t.Error("Purses without trusting the server: got no error")
	}
	// Without a client certificate the server refuses the handshake.
	cfg, _ = LoadTLSConfig("", "", serverCA)
	if _, err := New(srv.URL, WithTLSConfig(cfg)).Purses(context.Background()); err == nil {
		t.Error("Purses without a client certificate: got no error")
	}
}

func TestNewCertificateRequest(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	data, err := NewCertificateRequest(key)
	if err != nil {
		t.Fatal(err)
	}
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE REQUEST" || len(rest) != 0 {
		t.Fatalf("got %q, want one CERTIFICATE REQUEST block", data)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil || !key.PublicKey.Equal(csr.PublicKey) {
		t.Fatalf("request: signature %v, key matches %v", err, key.PublicKey.Equal(csr.PublicKey))
	}
}

func TestClient_Certificates(t *testing.T) {
	ctx := context.Background()
	var got []string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath())
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/certificates":
			var in map[string]string
			json.NewDecoder(r.Body).Decode(&in)
			if in["csr"] == "bad" {
				problem(w, 400, "invalid_csr", "Bad Request", "csr is not a valid PKCS #10 certificate request.")
				return
			}
			writeJSON(w, 201, map[string]any{"certificate_id": "c1", "serial": "80ab", "certificate": "PEM", "status": "active",
				"not_after": "2030-01-02T03:04:05Z", "fingerprint": "ff"})
		case "GET /v1/certificates":
			writeJSON(w, 200, map[string]any{"certificates": []map[string]any{{"certificate_id": "c1", "status": "revoked",
				"revoked_at": "2029-01-01T00:00:00Z", "current": true}}})
		case "DELETE /v1/certificates/c1":
			w.WriteHeader(204)
		default:
			problem(w, 404, "not_found", "Not Found", "You have no such certificate.")
		}
	}), WithToken("cft_x"))
	cert, err := c.RequestCertificate(ctx, []byte("csr"))
	if err != nil || cert.CertificateID != "c1" || cert.Serial != "80ab" || cert.NotAfter.Year() != 2030 {
		t.Fatalf("RequestCertificate = %+v, %v", cert, err)
	}
	if _, err := c.RequestCertificate(ctx, []byte("bad")); !IsCode(err, "invalid_csr") {
		t.Errorf("RequestCertificate(bad): got %v, want invalid_csr", err)
	}
	list, err := c.Certificates(ctx)
	if err != nil || len(list) != 1 || !list[0].Current || list[0].RevokedAt.IsZero() {
		t.Errorf("Certificates = %+v, %v", list, err)
	}
	if err := c.RevokeCertificate(ctx, "c1"); err != nil {
		t.Errorf("RevokeCertificate: %v", err)
	}
	if err := c.RevokeCertificate(ctx, "a/../b"); !IsCode(err, "not_found") {
		t.Errorf("RevokeCertificate(a/../b): got %v, want not_found", err)
	}
	if err := c.RevokeCertificate(ctx, ".."); err == nil {
		t.Error("RevokeCertificate(..): got no error")
	}
	if want := "DELETE /v1/certificates/a%2F..%2Fb"; got[len(got)-1] != want {
		t.Errorf("last request %q, want %q (the ID stays one path segment)", got[len(got)-1], want)
	}
}
