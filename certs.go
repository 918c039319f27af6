package coffer

import (
	"context"
	"time"
)

// Error codes of client-certificate authentication and issuance. A request
// that presents a certificate which fails any check is refused with one of
// the first four (HTTP 401); it never falls back to another credential.
const (
	ECERTREVOKED  = "certificate_revoked" // the certificate was revoked
	ECERTEXPIRED  = "certificate_expired" // outside its validity period
	ECERTUNKNOWN  = "certificate_unknown" // chains to the CA but was never issued (or is no longer on record)
	ECERTINVALID  = "certificate_invalid" // another CA, a CA certificate, or not for client authentication
	EINVALIDCSR   = "invalid_csr"         // not a PEM certificate request, or its signature does not verify
	EKEYREJECTED  = "unsupported_key"     // the request's key type or size is not accepted
	ECERTDISABLED = "certificates_disabled"
)

// Audit event kinds of client certificates.
const (
	AuditCertificateIssued  = "certificate.issued"
	AuditCertificateRevoked = "certificate.revoked"
	AuditCertificateNewIP   = "certificate.new_ip" // first use from an address not seen for it before
	AuditCAInitialized      = "admin.ca_initialized"
)

// Certificate is a personal client certificate issued to a member by the
// operator's certificate authority. Everything in it is public; the private
// key never reaches the server.
type Certificate struct {
	ID          string // certificate_id: random, names the certificate in the API
	MemberID    string
	Serial      string // lower-case hex of the X.509 serial number, no leading zeros
	Fingerprint string // lower-case hex SHA-256 of the DER encoding
	KeyType     string // e.g. "ECDSA P-256", "Ed25519", "RSA 3072"
	DER         []byte
	CreatedAt   time.Time
	NotBefore   time.Time
	NotAfter    time.Time
	RevokedAt   time.Time // zero while not revoked
}

// Revoked reports whether the certificate has been revoked.
func (c *Certificate) Revoked() bool { return !c.RevokedAt.IsZero() }

// Status is "revoked", "expired" or "active" at now.
func (c *Certificate) Status(now time.Time) string {
	switch {
	case c.Revoked():
		return "revoked"
	case !now.Before(c.NotAfter):
		return "expired"
	}
	return "active"
}

// ErrTooManyCertificates is the fact CreateCertificate reports when the
// member already holds the most active certificates allowed. The service
// words the answer.
var ErrTooManyCertificates = &Error{Code: ELIMITEXCEEDED, Message: "active certificate limit reached"}

// CertStore persists members' client certificates. (The operator's CA key
// lives in files in the data directory, not in the store.) Each method is
// one transaction; an audit event passed in commits with the change it
// describes, or not at all.
type CertStore interface {
	// CreateCertificate records an issued certificate and its audit event,
	// provided the member holds fewer than maxActive certificates that are
	// neither revoked nor expired at c.CreatedAt.
	// Errors: ELIMITEXCEEDED (ErrTooManyCertificates), ECONFLICT (ID,
	// serial or fingerprint taken).
	CreateCertificate(ctx context.Context, c *Certificate, maxActive int, audit *AuditEvent) error
	// CertificateBySerial returns the certificate with that serial, revoked
	// or not. Errors: ENOTFOUND.
	CertificateBySerial(ctx context.Context, serial string) (*Certificate, error)
	// Certificates lists a member's certificates, newest first.
	Certificates(ctx context.Context, memberID string) ([]*Certificate, error)
	// RevokeCertificate marks one of the member's certificates revoked at
	// at and records audit with it. Revoking a revoked certificate changes
	// nothing and records nothing; the returned certificate then carries
	// the first revocation time. Errors: ENOTFOUND (the member has no
	// certificate with that ID).
	RevokeCertificate(ctx context.Context, memberID, id string, at time.Time, audit *AuditEvent) (*Certificate, error)
	// NoteCertificateIP records that the certificate was used from ip. It
	// reports whether ip is new for the certificate, and only then records
	// audit with it.
	NoteCertificateIP(ctx context.Context, certID, ip string, at time.Time, audit *AuditEvent) (bool, error)
}
