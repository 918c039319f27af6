package httpapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ca"
)

// A TLS listener serving this API asks for client certificates without
// requiring them (tls.RequestClientCert) and leaves their verification to
// certAuth, so that a bad certificate is answered with a problem document
// that says what is wrong rather than a failed handshake. Install
// ConnContext and ConnState on its http.Server: they let
// certAuth verify a connection's chain once and let a revocation close the
// connections that carry the certificate.

// connKey is the context key of the connection a request arrived on.
type connKey struct{}

// connInfo is what the server knows about one client connection.
type connInfo struct {
	conn net.Conn
	once sync.Once
	verr error // VerifyClientChain's verdict on the connection's certificates
}

// ConnContext is for http.Server.ConnContext.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connInfo{conn: c})
}

// ConnState is for http.Server.ConnState: it forgets closed connections.
func (s *Server) ConnState(c net.Conn, state http.ConnState) {
	if state == http.StateClosed || state == http.StateHijacked {
		s.certConns.forget(c)
	}
}

// TLSConfig returns the server side TLS configuration for this API: TLS 1.2
// or newer (1.3 preferred by the handshake), forward-secret AEAD suites only
// for 1.2, and, when clientCAs is not nil, client certificates asked for
// but not required. clientCAs only names the acceptable issuers to clients:
// certAuth does the verification. The handshake still makes the client
// prove it holds the certificate's key.
func TLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if clientCAs != nil {
		cfg.ClientAuth = tls.RequestClientCert
		cfg.ClientCAs = clientCAs
	}
	return cfg
}

// connOf returns the connection r arrived on, when ConnContext is installed.
func connOf(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	return ci
}

// certAuth authenticates a TLS client certificate. A request without one is
// left to the other authenticators; a request with one that fails any check
// is refused, never passed on to them.
func (s *Server) certAuth(_ http.ResponseWriter, r *http.Request) (*Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, nil
	}
	chain := r.TLS.PeerCertificates
	ci := connOf(r)
	var err error
	if ci != nil {
		ci.once.Do(func() { ci.verr = s.svc.VerifyClientChain(chain) })
		err = ci.verr
	} else {
		err = s.svc.VerifyClientChain(chain)
	}
	if err != nil {
		return nil, err
	}
	// Tracked before the store is asked, so that a revocation committed
	// after that read still finds this connection to close.
	if ci != nil {
		s.certConns.track(ca.SerialHex(chain[0].SerialNumber), ci.conn)
	}
	c, err := s.svc.AuthenticateCertificate(r.Context(), chain[0], clientIP(r))
	if err != nil {
		return nil, err
	}
	return &Principal{MemberID: c.MemberID, Method: "certificate", CertID: c.ID}, nil
}

func (s *Server) certJSON(c *coffer.Certificate, p *Principal) map[string]any {
	j := map[string]any{"certificate_id": c.ID, "serial": c.Serial, "fingerprint": c.Fingerprint,
		"key_type": c.KeyType, "status": s.svc.CertificateStatus(c), "created_at": c.CreatedAt,
		"not_before": c.NotBefore, "not_after": c.NotAfter, "certificate": string(ca.EncodeCertPEM(c.DER)),
		"current": p.Method == "certificate" && p.CertID == c.ID}
	if c.Revoked() {
		j["revoked_at"] = c.RevokedAt
	}
	return j
}

func (s *Server) requestCertificate(w http.ResponseWriter, r *http.Request, p *Principal) error {
	// A certificate is a lasting credential, so only a password session
	// may ask for one: a stolen certificate or key cannot mint more. Once
	// confirmations exist, issuing one will require a confirmation too.
	if p.Method != "session" {
		return coffer.Errorf(coffer.EFORBIDDEN, "Certificates are issued only to a member logged in with a password (Authorization: Bearer <token>).")
	}
	var in struct {
		CSR string `json:"csr"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.CSR == "" {
		return coffer.Errorf(coffer.EINVALID, "csr is required: a PKCS #10 certificate request in PEM.")
	}
	c, err := s.svc.IssueCertificate(r.Context(), p.MemberID, in.CSR, clientIP(r), proof(r))
	if err != nil {
		return err
	}
	s.log.Info("certificate issued", "member", c.MemberID, "certificate_id", c.ID, "serial", c.Serial)
	return writeJSON(w, http.StatusCreated, s.certJSON(c, p))
}

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.Certificates(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		out = append(out, s.certJSON(c, p))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"certificates": out})
}

func (s *Server) revokeCertificate(w http.ResponseWriter, r *http.Request, p *Principal) error {
	c, err := s.svc.RevokeCertificate(r.Context(), p.MemberID, r.PathValue("certificate_id"), clientIP(r))
	if err != nil {
		return err
	}
	// Every other connection carrying the certificate is cut now. The one
	// this request came on, if it is one of them, is closed right after
	// the answer, so the member learns that the revocation took.
	var keep net.Conn
	if p.Method == "certificate" && p.CertID == c.ID {
		if ci := connOf(r); ci != nil {
			keep = ci.conn
		}
		w.Header().Set("Connection", "close")
	}
	n := s.certConns.closeSerial(c.Serial, keep)
	s.log.Info("certificate revoked", "member", c.MemberID, "certificate_id", c.ID, "closed_connections", n)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// connTracker knows which live connections carry which client
// certificate (by serial), so that revoking one can close them.
type connTracker struct {
	mu       sync.Mutex
	bySerial map[string]map[net.Conn]struct{}
	serialOf map[net.Conn]string
}

func newConnTracker() *connTracker {
	return &connTracker{bySerial: map[string]map[net.Conn]struct{}{}, serialOf: map[net.Conn]string{}}
}

// track notes that c carries the certificate with serial. A TLS
// connection's certificate never changes (the server allows no
// renegotiation), so the first serial is the only one.
func (t *connTracker) track(serial string, c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.serialOf[c]; ok {
		return
	}
	t.serialOf[c] = serial
	set := t.bySerial[serial]
	if set == nil {
		set = map[net.Conn]struct{}{}
		t.bySerial[serial] = set
	}
	set[c] = struct{}{}
}

// forget drops a closed connection.
func (t *connTracker) forget(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	serial, ok := t.serialOf[c]
	if !ok {
		return
	}
	delete(t.serialOf, c)
	delete(t.bySerial[serial], c)
	if len(t.bySerial[serial]) == 0 {
		delete(t.bySerial, serial)
	}
}

// closeSerial closes every connection carrying the certificate except keep
// and returns how many it closed. A TLS connection is cut at the transport,
// without a close_notify that could wait on a slow peer.
func (t *connTracker) closeSerial(serial string, keep net.Conn) int {
	t.mu.Lock()
	var conns []net.Conn
	for c := range t.bySerial[serial] {
		if c != keep {
			conns = append(conns, c)
			delete(t.serialOf, c)
			delete(t.bySerial[serial], c)
		}
	}
	if len(t.bySerial[serial]) == 0 {
		delete(t.bySerial, serial)
	}
	t.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*tls.Conn); ok {
			tc.NetConn().Close()
		} else {
			c.Close()
		}
	}
	return len(conns)
}
