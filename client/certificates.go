package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Certificate is one of the member's personal client certificates. Status
// is "active", "revoked" or "expired". Certificate is the PEM text.
type Certificate struct {
	CertificateID string    `json:"certificate_id"`
	Serial        string    `json:"serial"`
	Fingerprint   string    `json:"fingerprint"`
	KeyType       string    `json:"key_type"`
	Status        string    `json:"status"`
	Certificate   string    `json:"certificate"`
	CreatedAt     time.Time `json:"created_at"`
	NotBefore     time.Time `json:"not_before"`
	NotAfter      time.Time `json:"not_after"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	// Current is true for the certificate that authenticated the request.
	Current bool `json:"current"`
}

// RequestCertificate sends a certificate request (PEM, see
// NewCertificateRequest) and returns the certificate the server issued.
// It needs a session token: the server issues certificates only to a
// member logged in with a password.
// Codes: unauthorized, forbidden, invalid_request, invalid_csr,
// unsupported_key, limit_exceeded, certificates_disabled.
func (c *Client) RequestCertificate(ctx context.Context, csrPEM []byte) (*Certificate, error) {
	var out Certificate
	body := struct {
		CSR string `json:"csr"`
	}{string(csrPEM)}
	if _, err := c.do(ctx, http.MethodPost, "/v1/certificates", nil, body, &out); err != nil {
		return nil, fmt.Errorf("request certificate: %w", err)
	}
	if out.CertificateID == "" || out.Certificate == "" {
		return nil, fmt.Errorf("request certificate: %w", errNoBody)
	}
	return &out, nil
}

// Certificates lists the member's certificates, newest first, revoked and
// expired ones included. Codes: unauthorized.
func (c *Client) Certificates(ctx context.Context) ([]Certificate, error) {
	var out struct {
		Certificates []Certificate `json:"certificates"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/certificates", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	return out.Certificates, nil
}

// RevokeCertificate revokes one of the member's certificates. The server
// refuses it from then on and closes the connections that carry it.
// Codes: unauthorized, not_found.
func (c *Client) RevokeCertificate(ctx context.Context, certificateID string) error {
	if err := need("certificate ID", certificateID); err != nil {
		return fmt.Errorf("revoke certificate: %w", err)
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/certificates/"+seg(certificateID), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke certificate %s: %w", certificateID, err)
	}
	return nil
}
