package ca_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/ca"
)

func TestNew(t *testing.T) {
	now := time.Now()
	for _, kt := range []string{ca.ECDSAP256, ca.Ed25519} {
		t.Run(kt, func(t *testing.T) {
			a, err := ca.New(kt, "test CA", now, 0)
			if err != nil {
				t.Fatal(err)
			}
			c := a.Cert
			if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
				t.Errorf("basic constraints: CA %v, path length %d; want CA:true, pathlen 0", c.IsCA, c.MaxPathLen)
			}
			if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("key usage = %v, want keyCertSign|cRLSign", c.KeyUsage)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Errorf("not self-signed: %v", err)
			}
			if len(c.SubjectKeyId) == 0 {
				t.Error("no subject key ID")
			}
			if d := now.Add(ca.DefaultValidity).Sub(c.NotAfter); d < -time.Second || d > time.Second {
				t.Errorf("not after = %v, want %v", c.NotAfter, now.Add(ca.DefaultValidity))
			}
		})
	}
	if _, err := ca.New("rsa-512", "x", now, 0); err == nil {
		t.Error("New with an unknown key type: got no error")
	}
}

func TestAuthority_SaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "ca")
	a, err := ca.New(ca.ECDSAP256, "test CA", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"": 0o700, ca.CertFile: 0o644, ca.KeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("mode of %q: got %v %v, want %04o", name, fi.Mode().Perm(), err, want)
		}
	}
	keyBefore, _ := os.ReadFile(filepath.Join(dir, ca.KeyFile))

	b, err := ca.New(ca.ECDSAP256, "another", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(dir); !errors.Is(err, ca.ErrExists) {
		t.Fatalf("Save over an existing CA: got %v, want ErrExists", err)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(dir, ca.KeyFile)); string(keyAfter) != string(keyBefore) {
		t.Fatal("Save over an existing CA changed the key")
	}

	l, err := ca.Load(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !l.Cert.Equal(a.Cert) {
		t.Fatal("Load returned another certificate")
	}
	// The loaded key signs: a certificate it issues verifies.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, err := l.IssueClient(k.Public(), "123456789012", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignatureFrom(a.Cert); err != nil {
		t.Fatalf("issued by the loaded CA: %v", err)
	}

	if err := os.Chmod(filepath.Join(dir, ca.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Load(dir, time.Now()); err == nil || !strings.Contains(err.Error(), "readable by other users") {
		t.Fatalf("Load with a world-readable key: got %v, want a refusal", err)
	}
	if _, err := ca.Load(t.TempDir(), time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of an empty directory: got %v, want fs.ErrNotExist", err)
	}
}

func TestImport(t *testing.T) {
	now := time.Now()
	a, _ := ca.New(ca.ECDSAP256, "a", now, 0)
	b, _ := ca.New(ca.Ed25519, "b", now, 0)
	dir := t.TempDir()
	for _, x := range []struct {
		name string
		a    *ca.Authority
	}{{"a", a}, {"b", b}} {
		if err := x.a.Save(filepath.Join(dir, x.name)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name, file string) []byte {
		d, err := os.ReadFile(filepath.Join(dir, name, file))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	got, err := ca.Import(read("a", ca.CertFile), read("a", ca.KeyFile), now)
	if err != nil || !got.Cert.Equal(a.Cert) {
		t.Fatalf("Import of a CA: %v", err)
	}
	if _, err := ca.Import(read("a", ca.CertFile), read("b", ca.KeyFile), now); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("Import with another CA's key: got %v, want a refusal", err)
	}
	if _, err := ca.Import(read("a", ca.CertFile), read("a", ca.KeyFile), now.Add(11*365*24*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Import of an expired CA: got %v, want a refusal", err)
	}
	// A leaf certificate is no CA.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, _ := a.IssueClient(k.Public(), "123456789012", now, time.Hour)
	keyPEM, _ := ca.EncodeKeyPEM(k)
	if _, err := ca.Import(ca.EncodeCertPEM(leaf.Raw), keyPEM, now); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("Import of a leaf certificate: got %v, want a refusal", err)
	}
	if _, err := ca.Import([]byte("junk"), keyPEM, now); err == nil {
		t.Error("Import of junk: got no error")
	}
}

func TestCheckPublicKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, c := range []struct {
		name string
		pub  any
		want string // "" means refused
	}{
		{"P-256", p256.Public(), "ECDSA P-256"},
		{"P-384", p384.Public(), "ECDSA P-384"},
		{"P-521", p521.Public(), ""},
		{"Ed25519", ed, "Ed25519"},
		{"RSA-2048", r2048.Public(), "RSA 2048"},
		{"RSA-1024", r1024.Public(), ""},
		{"Other", "not a key", ""},
	} {
		got, err := ca.CheckPublicKey(c.pub)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestAuthority_IssueServer(t *testing.T) {
	a, _ := ca.New(ca.ECDSAP256, "a", time.Now(), 0)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, err := a.IssueServer(k.Public(), []string{"127.0.0.1", "localhost"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: a.Pool(), DNSName: "localhost"}); err != nil {
		t.Errorf("verify for localhost: %v", err)
	}
	if err := c.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("verify for 127.0.0.1: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a server certificate verified for client authentication")
	}
	// Nothing outlives the CA.
	long, err := a.IssueClient(k.Public(), "123456789012", time.Now(), 50*365*24*time.Hour)
	if err != nil || long.NotAfter.After(a.Cert.NotAfter) {
		t.Errorf("a certificate asked to outlive the CA ends %v, want no later than %v (%v)", long.NotAfter, a.Cert.NotAfter, err)
	}
}
