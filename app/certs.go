package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ca"
)

// CertConfig configures members' personal client certificates.
type CertConfig struct {
	// Authority signs members' certificates; nil means this server issues
	// none (requests for one are refused with ECERTDISABLED).
	Authority *ca.Authority
	// ClientCAs are the roots a presented client certificate must chain
	// to; nil means the Authority's certificate alone.
	ClientCAs *x509.CertPool
	// Validity is how long an issued certificate is valid; 0 means one
	// year. It never outlasts the Authority's own certificate.
	Validity time.Duration
	// MaxActive bounds how many certificates a member may hold that are
	// neither revoked nor expired; 0 means 10.
	MaxActive int
}

// Defaults for CertConfig.
const (
	DefaultCertValidity  = 365 * 24 * time.Hour
	DefaultMaxActiveCert = 10
	// MaxCSRSize bounds the PEM text of a certificate request.
	MaxCSRSize = 16 << 10
)

// certCacheTTL bounds how long a certificate read from the store is trusted
// without reading it again. Revocations made through this process take
// effect at once (the entry is dropped); those made by another process
// within this time.
const certCacheTTL = 5 * time.Second

// certState is the Service's certificate machinery; its zero value is ready.
type certState struct {
	once  sync.Once
	cfg   CertConfig
	roots *x509.CertPool

	mu       sync.Mutex
	bySerial map[string]cachedCert
	gen      uint64              // counts revocations, so a read that raced one is not cached
	seenIP   map[string]struct{} // certificate ID + " " + IP, already in the store
}

type cachedCert struct {
	c  *coffer.Certificate
	at time.Time
}

// certs returns the certificate state with the configuration's defaults
// applied.
func (s *Service) certs() *certState {
	st := &s.cert
	st.once.Do(func() {
		st.cfg = s.cfg.Certs
		if st.cfg.Validity <= 0 {
			st.cfg.Validity = DefaultCertValidity
		}
		if st.cfg.MaxActive <= 0 {
			st.cfg.MaxActive = DefaultMaxActiveCert
		}
		st.roots = st.cfg.ClientCAs
		if st.roots == nil && st.cfg.Authority != nil {
			st.roots = st.cfg.Authority.Pool()
		}
		st.bySerial = map[string]cachedCert{}
		st.seenIP = map[string]struct{}{}
	})
	return st
}

// AcceptsClientCertificates reports whether any client certificate could
// authenticate here.
func (s *Service) AcceptsClientCertificates() bool { return s.certs().roots != nil }

func newCertID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IssueCertificate signs a client certificate for the member from a PKCS #10
// request in PEM. Only the request's public key is used: its subject,
// alternative names and extensions are ignored, and the certificate names
// the member ID (see ca.ClientTemplate). The request's signature must
// verify, proving the member holds the private key.
// proof is the step-up proof (Coffer-Confirmation) a member with a second
// factor needs.
// Errors: ECERTDISABLED, EINVALIDCSR, EKEYREJECTED, ELIMITEXCEEDED,
// ECONFIRMATIONREQUIRED.
func (s *Service) IssueCertificate(ctx context.Context, memberID, csrPEM, ip, proof string) (*coffer.Certificate, error) {
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionIssueCert, Summary: "issue a client certificate", Values: strings.TrimSpace(csrPEM)}, proof); err != nil {
		return nil, err
	}
	st := s.certs()
	auth := st.cfg.Authority
	now := s.now()
	if auth == nil {
		return nil, coffer.Errorf(coffer.ECERTDISABLED, "This server does not issue certificates: its operator has not set up a certificate authority.")
	}
	if !now.Before(auth.Cert.NotAfter) {
		return nil, coffer.Errorf(coffer.ECERTDISABLED, "This server's certificate authority has expired; it issues no certificates until the operator renews it.")
	}
	csr, keyType, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	x, err := auth.IssueClient(csr.PublicKey, memberID, now, st.cfg.Validity)
	if err != nil {
		return nil, err
	}
	c := &coffer.Certificate{ID: newCertID(), MemberID: memberID, Serial: ca.SerialHex(x.SerialNumber),
		Fingerprint: ca.Fingerprint(x.Raw), KeyType: keyType, DER: x.Raw,
		CreatedAt: now.Truncate(time.Millisecond), NotBefore: x.NotBefore.UTC(), NotAfter: x.NotAfter.UTC()}
	ev := coffer.NewAuditEvent(now, coffer.AuditCertificateIssued, memberID, map[string]any{
		"certificate_id": c.ID, "serial": c.Serial, "fingerprint": c.Fingerprint, "key_type": keyType,
		"not_after": c.NotAfter.Format(time.RFC3339), "ip": ip})
	if err := s.store.CreateCertificate(ctx, c, st.cfg.MaxActive, ev); err != nil {
		if errors.Is(err, coffer.ErrTooManyCertificates) {
			return nil, &coffer.Error{Code: coffer.ELIMITEXCEEDED, Err: err,
				Message: fmt.Sprintf("You already hold %d active certificates, the most allowed; revoke one first.", st.cfg.MaxActive)}
		}
		return nil, err
	}
	return c, nil
}

// parseCSR reads exactly one PEM certificate request, checks its key against
// the policy and its signature, and returns it with the key's description.
func parseCSR(text string) (*x509.CertificateRequest, string, error) {
	if len(text) > MaxCSRSize {
		return nil, "", coffer.Errorf(coffer.EINVALIDCSR, "csr is larger than %d bytes.", MaxCSRSize)
	}
	b, rest := pem.Decode([]byte(text))
	if b == nil || (b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST") {
		return nil, "", coffer.Errorf(coffer.EINVALIDCSR, "csr must be a PKCS #10 request in PEM, starting with -----BEGIN CERTIFICATE REQUEST-----.")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", coffer.Errorf(coffer.EINVALIDCSR, "csr must hold exactly one PEM block and nothing after it.")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, "", &coffer.Error{Code: coffer.EINVALIDCSR, Message: "csr is not a valid PKCS #10 certificate request.", Err: err}
	}
	// The key is judged before the signature, so that a key too weak to
	// verify with is named as the problem.
	keyType, err := ca.CheckPublicKey(csr.PublicKey)
	if err != nil {
		return nil, "", &coffer.Error{Code: coffer.EKEYREJECTED, Message: err.Error() + ".", Err: err}
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", &coffer.Error{Code: coffer.EINVALIDCSR, Message: "The certificate request's signature does not verify with its public key.", Err: err}
	}
	return csr, keyType, nil
}

// Certificates lists the member's certificates, newest first.
func (s *Service) Certificates(ctx context.Context, memberID string) ([]*coffer.Certificate, error) {
	return s.store.Certificates(ctx, memberID)
}

// RevokeCertificate revokes one of the member's certificates. From then on
// no request with it is accepted by this process; the caller closes the
// connections that carry it. Revoking a revoked certificate changes
// nothing. Errors: ENOTFOUND.
func (s *Service) RevokeCertificate(ctx context.Context, memberID, id, ip string) (*coffer.Certificate, error) {
	now := s.now()
	ev := coffer.NewAuditEvent(now, coffer.AuditCertificateRevoked, memberID, map[string]any{"certificate_id": id, "ip": ip})
	c, err := s.store.RevokeCertificate(ctx, memberID, id, now, ev)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, &coffer.Error{Code: coffer.ENOTFOUND, Message: "You have no such certificate.", Err: err}
	} else if err != nil {
		return nil, err
	}
	st := s.certs()
	st.mu.Lock()
	delete(st.bySerial, c.Serial)
	st.gen++
	st.mu.Unlock()
	return c, nil
}

var (
	errCertInvalid = coffer.Errorf(coffer.ECERTINVALID, "The client certificate was not issued for client authentication by this server's certificate authority.")
	errCertExpired = coffer.Errorf(coffer.ECERTEXPIRED, "The client certificate has expired (or is not valid yet); request a new one.")
	errCertUnknown = coffer.Errorf(coffer.ECERTUNKNOWN, "The client certificate is not one this server issued to a member.")
	errCertRevoked = coffer.Errorf(coffer.ECERTREVOKED, "The client certificate has been revoked.")
)

// VerifyClientChain checks the certificates a TLS client presented, leaf
// first: the leaf must chain to the client CAs, be valid now, be no CA and
// carry the clientAuth extended key usage. It does not consult the store;
// AuthenticateCertificate does. Errors: ECERTINVALID, ECERTEXPIRED.
func (s *Service) VerifyClientChain(chain []*x509.Certificate) error {
	st := s.certs()
	if len(chain) == 0 || st.roots == nil {
		return errCertInvalid
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: st.roots, Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return &coffer.Error{Code: errCertExpired.Code, Message: errCertExpired.Message, Err: err}
	case err != nil:
		return &coffer.Error{Code: errCertInvalid.Code, Message: errCertInvalid.Message, Err: err}
	}
	// x509 treats a certificate without extended key usages as good for
	// any; coffer's carry clientAuth explicitly and sign nothing else.
	if leaf.IsCA || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) ||
		leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errCertInvalid
	}
	return nil
}

// AuthenticateCertificate finds the member a verified client certificate
// (see VerifyClientChain) was issued to, and checks that it is on record
// with the same fingerprint, not revoked and not expired. The first use from
// an address not seen before for the certificate is audited.
// Errors: ECERTUNKNOWN, ECERTREVOKED, ECERTEXPIRED.
func (s *Service) AuthenticateCertificate(ctx context.Context, leaf *x509.Certificate, ip string) (*coffer.Certificate, error) {
	st := s.certs()
	now := s.now()
	serial := ca.SerialHex(leaf.SerialNumber)
	st.mu.Lock()
	cc, ok := st.bySerial[serial]
	st.mu.Unlock()
	c := cc.c
	if !ok || now.Sub(cc.at) >= certCacheTTL || now.Before(cc.at) {
		st.mu.Lock()
		gen := st.gen
		st.mu.Unlock()
		var err error
		c, err = s.store.CertificateBySerial(ctx, serial)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, errCertUnknown
		} else if err != nil {
			return nil, err
		}
		st.mu.Lock()
		if st.gen == gen {
			if len(st.bySerial) >= 10000 {
				clear(st.bySerial) // bound memory; the store is the truth
			}
			st.bySerial[serial] = cachedCert{c: c, at: now}
		}
		st.mu.Unlock()
	}
	switch {
	case c.Fingerprint != ca.Fingerprint(leaf.Raw):
		return nil, errCertUnknown
	case c.Revoked():
		return nil, errCertRevoked
	case !now.Before(c.NotAfter) || now.Before(c.NotBefore):
		return nil, errCertExpired
	}
	s.noteCertIP(ctx, c, ip, now)
	return c, nil
}

// noteCertIP records the certificate's use from ip once per process; the
// store says whether the address is new for it and audits it if so. A
// failure is logged, not returned: it must not lock the member out.
func (s *Service) noteCertIP(ctx context.Context, c *coffer.Certificate, ip string, now time.Time) {
	st := s.certs()
	key := c.ID + " " + ip
	st.mu.Lock()
	_, seen := st.seenIP[key]
	st.mu.Unlock()
	if seen {
		return
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditCertificateNewIP, c.MemberID, map[string]any{
		"certificate_id": c.ID, "serial": c.Serial, "ip": ip})
	if _, err := s.store.NoteCertificateIP(ctx, c.ID, ip, now, ev); err != nil {
		s.log.Warn("note certificate address", "certificate_id", c.ID, "err", err)
		return
	}
	st.mu.Lock()
	if len(st.seenIP) >= 100000 {
		clear(st.seenIP)
	}
	st.seenIP[key] = struct{}{}
	st.mu.Unlock()
}

// CertificateStatus is c's status ("active", "revoked" or "expired") by the
// service's clock.
func (s *Service) CertificateStatus(c *coffer.Certificate) string { return c.Status(s.now()) }
