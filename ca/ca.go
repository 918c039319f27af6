// Package ca is the operator's certificate authority: it makes or imports
// the CA key pair, keeps it in a directory (the certificate world-readable,
// the key mode 0600 in a directory of mode 0700), and signs members' client
// certificates and, for development, server certificates. It knows nothing
// of members, HTTP or storage; the policy of what to sign for whom is the
// caller's.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// File names inside a CA directory.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// Key types for New and GenerateKey.
const (
	ECDSAP256 = "ecdsa-p256"
	Ed25519   = "ed25519"
)

// DefaultValidity is how long a new CA certificate is valid.
const DefaultValidity = 10 * 365 * 24 * time.Hour

// ErrExists is returned by Save when the directory already holds a CA.
var ErrExists = errors.New("a certificate authority already exists there")

// Authority is a CA certificate with its private key.
type Authority struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// GenerateKey makes a private key of the given type (ECDSAP256 or Ed25519).
func GenerateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q (want %s or %s)", keyType, ECDSAP256, Ed25519)
}

// New makes a self-signed CA: a fresh key of keyType, CA:true with path
// length 0, key usage keyCertSign and cRLSign, valid from now-5min for
// validity (DefaultValidity when 0).
func New(keyType, commonName string, now time.Time, validity time.Duration) (*Authority, error) {
	if validity <= 0 {
		validity = DefaultValidity
	}
	key, err := GenerateKey(keyType)
	if err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"coffer"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	// x509 fills SubjectKeyId of a CA from its key, so issued certificates
	// get a matching AuthorityKeyId.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("ca: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse certificate: %w", err)
	}
	return &Authority{Cert: cert, key: key}, nil
}

// Import makes an Authority of an existing CA certificate and its key, both
// PEM. The certificate must be a CA allowed to sign certificates, valid at
// now, and the key must be its own.
func Import(certPEM, keyPEM []byte, now time.Time) (*Authority, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	a := &Authority{Cert: cert, key: key}
	if err := a.check(now); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Authority) check(now time.Time) error {
	c := a.Cert
	if !c.BasicConstraintsValid || !c.IsCA {
		return errors.New("the certificate is not a CA certificate (basic constraints CA:true missing)")
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("the CA certificate's key usage does not allow signing certificates (keyCertSign)")
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("the CA certificate expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	if !samePublicKey(a.key.Public(), c.PublicKey) {
		return errors.New("the private key does not belong to the CA certificate")
	}
	return nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// Pool returns a certificate pool holding just the CA certificate.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Cert)
	return p
}

// CertPEM returns the CA certificate as PEM.
func (a *Authority) CertPEM() []byte { return EncodeCertPEM(a.Cert.Raw) }

// Load reads the CA in dir. It refuses a key file that other users may
// read. A missing CA yields an error that satisfies errors.Is(err,
// fs.ErrNotExist).
func Load(dir string, now time.Time) (*Authority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	kp := filepath.Join(dir, KeyFile)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(kp)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("ca: %s is readable by other users (mode %04o); run 'chmod 600 %s'", kp, fi.Mode().Perm(), kp)
		}
	}
	keyPEM, err := os.ReadFile(kp)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", filepath.Join(dir, CertFile), err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", kp, err)
	}
	a := &Authority{Cert: cert, key: key}
	if err := a.check(now); err != nil {
		return nil, fmt.Errorf("ca: %s: %w", dir, err)
	}
	return a, nil
}

// Save writes the CA into dir (created with mode 0700): the certificate
// with mode 0644 and the key with mode 0600. It never overwrites: when
// either file exists it returns ErrExists and changes nothing.
func (a *Authority) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("ca: %w", err)
		}
	}
	cp, kp := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	for _, p := range []string{cp, kp} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("ca: %s: %w", p, ErrExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ca: %w", err)
		}
	}
	keyPEM, err := EncodeKeyPEM(a.key)
	if err != nil {
		return err
	}
	if err := WriteNewFile(kp, keyPEM, 0o600); err != nil {
		return err
	}
	if err := WriteNewFile(cp, a.CertPEM(), 0o644); err != nil {
		os.Remove(kp)
		return err
	}
	return nil
}

// WriteNewFile writes data to a file that must not exist yet, with mode
// perm from the moment it is created, and syncs it. On failure it leaves
// no file behind.
func WriteNewFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, ErrExists)
	}
	if err != nil {
		return err
	}
	// The umask may have narrowed perm; never widened it. Set it exactly.
	if runtime.GOOS != "windows" {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// NewSerial returns a random positive 128-bit serial number.
func NewSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("ca: serial: %w", err)
	}
	// The top bit is set so that every serial has the same length (and
	// none is zero); the other 127 bits are random.
	b[0] |= 0x80
	return new(big.Int).SetBytes(b), nil
}

// SerialHex is the form serials take in the store and the API: lower-case
// hex without leading zeros.
func SerialHex(n *big.Int) string { return n.Text(16) }

// Fingerprint is the lower-case hex SHA-256 of a certificate's DER.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// ClientTemplate is the client certificate coffer issues to a member: the
// member ID as common name, key usage digitalSignature, extended key usage
// clientAuth only, CA:false. Nothing else, whatever was asked for.
func ClientTemplate(memberID string, serial *big.Int, now time.Time, validity time.Duration) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: memberID, Organization: []string{"coffer member"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
}

// Issue signs a certificate for pub from tmpl. The validity is cut to end no
// later than the CA's own. It is the low-level door: callers choose every
// field of tmpl (tests use it to make expired or wrong-usage certificates).
func (a *Authority) Issue(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	if tmpl.NotAfter.After(a.Cert.NotAfter) {
		t := *tmpl
		t.NotAfter = a.Cert.NotAfter
		tmpl = &t
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("ca: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse issued certificate: %w", err)
	}
	return cert, nil
}

// IssueClient signs a member's client certificate (see ClientTemplate) with
// a fresh random serial.
func (a *Authority) IssueClient(pub crypto.PublicKey, memberID string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	return a.Issue(ClientTemplate(memberID, serial, now, validity), pub)
}

// IssueServer signs a TLS server certificate for hosts (IP addresses or DNS
// names), with extended key usage serverAuth only.
func (a *Authority) IssueServer(pub crypto.PublicKey, hosts []string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("ca: a server certificate needs at least one host")
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return a.Issue(tmpl, pub)
}

// CheckPublicKey says whether coffer accepts pub in a client certificate:
// ECDSA P-256 or P-384, Ed25519, or RSA of 2048 to 8192 bits. It returns a
// sentence fit for the member otherwise, and the key's type and size.
func CheckPublicKey(pub crypto.PublicKey) (keyType string, err error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ECDSA P-256", nil
		case elliptic.P384():
			return "ECDSA P-384", nil
		}
		return "", fmt.Errorf("ECDSA keys must use curve P-256 or P-384, not %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "Ed25519", nil
	case *rsa.PublicKey:
		n := k.N.BitLen()
		if n < 2048 {
			return "", fmt.Errorf("RSA keys must have at least 2048 bits; this one has %d", n)
		}
		if n > 8192 {
			return "", fmt.Errorf("RSA keys must have at most 8192 bits; this one has %d", n)
		}
		return fmt.Sprintf("RSA %d", n), nil
	}
	return "", fmt.Errorf("the key type %T is not accepted; use ECDSA P-256 or P-384, Ed25519, or RSA of at least 2048 bits", pub)
}

// EncodeCertPEM wraps DER in a CERTIFICATE PEM block.
func EncodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// EncodeKeyPEM encodes a private key as an unencrypted PKCS #8 PEM block.
func EncodeKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCertificatePEM reads the first CERTIFICATE block.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block found")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

// ParseKeyPEM reads an unencrypted private key: PKCS #8 ("PRIVATE KEY"),
// SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY").
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block found")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; decrypt it first (e.g. openssl pkey -in KEY -out PLAIN)")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
}
