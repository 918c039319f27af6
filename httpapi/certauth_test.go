package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ca"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// newCertEnv is newEnv on a TLS listener that asks for client certificates,
// with the service issuing them from a fresh CA (none when noCA).
func newCertEnv(t *testing.T, maxActive int, noCA bool) (*env, *ca.Authority) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	auth, err := ca.New(ca.ECDSAP256, "test CA", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	certs := app.CertConfig{Authority: auth, MaxActive: maxActive}
	if noCA {
		certs = app.CertConfig{ClientCAs: auth.Pool()}
	}
	metrics := httpapi.NewMetrics()
	engine := ledger.New(db, log, ledger.Config{Observer: ledger.Observer{Batch: metrics.Batch, Outcome: metrics.Outcome}})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Certs: certs})
	api := httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true})
	srv := httptest.NewUnstartedServer(api)
	srv.TLS = httpapi.TLSConfig(tls.Certificate{}, auth.Pool())
	srv.TLS.Certificates = nil // StartTLS puts in its own
	srv.Config.ConnContext = api.ConnContext
	srv.Config.ConnState = api.ConnState
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &env{t: t, srv: srv, db: db, clock: clk}, auth
}

// certClient returns an HTTPS client of e that presents pair.
func (e *env) certClient(t *testing.T, pair tls.Certificate) *http.Client {
	t.Helper()
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = present(pair)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// present sends pair whatever issuers the server names as acceptable (Go's
// client would otherwise keep a certificate of another CA to itself, where
// curl sends it anyway).
func present(pair tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
}

// certDo sends a request with hc, with a bearer token when token is not "".
func (e *env) certDo(t *testing.T, hc *http.Client, method, path, token string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(fmt.Sprint(body))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// certJSON is a certificate as the API shows it.
type certJSON struct {
	CertificateID string    `json:"certificate_id"`
	Serial        string    `json:"serial"`
	Fingerprint   string    `json:"fingerprint"`
	KeyType       string    `json:"key_type"`
	Status        string    `json:"status"`
	Certificate   string    `json:"certificate"`
	NotAfter      time.Time `json:"not_after"`
	RevokedAt     time.Time `json:"revoked_at"`
	Current       bool      `json:"current"`
}

func csrPEM(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) string {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "someone else"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func p256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue asks the API for a certificate for key and returns it with a TLS
// key pair to present.
func (e *env) issue(t *testing.T, m *member, key crypto.Signer) (certJSON, tls.Certificate) {
	t.Helper()
	a := e.request(t, "POST", "/v1/certificates", m.token, map[string]string{"csr": csrPEM(t, key, nil)})
	wantStatus(t, a, http.StatusCreated)
	var c certJSON
	a.decode(t, &c)
	b, _ := pem.Decode([]byte(c.Certificate))
	if b == nil {
		t.Fatalf("issued certificate %q is not PEM", c.Certificate)
	}
	return c, tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: key}
}

// pairFrom makes a TLS key pair of a certificate made directly by auth.
func pairFrom(t *testing.T, auth *ca.Authority, tmpl *x509.Certificate, key crypto.Signer) tls.Certificate {
	t.Helper()
	c, err := auth.Issue(tmpl, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key}
}

func (e *env) certCount(t *testing.T, m *member) int {
	t.Helper()
	a := e.request(t, "GET", "/v1/certificates", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var l struct {
		Certificates []certJSON `json:"certificates"`
	}
	a.decode(t, &l)
	return len(l.Certificates)
}

func (e *env) eventKinds(t *testing.T, m *member) []string {
	t.Helper()
	a := e.request(t, "GET", "/v1/security/events", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var ev struct {
		Events []struct {
			Kind string `json:"kind"`
		} `json:"events"`
	}
	a.decode(t, &ev)
	var out []string
	for _, x := range ev.Events {
		out = append(out, x.Kind)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestServer_CertificateIssue(t *testing.T) {
	e, auth := newCertEnv(t, 0, false)
	m := e.register(t, "")
	purse := e.newPurse(t, m, "USD")

	t.Run("IgnoresWhatTheRequestAsks", func(t *testing.T) {
		key := p256(t)
		// The request asks for another name, alternative names and CA
		// powers; none of it may reach the certificate.
		bc, _ := asn1.Marshal(struct {
			IsCA bool `asn1:"optional"`
		}{true})
		csr := csrPEM(t, key, &x509.CertificateRequest{
			Subject:         pkix.Name{CommonName: "000000000001", Organization: []string{"Evil"}},
			DNSNames:        []string{"coffer.example"},
			EmailAddresses:  []string{"x@example.org"},
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}},
		})
		before := time.Now()
		a := e.request(t, "POST", "/v1/certificates", m.token, map[string]string{"csr": csr})
		wantStatus(t, a, http.StatusCreated)
		var c certJSON
		a.decode(t, &c)
		b, _ := pem.Decode([]byte(c.Certificate))
		x, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if x.Subject.CommonName != m.id || len(x.Subject.Organization) != 1 || x.Subject.Organization[0] != "coffer member" {
			t.Errorf("subject = %q, want CN=%s O=coffer member", x.Subject, m.id)
		}
		if len(x.DNSNames)+len(x.EmailAddresses)+len(x.IPAddresses)+len(x.URIs) != 0 {
			t.Errorf("alternative names %v %v, want none", x.DNSNames, x.EmailAddresses)
		}
		if x.IsCA || !x.BasicConstraintsValid {
			t.Errorf("basic constraints: CA %v valid %v, want CA:false present", x.IsCA, x.BasicConstraintsValid)
		}
		if x.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("key usage = %v, want digitalSignature only", x.KeyUsage)
		}
		if len(x.ExtKeyUsage) != 1 || x.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || len(x.UnknownExtKeyUsage) != 0 {
			t.Errorf("extended key usage = %v, want clientAuth only", x.ExtKeyUsage)
		}
		if !bytes.Equal(x.AuthorityKeyId, auth.Cert.SubjectKeyId) || len(x.AuthorityKeyId) == 0 {
			t.Errorf("authority key ID = %x, want the CA's %x", x.AuthorityKeyId, auth.Cert.SubjectKeyId)
		}
		if err := x.CheckSignatureFrom(auth.Cert); err != nil {
			t.Errorf("not signed by the CA: %v", err)
		}
		if x.SerialNumber.BitLen() != 128 || c.Serial != x.SerialNumber.Text(16) {
			t.Errorf("serial %s (%d bits), answer %q; want a 128-bit serial in hex", x.SerialNumber, x.SerialNumber.BitLen(), c.Serial)
		}
		if fp := sha256.Sum256(x.Raw); c.Fingerprint != hex.EncodeToString(fp[:]) {
			t.Errorf("fingerprint = %q, want the SHA-256 of the certificate", c.Fingerprint)
		}
		if d := before.Add(-5 * time.Minute).Sub(x.NotBefore); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("not before = %v, want about 5 minutes ago", x.NotBefore)
		}
		if d := before.Add(365 * 24 * time.Hour).Sub(x.NotAfter); d < -2*time.Second || d > 2*time.Second || !c.NotAfter.Equal(x.NotAfter) {
			t.Errorf("not after = %v (answer %v), want a year from now", x.NotAfter, c.NotAfter)
		}
		if c.Status != "active" || c.KeyType != "ECDSA P-256" || c.CertificateID == "" {
			t.Errorf("answer %s, want an active ECDSA P-256 certificate with an ID", a)
		}
	})

	t.Run("KeyTypes", func(t *testing.T) {
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
		p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		// Go refuses to make RSA keys below 1024 bits, and 1024 is already
		// too weak for coffer.
		rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			key    crypto.Signer
			status int
			code   string
			kind   string
		}{
			{"P-384", p384, 201, "", "ECDSA P-384"},
			{"Ed25519", ed, 201, "", "Ed25519"},
			{"RSA-2048", rsa2048, 201, "", "RSA 2048"},
			{"P-224", p224, 400, "unsupported_key", ""},
			{"RSA-1024", rsa1024, 400, "unsupported_key", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				n := e.certCount(t, m)
				a := e.request(t, "POST", "/v1/certificates", m.token, map[string]string{"csr": csrPEM(t, c.key, nil)})
				if c.status != 201 {
					wantProblem(t, a, c.status, c.code)
					if got := e.certCount(t, m); got != n {
						t.Errorf("certificates after a refusal: got %d, want %d", got, n)
					}
					return
				}
				wantStatus(t, a, c.status)
				var j certJSON
				a.decode(t, &j)
				if j.KeyType != c.kind {
					t.Errorf("key_type = %q, want %q", j.KeyType, c.kind)
				}
			})
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		good := csrPEM(t, p256(t), nil)
		b, _ := pem.Decode([]byte(good))
		// Flip a bit of the signature, which is at the end of the DER.
		bad := bytes.Clone(b.Bytes)
		bad[len(bad)-3] ^= 0x01
		tampered := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: bad}))
		// A request whose signature is by another key than the one in it.
		other := p256(t)
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}
		der, _ := x509.CreateCertificateRequest(rand.Reader, tmpl, other)
		req, _ := x509.ParseCertificateRequest(der)
		swapped := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST",
			Bytes: replacePublicKey(t, req, p256(t))}))
		n := e.certCount(t, m)
		events := len(e.eventKinds(t, m))
		for _, c := range []struct {
			name, body, code, detail string
		}{
			{"TamperedSignature", jsonCSR(tampered), "invalid_csr", "signature"},
			{"KeyOfAnother", jsonCSR(swapped), "invalid_csr", "signature"},
			{"NotPEM", jsonCSR("hello"), "invalid_csr", ""},
			{"Certificate", jsonCSR(string(auth.CertPEM())), "invalid_csr", ""},
			{"TwoRequests", jsonCSR(good + good), "invalid_csr", ""},
			{"Trailing", jsonCSR(good + "more"), "invalid_csr", ""},
			{"GarbageDER", jsonCSR(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}))), "invalid_csr", ""},
			{"Empty", `{"csr":""}`, "invalid_request", ""},
			{"Missing", `{}`, "invalid_request", ""},
			{"UnknownField", `{"csr":"x","subject":"CN=me"}`, "invalid_request", ""},
			{"NotAnObject", `["csr"]`, "invalid_request", ""},
			{"Number", `{"csr":42}`, "invalid_request", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := wantProblem(t, e.request(t, "POST", "/v1/certificates", m.token, c.body), http.StatusBadRequest, c.code)
				if !strings.Contains(p.Detail, c.detail) {
					t.Errorf("detail %q, want it to mention %q", p.Detail, c.detail)
				}
			})
		}
		if got := e.certCount(t, m); got != n {
			t.Errorf("certificates after bad requests: got %d, want %d", got, n)
		}
		if got := len(e.eventKinds(t, m)); got != events {
			t.Errorf("security events after bad requests: got %d, want %d", got, events)
		}
	})

	t.Run("NeedsLogin", func(t *testing.T) {
		wantProblem(t, e.request(t, "POST", "/v1/certificates", "", map[string]string{"csr": csrPEM(t, p256(t), nil)}), 401, "unauthorized")
		wantProblem(t, e.request(t, "GET", "/v1/certificates", "", nil), 401, "unauthorized")
		wantProblem(t, e.request(t, "DELETE", "/v1/certificates/x", "", nil), 401, "unauthorized")
	})

	t.Run("AuthenticatesTheMember", func(t *testing.T) {
		c, pair := e.issue(t, m, p256(t))
		hc := e.certClient(t, pair)
		a := e.certDo(t, hc, "GET", "/v1/purses", "", nil)
		wantStatus(t, a, http.StatusOK)
		if !strings.Contains(string(a.Body), purse) {
			t.Errorf("purses with the certificate: got %s, want member %s's purse %s", a, m.id, purse)
		}
		a = e.certDo(t, hc, "GET", "/v1/certificates", "", nil)
		var l struct {
			Certificates []certJSON `json:"certificates"`
		}
		a.decode(t, &l)
		current := ""
		for _, x := range l.Certificates {
			if x.Current {
				current = x.CertificateID
			}
		}
		if current != c.CertificateID {
			t.Errorf("current certificate in the list: got %q, want %q", current, c.CertificateID)
		}
		// A certificate cannot mint more certificates.
		wantProblem(t, e.certDo(t, hc, "POST", "/v1/certificates", "", jsonCSR(csrPEM(t, p256(t), nil))), http.StatusForbidden, "forbidden")
		// Bearer tokens still work on the TLS listener.
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), http.StatusOK)
		kinds := e.eventKinds(t, m)
		if count(kinds, "certificate.issued") == 0 || count(kinds, "certificate.new_ip") != 1 {
			t.Errorf("security events %v, want certificate.issued and one certificate.new_ip", kinds)
		}
	})
}

func jsonCSR(s string) string {
	return `{"csr":` + fmt.Sprintf("%q", s) + `}`
}

// replacePublicKey re-encodes req with key's public key but req's original
// signature, which then no longer matches.
func replacePublicKey(t *testing.T, req *x509.CertificateRequest, key crypto.Signer) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var outer struct {
		Info asn1.RawValue
		Alg  asn1.RawValue
		Sig  asn1.BitString
	}
	if _, err := asn1.Unmarshal(req.Raw, &outer); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Version int
		Subject asn1.RawValue
		SPKI    asn1.RawValue
		Attrs   asn1.RawValue `asn1:"tag:0"`
	}
	if _, err := asn1.Unmarshal(outer.Info.FullBytes, &info); err != nil {
		t.Fatal(err)
	}
	info.SPKI = asn1.RawValue{FullBytes: spki}
	newInfo, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	outer.Info = asn1.RawValue{FullBytes: newInfo}
	out, err := asn1.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServer_CertificateRefused(t *testing.T) {
	e, auth := newCertEnv(t, 0, false)
	m := e.register(t, "")
	other, err := ca.New(ca.ECDSAP256, "another CA", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	serial := func() *x509.Certificate {
		s, _ := ca.NewSerial()
		return ca.ClientTemplate(m.id, s, now, 24*time.Hour)
	}
	expired := serial()
	expired.NotBefore, expired.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	serverUse := serial()
	serverUse.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	noEKU := serial()
	noEKU.ExtKeyUsage = nil
	caKey := p256(t)
	subCA := serial()
	subCA.IsCA, subCA.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	for _, c := range []struct {
		name string
		pair tls.Certificate
		code string
	}{
		{"OtherCA", pairFrom(t, other, serial(), p256(t)), "certificate_invalid"},
		{"ServerAuthOnly", pairFrom(t, auth, serverUse, p256(t)), "certificate_invalid"},
		{"NoExtendedKeyUsage", pairFrom(t, auth, noEKU, p256(t)), "certificate_invalid"},
		{"CACertificate", pairFrom(t, auth, subCA, caKey), "certificate_invalid"},
		{"Expired", pairFrom(t, auth, expired, p256(t)), "certificate_expired"},
		// Right CA and usage, but never issued through the API.
		{"NotOnRecord", pairFrom(t, auth, serial(), p256(t)), "certificate_unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hc := e.certClient(t, c.pair)
			wantProblem(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), http.StatusUnauthorized, c.code)
			// A valid session token beside a bad certificate does not
			// rescue the request.
			wantProblem(t, e.certDo(t, hc, "GET", "/v1/purses", m.token, nil), http.StatusUnauthorized, c.code)
		})
	}

	t.Run("ExpiresWhileInUse", func(t *testing.T) {
		_, pair := e.issue(t, m, p256(t))
		hc := e.certClient(t, pair)
		wantStatus(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), http.StatusOK)
		e.clock.Advance(366 * 24 * time.Hour)
		defer e.clock.Advance(-366 * 24 * time.Hour)
		wantProblem(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), http.StatusUnauthorized, "certificate_expired")
	})

	t.Run("Disabled", func(t *testing.T) {
		e, _ := newCertEnv(t, 0, true)
		m := e.register(t, "")
		wantProblem(t, e.request(t, "POST", "/v1/certificates", m.token, map[string]string{"csr": csrPEM(t, p256(t), nil)}),
			http.StatusForbidden, "certificates_disabled")
	})
}

func TestServer_CertificateLimit(t *testing.T) {
	e, _ := newCertEnv(t, 2, false)
	m := e.register(t, "")
	first, _ := e.issue(t, m, p256(t))
	e.issue(t, m, p256(t))
	wantProblem(t, e.request(t, "POST", "/v1/certificates", m.token, map[string]string{"csr": csrPEM(t, p256(t), nil)}),
		http.StatusUnprocessableEntity, "limit_exceeded")
	wantStatus(t, e.request(t, "DELETE", "/v1/certificates/"+first.CertificateID, m.token, nil), http.StatusNoContent)
	e.issue(t, m, p256(t))
	// The limit is per member.
	e.issue(t, e.register(t, ""), p256(t))
}

// rawConn is one HTTP/1.1 keep-alive connection presenting a certificate.
type rawConn struct {
	c *tls.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, e *env, pair tls.Certificate) *rawConn {
	t.Helper()
	cfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.GetClientCertificate = present(pair)
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", e.srv.Listener.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) do(t *testing.T, method, path string) *http.Response {
	t.Helper()
	fmt.Fprintf(rc.c, "%s %s HTTP/1.1\r\nHost: coffer\r\n\r\n", method, path)
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedWithin reports whether the server closes the connection within d
// without being sent anything.
func (rc *rawConn) closedWithin(d time.Duration) (bool, error) {
	rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := rc.r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, err
	}
	return err != nil, err
}

func TestServer_CertificateRevoke(t *testing.T) {
	e, _ := newCertEnv(t, 0, false)
	m := e.register(t, "")
	intruder := e.register(t, "")
	c, pair := e.issue(t, m, p256(t))

	// Two live keep-alive connections carry the certificate.
	live := dialRaw(t, e, pair)
	if r := live.do(t, "GET", "/v1/purses"); r.StatusCode != 200 {
		t.Fatalf("GET /v1/purses with the certificate: got %d, want 200", r.StatusCode)
	}
	hc := e.certClient(t, pair)
	wantStatus(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), http.StatusOK)

	// Another member can neither see nor revoke it.
	wantProblem(t, e.request(t, "DELETE", "/v1/certificates/"+c.CertificateID, intruder.token, nil), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "DELETE", "/v1/certificates/nonexistent", m.token, nil), http.StatusNotFound, "not_found")
	if r := live.do(t, "GET", "/v1/purses"); r.StatusCode != 200 {
		t.Fatalf("after a refused revocation: got %d, want 200", r.StatusCode)
	}

	wantStatus(t, e.request(t, "DELETE", "/v1/certificates/"+c.CertificateID, m.token, nil), http.StatusNoContent)
	if closed, err := live.closedWithin(5 * time.Second); !closed {
		t.Fatalf("live connection after revocation: still open (%v), want it closed", err)
	}
	// The pooled connection was cut too; a new one is refused.
	wantProblem(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), http.StatusUnauthorized, "certificate_revoked")
	// Revoking again changes nothing.
	wantStatus(t, e.request(t, "DELETE", "/v1/certificates/"+c.CertificateID, m.token, nil), http.StatusNoContent)
	a := e.request(t, "GET", "/v1/certificates", m.token, nil)
	var l struct {
		Certificates []certJSON `json:"certificates"`
	}
	a.decode(t, &l)
	if len(l.Certificates) != 1 || l.Certificates[0].Status != "revoked" || l.Certificates[0].RevokedAt.IsZero() {
		t.Errorf("list after revocation: got %s, want one revoked certificate", a)
	}
	kinds := e.eventKinds(t, m)
	if count(kinds, "certificate.revoked") != 1 || count(kinds, "certificate.issued") != 1 || count(kinds, "certificate.new_ip") != 1 {
		t.Errorf("security events %v, want one each of certificate.issued, certificate.new_ip, certificate.revoked", kinds)
	}
	if k := e.eventKinds(t, intruder); count(k, "certificate.revoked") != 0 {
		t.Errorf("the intruder's events %v, want no revocation", k)
	}

	t.Run("WithItself", func(t *testing.T) {
		c, pair := e.issue(t, m, p256(t))
		other := dialRaw(t, e, pair)
		if r := other.do(t, "GET", "/v1/purses"); r.StatusCode != 200 {
			t.Fatalf("GET with the certificate: got %d, want 200", r.StatusCode)
		}
		self := dialRaw(t, e, pair)
		r := self.do(t, "DELETE", "/v1/certificates/"+c.CertificateID)
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("revoking the certificate with itself: got %d, want 204", r.StatusCode)
		}
		for name, rc := range map[string]*rawConn{"this": self, "the other": other} {
			if closed, err := rc.closedWithin(5 * time.Second); !closed {
				t.Errorf("%s connection after revocation: still open (%v), want it closed", name, err)
			}
		}
	})
}
