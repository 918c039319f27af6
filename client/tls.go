package client

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// LoadTLSConfig builds the TLS configuration for talking to a coffer
// server's HTTPS listener. certFile and keyFile, both PEM, are the member's
// client certificate and its private key; with them every request is
// authenticated as the member the certificate names, and no session token
// is needed. Both may be "" for plain HTTPS. caFile (PEM) holds the
// certificates that the server's certificate must chain to; "" means the
// system's roots.
func LoadTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case certFile != "" && keyFile != "":
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case certFile != "" || keyFile != "":
		return nil, errors.New("load client certificate: the certificate and its key go together")
	}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("load server CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("load server CA: %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// WithTLSConfig makes the client send its requests over its own HTTP
// transport with cfg (keep-alive, HTTP/2 when the server offers it) and a
// 30-second timeout. It replaces a WithHTTPClient given before it, and a
// later WithHTTPClient replaces it.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *Client) {
		if cfg == nil {
			return
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.Clone()
		tr.ForceAttemptHTTP2 = true
		c.hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
}

// CertificateMemberID returns the member ID a coffer client certificate
// names: its subject's common name.
func CertificateMemberID(cfg *tls.Config) (string, error) {
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return "", errors.New("no client certificate")
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); err != nil {
			return "", fmt.Errorf("parse client certificate: %w", err)
		}
	}
	return leaf.Subject.CommonName, nil
}

// NewCertificateRequest makes a PKCS #10 request in PEM, signed with key,
// to send to RequestCertificate. The server takes only its public key: the
// certificate it issues names the member whatever the request says.
func NewCertificateRequest(key crypto.Signer) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "coffer member"}}, key)
	if err != nil {
		return nil, fmt.Errorf("make certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
