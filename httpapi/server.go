// Package httpapi serves coffer's REST API under /v1, with a liveness
// (/healthz) and a readiness (/readyz) endpoint. Its metrics are served
// apart (Metrics.Handler), on a listener of their own that members do not
// reach.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/forwarded"
)

// MaxBody bounds every request body but a mass payment's.
const MaxBody = 64 << 10

// MaxBatchBody bounds the body of POST /v1/transfers/batch: up to
// coffer.MaxBatchTransfers transfers with descriptions of full length.
const MaxBatchBody = 2 << 20

// bodyLimit is the bound of r's body.
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/transfers/batch" {
		return MaxBatchBody
	}
	if r.Method == http.MethodPost && r.URL.Path == "/v1/verification/documents" {
		return app.MaxDocumentBytes // the upload is checked again by the handler
	}
	return MaxBody
}

// Config holds the HTTP layer's tunables.
type Config struct {
	// NoLoginIPLimit turns off the per-IP login bucket (load tests only;
	// the per-login throttle stays).
	NoLoginIPLimit bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client's address (for throttles, limits and allowed IP ranges); nil
	// believes no one's, and the client is the connection's peer.
	TrustedProxies *forwarded.Trusted
	// Ready is the store's write probe behind GET /readyz; nil answers
	// ready whenever the process serves.
	Ready Readier
}

// Server is the HTTP front of the application.
type Server struct {
	svc     *app.Service
	log     *slog.Logger
	cfg     Config
	metrics *Metrics
	handler http.Handler

	authenticators []authenticator
	certConns      *connTracker // connections per client certificate; see certauth.go
	ready          *readiness   // GET /readyz; nil without Config.Ready
}

// New builds the handler tree. reg receives the metrics.
func New(svc *app.Service, log *slog.Logger, m *Metrics, cfg Config) *Server {
	s := &Server{svc: svc, log: log, cfg: cfg, metrics: m}
	if cfg.NoLoginIPLimit {
		svc.Throttle.IPRate, svc.Throttle.IPBurst = 1e9, 1e9
	}
	if cfg.Ready != nil {
		s.ready = &readiness{store: cfg.Ready, now: time.Now}
	}
	s.authenticators = []authenticator{s.certAuth, s.signatureAuth, s.bearerAuth}
	s.certConns = newConnTracker()
	s.handler = s.routes()
	return s
}

// ServeHTTP implements http.Handler. Behind a trusted proxy the request's
// RemoteAddr is the client's.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, s.cfg.TrustedProxies.Request(r))
}

// handler is an API endpoint: it returns an error instead of writing one.
type handler func(w http.ResponseWriter, r *http.Request, p *Principal) error

// routeAdder registers an endpoint; auth says whether it needs a member.
type routeAdder func(pattern string, auth bool, h handler)

// routes is the whole route table: every endpoint of the API, public (no
// member needed) or member (authenticated), is registered here.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := s.openAPIRoutes(mux, func(pattern string, auth bool, h handler) {
		mux.Handle(pattern, s.wrap(pattern, auth, h))
	}) // GET /openapi.json; records the route table
	public := func(pattern string, h handler) { handle(pattern, false, h) }
	member := func(pattern string, h handler) { handle(pattern, true, h) }
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", s.serveReady)

	// Members and sessions (server.go, confirm.go).
	public("POST /v1/members", s.register)
	public("POST /v1/sessions", s.login)
	public("POST /v1/sessions/{challenge_id}/confirm", s.confirmLogin)
	member("GET /v1/sessions", s.listSessions)
	member("DELETE /v1/sessions/current", s.logout)
	member("DELETE /v1/sessions/{session_id}", s.revokeSession)

	// Purses and transfers (server.go, confirm.go, payments.go).
	member("GET /v1/currencies", s.currencies)
	member("GET /v1/purses", s.listPurses)
	member("POST /v1/purses", s.createPurse)
	member("GET /v1/purses/{purse}", s.getPurse)
	member("GET /v1/purses/{purse}/history", s.history)
	member("GET /v1/purses/{purse}/owner", s.owner)
	member("GET /v1/purses/{purse}/statement", s.statement)
	member("POST /v1/transfers", s.transfer)
	member("GET /v1/transfers/{transfer_id}", s.getTransfer)
	member("POST /v1/transfers/{transfer_id}/confirm", s.confirmTransfer)

	// Payment forms: quotes, batches, protection, refunds, invoices,
	// trusts (payments.go).
	member("POST /v1/transfers/quote", s.quote)
	member("POST /v1/transfers/batch", s.batch)
	member("GET /v1/transfers/held", s.held)
	member("POST /v1/transfers/{transfer_id}/release", s.release)
	member("POST /v1/transfers/{transfer_id}/refuse", s.refuseHeld)
	member("GET /v1/fees", s.fees)
	member("POST /v1/refunds", s.refund)
	member("POST /v1/invoices", s.createInvoice)
	member("GET /v1/invoices", s.listInvoices)
	member("GET /v1/invoices/{invoice_id}", s.getInvoice)
	member("POST /v1/invoices/{invoice_id}/pay", s.payInvoice)
	member("POST /v1/invoices/{invoice_id}/refuse", s.endInvoice(false))
	member("POST /v1/invoices/{invoice_id}/cancel", s.endInvoice(true))
	member("POST /v1/trusts", s.grantTrust)
	member("GET /v1/trusts", s.listTrusts)
	member("DELETE /v1/trusts/{trust_id}", s.revokeTrust)

	// Signing keys (sigauth.go) and client certificates (certauth.go).
	member("GET /v1/keys", s.listKeys)
	member("POST /v1/keys", s.addKey)
	member("GET /v1/keys/{key_id}", s.getKey)
	member("PATCH /v1/keys/{key_id}", s.renameKey)
	member("DELETE /v1/keys/{key_id}", s.revokeKey)
	member("POST /v1/certificates", s.requestCertificate)
	member("GET /v1/certificates", s.listCertificates)
	member("DELETE /v1/certificates/{certificate_id}", s.revokeCertificate)

	// Security: events, factors, confirmation policy (confirm.go),
	// password (password.go), settings, IP ranges, limits (settings.go).
	member("GET /v1/security/events", s.securityEvents)
	member("GET /v1/security/factors", s.factors)
	member("GET /v1/security/confirmation", s.getPolicy)
	member("PUT /v1/security/confirmation", s.putPolicy)
	member("POST /v1/security/phone", s.addPhone)
	member("POST /v1/security/phone/verify", s.verifyPhone)
	member("DELETE /v1/security/phone", s.removeFactor(coffer.FactorPhone))
	member("POST /v1/security/totp", s.enrolTOTP)
	member("POST /v1/security/totp/verify", s.verifyTOTP)
	member("DELETE /v1/security/totp", s.removeFactor(coffer.FactorGenerator))
	member("POST /v1/security/recovery-codes", s.recoveryCodes)
	member("PUT /v1/security/password", s.changePassword)
	member("GET /v1/security/settings", s.getSettings)
	member("GET /v1/security/ip-ranges", s.getIPRanges)
	member("PUT /v1/security/ip-ranges", s.putIPRanges)
	public("POST /v1/security/ip-ranges/unblock", s.unblock)
	member("PUT /v1/security/new-device", s.putNewDevice)
	member("GET /v1/security/notifications", s.getNotifications)
	member("PUT /v1/security/notifications", s.putNotifications)
	member("GET /v1/purses/{purse}/limits", s.getLimits)
	member("PUT /v1/purses/{purse}/limits", s.putLimits)

	// Verification and the registrar's desk (verification.go). Registrar
	// endpoints answer 404 to anyone who does not hold the role, like a
	// path that does not exist.
	member("POST /v1/verification/documents", s.uploadDocument)
	member("POST /v1/verification", s.submitVerification)
	member("GET /v1/verification", s.myVerification)
	member("GET /v1/registrar/requests", s.registrarQueue)
	member("GET /v1/registrar/requests/{id}", s.registrarRequest)
	member("GET /v1/registrar/documents/{id}", s.registrarDocument)
	member("POST /v1/registrar/requests/{id}/approve", s.registrarApprove)
	member("POST /v1/registrar/requests/{id}/reject", s.registrarReject)
	member("POST /v1/registrar/members/{member_id}/level", s.registrarLevel)
	member("POST /v1/registrar/persons", s.registrarLink)

	// Profiles, member views, disclosure, data checks, contacts, export
	// and closing of an account (privacy.go, privacy_export.go).
	member("GET /v1/profile", s.getProfile)
	member("PUT /v1/profile", s.putProfile)
	member("GET /v1/profile/visibility", s.getVisibility)
	member("PUT /v1/profile/visibility", s.putVisibility)
	member("GET /v1/members/{member_id}", s.viewMember)
	member("POST /v1/members/{member_id}/check", s.checkData)
	member("POST /v1/members/{member_id}/disclosure-requests", s.requestDisclosure)
	member("GET /v1/disclosure-requests", s.listDisclosures)
	member("POST /v1/disclosure-requests/{request_id}/grant", s.grantDisclosure)
	member("POST /v1/disclosure-requests/{request_id}/refuse", s.refuseDisclosure)
	member("POST /v1/disclosure-requests/{request_id}/revoke", s.revokeDisclosure)
	member("GET /v1/contacts", s.listContacts)
	member("POST /v1/contacts", s.addContact)
	member("DELETE /v1/contacts/{member_id}", s.removeContact)
	member("PUT /v1/contacts/restriction", s.putRestriction)
	member("GET /v1/account/export", s.exportAccount)
	member("POST /v1/account/close", s.closeAccount)

	// Integrations: webhooks (webhooks.go) and the merchant's side of
	// hosted checkout (checkout.go; the buyer's side is the web's /pay).
	member("POST /v1/webhooks", s.createWebhook)
	member("GET /v1/webhooks", s.listWebhooks)
	member("DELETE /v1/webhooks/{webhook_id}", s.deleteWebhook)
	member("GET /v1/webhooks/{webhook_id}/deliveries", s.listDeliveries)
	member("POST /v1/checkout/secret", s.createCheckoutSecret)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			accesslog.SetRoute(r.Context(), "unmatched")
			// No route: let the mux say whether the path exists under
			// another method (405 with Allow) and answer as a problem.
			rec := &captureWriter{h: http.Header{}}
			mux.ServeHTTP(rec, r)
			switch rec.status {
			case http.StatusMethodNotAllowed:
				w.Header().Set("Allow", rec.h.Get("Allow"))
				writeError(w, r, s.log, coffer.Errorf("method_not_allowed", "%s is not allowed here; allowed: %s.", r.Method, rec.h.Get("Allow")))
			case http.StatusNotFound:
				writeError(w, r, s.log, coffer.Errorf(coffer.ENOTFOUND, "There is no such endpoint."))
			default: // a redirect to a cleaned path
				for k, v := range rec.h {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.status)
			}
			s.metrics.observe("unmatched", rec.status, 0)
			return
		}
		accesslog.SetRoute(r.Context(), pattern)
		mux.ServeHTTP(w, r)
	})
}

// captureWriter records what the mux would answer for an unmatched request.
type captureWriter struct {
	h      http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.h }
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

// wrap adds authentication, error handling, metrics and logging.
func (s *Server) wrap(pattern string, auth bool, h func(w http.ResponseWriter, r *http.Request, p *Principal) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The service bounds what one address may cause (SMS) by it.
		r = r.WithContext(app.WithClientIP(r.Context(), clientIP(r)))
		w := &statusWriter{ResponseWriter: rw}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "pattern", pattern, "panic", fmt.Sprint(p), "request_id", accesslog.RequestID(r.Context()))
				if w.status == 0 {
					writeError(w, r, s.log, errors.New("panic"))
				}
			}
			s.metrics.observe(pattern, w.status, time.Since(start))
		}()
		var p *Principal
		var err error
		if auth {
			p, err = s.authenticate(w, r)
			if p != nil {
				accesslog.SetMember(r.Context(), p.MemberID)
			}
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// Principal is who a request acts for and how that was proven.
type Principal struct {
	MemberID string
	Method   string          // "session", "signature" or "certificate"
	Session  *coffer.Session // set for Method "session"
	KeyID    string          // the signing key, for Method "signature"
	CertID   string          // the client certificate, for Method "certificate"
}

// authenticators are tried in order; each returns (nil, nil) when the
// request does not carry its kind of credential. Request signing and client
// certificates add theirs here.
type authenticator func(w http.ResponseWriter, r *http.Request) (*Principal, error)

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, error) {
	for _, a := range s.authenticators {
		p, err := a(w, r)
		if err == nil && p != nil {
			// Allowed IP ranges bind every way of proving who one is.
			err = s.svc.CheckIP(r.Context(), p.MemberID, clientIP(r), p.Method)
		}
		if err != nil || p != nil {
			return p, err
		}
	}
	return nil, coffer.Errorf(coffer.EUNAUTHORIZED, "Log in first: send Authorization: Bearer <token>.")
}

// bearerAuth authenticates a session token.
func (s *Server) bearerAuth(_ http.ResponseWriter, r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return nil, coffer.Errorf(coffer.EUNAUTHORIZED, "Log in first: send Authorization: Bearer <token>.")
	}
	sess, err := s.svc.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		return nil, err
	}
	return &Principal{MemberID: sess.MemberID, Method: "session", Session: sess}, nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decode reads a JSON body into v: bounded, one object, no unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	// The Content-Type is not enforced: /v1 authenticates with headers, not
	// cookies, so a cross-site form cannot act for a member, and strictness
	// here would only trip up `curl -d`.
	limit := bodyLimit(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return coffer.Errorf(coffer.ETOOLARGE, "The request body is larger than %d bytes.", limit)
		}
		return coffer.Errorf(coffer.EINVALID, "The request body could not be read.")
	}
	return DecodeJSON(body, v)
}

// DecodeJSON strictly decodes one JSON object into v. A JSON number where an
// amount string belongs is refused with EINVALIDAMOUNT.
func DecodeJSON(body []byte, v any) error {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return coffer.Errorf(coffer.EINVALID, "The request body must be a JSON object.")
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD; refuse it.
	if !utf8.Valid(body) {
		return coffer.Errorf(coffer.EINVALID, "The request body must be valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			if te.Field == "amount" {
				return coffer.Errorf(coffer.EINVALIDAMOUNT, "amount must be a decimal string such as \"12.50\", not a JSON %s.", te.Value)
			}
			return coffer.Errorf(coffer.EINVALID, "Field %q must not be a JSON %s.", te.Field, te.Value)
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return coffer.Errorf(coffer.EINVALID, "The request body is not a valid JSON object.")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return coffer.Errorf(coffer.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return coffer.Errorf(coffer.EINVALID, "The request body is not a valid JSON object.")
	}
	if dec.More() {
		return coffer.Errorf(coffer.EINVALID, "The request body must hold exactly one JSON object.")
	}
	var rest [1]byte
	if n, _ := dec.Buffered().Read(rest[:]); n > 0 && !isSpace(rest[0]) {
		return coffer.Errorf(coffer.EINVALID, "The request body must hold exactly one JSON object.")
	}
	return nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\r' || b == '\t' }

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		Password string `json:"password"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	m, err := s.svc.Register(r.Context(), app.RegisterInput{Password: in.Password, Email: in.Email, Phone: in.Phone, IP: clientIP(r)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"member_id": m.ID})
}

func sessionJSON(sess *coffer.Session, idle time.Time) map[string]any {
	return map[string]any{"session_id": sess.ID, "ip": sess.IP, "user_agent": sess.UserAgent,
		"created_at": sess.CreatedAt, "last_used_at": sess.LastUsedAt, "expires_at": idle}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Login == "" || in.Password == "" {
		return coffer.Errorf(coffer.EINVALID, "login and password are required.")
	}
	token, sess, err := s.svc.Login(r.Context(), app.LoginInput{Login: in.Login, Password: in.Password, IP: clientIP(r), UserAgent: r.UserAgent()})
	if pe, ok := app.IsPending(err); ok {
		return writeJSON(w, http.StatusAccepted, loginChallengeJSON(pe))
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"token": token, "member_id": sess.MemberID,
		"session_id": sess.ID, "expires_at": s.svc.IdleExpiry(sess)})
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.Sessions(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		j := sessionJSON(x, s.svc.IdleExpiry(x))
		j["current"] = p.Session != nil && x.ID == p.Session.ID
		out = append(out, j)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Session == nil {
		return coffer.Errorf(coffer.EINVALID, "This request was not made with a session token; there is no session to end.")
	}
	if err := s.svc.Logout(r.Context(), p.Session); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.svc.RevokeSession(r.Context(), p.MemberID, r.PathValue("session_id")); err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return coffer.Errorf(coffer.ENOTFOUND, "You have no such session.")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) currencies(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	list, err := s.svc.Currencies(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		out = append(out, map[string]any{"code": c.Code, "letter": string(c.Letter), "decimals": c.Decimals})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"currencies": out})
}

func (s *Server) purseJSON(ctx context.Context, p *coffer.Purse) map[string]any {
	d := s.svc.Decimals(ctx, p.Currency)
	j := map[string]any{"purse": p.Number, "currency": p.Currency, "balance": coffer.FormatAmount(p.Balance, d),
		"available": coffer.FormatAmount(p.Balance, d), "held": coffer.FormatAmount(p.Held, d),
		"issuer": p.Issuer, "created_at": p.CreatedAt}
	if p.Issuer {
		j["limit"] = coffer.FormatAmount(p.Limit, d)
	}
	return j
}

func (s *Server) listPurses(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.Purses(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		out = append(out, s.purseJSON(r.Context(), x))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"purses": out})
}

func (s *Server) createPurse(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Currency string `json:"currency"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Currency == "" {
		return coffer.Errorf(coffer.EINVALID, "currency is required.")
	}
	x, err := s.svc.CreatePurse(r.Context(), p.MemberID, in.Currency)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.purseJSON(r.Context(), x))
}

func (s *Server) getPurse(w http.ResponseWriter, r *http.Request, p *Principal) error {
	x, err := s.svc.Purse(r.Context(), p.MemberID, r.PathValue("purse"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.purseJSON(r.Context(), x))
}

func (s *Server) owner(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id, err := s.svc.LookupOwner(r.Context(), p.MemberID, r.PathValue("purse"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"member_id": id})
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	var f coffer.HistoryFilter
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxHistoryPage {
			return coffer.Errorf(coffer.EINVALID, "limit must be a whole number from 1 to %d.", app.MaxHistoryPage)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return coffer.Errorf(coffer.EINVALID, "cursor is not one this server gave.")
		}
		f.Before = n
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return coffer.Errorf(coffer.EINVALID, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z.", p.name)
			}
			*p.dst = t
		}
	}
	purse := r.PathValue("purse")
	entries, err := s.svc.History(r.Context(), p.MemberID, purse, f)
	if err != nil {
		return err
	}
	d := 2
	if cur, err := s.svc.CurrencyOfPurse(r.Context(), purse); err == nil {
		d = cur.Decimals
	}
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		out = append(out, map[string]any{"transfer_id": e.TransferID, "counterparty": e.Counterparty,
			"amount": coffer.FormatAmount(e.Amount, d), "balance_after": coffer.FormatAmount(e.BalanceAfter, d),
			"description": e.Description, "created_at": e.CreatedAt})
	}
	next := ""
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if len(entries) == limit {
		next = strconv.FormatInt(entries[len(entries)-1].Seq, 10)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next_cursor": next})
}

// transferJSON is a transfer as the API shows it to its sender or payee.
// Plain transfers keep the status "applied"; protected ones show held,
// released or returned.
func (s *Server) transferJSON(ctx context.Context, t *coffer.Transfer) map[string]any {
	d := s.svc.Decimals(ctx, t.Currency)
	kind := t.Kind
	if kind == "" {
		kind = coffer.KindTransfer
	}
	status := "applied"
	if kind == coffer.KindProtected {
		status = t.Status
	}
	j := map[string]any{"transfer_id": t.TransferID, "from": t.From, "to": t.To,
		"amount": coffer.FormatAmount(t.Amount, d), "currency": t.Currency, "fee": coffer.FormatAmount(t.Fee, d),
		"description": t.Description, "kind": kind, "status": status, "created_at": t.CreatedAt}
	if t.InvoiceID != "" {
		j["invoice_id"] = t.InvoiceID
	}
	if t.TrustID != "" {
		j["trust_id"] = t.TrustID
	}
	if t.Refunded > 0 {
		j["refunded"] = coffer.FormatAmount(t.Refunded, d)
	}
	if t.RefundOf != 0 {
		if o, err := s.svc.RefundOrigin(ctx, t); err == nil {
			j["refund_of"] = map[string]string{"transfer_id": o.TransferID, "from": o.From}
		} else {
			s.log.Warn("refund origin", "seq", t.RefundOf, "err", err)
		}
	}
	if p := t.Protection; p != nil && kind == coffer.KindProtected {
		pj := map[string]any{"by_code": p.ByCode, "until": p.Until.UTC().Format(time.RFC3339)}
		if p.ByCode {
			pj["attempts_left"] = max(coffer.MaxProtectAttempts-p.Attempts, 0)
		}
		j["protection"] = pj
	}
	return j
}

// TransferBody is the JSON body of POST /v1/transfers.
type TransferBody struct {
	TransferID  string       `json:"transfer_id"`
	From        string       `json:"from"`
	To          string       `json:"to"`
	Amount      string       `json:"amount"`
	Description string       `json:"description"`
	Protect     *ProtectBody `json:"protect"`
	InvoiceID   string       `json:"invoice_id"`
	TrustID     string       `json:"trust_id"`
}

// ProtectBody asks for a protected transfer: with a code (4–32
// characters) held 1–255 days, without one 1–120 days.
type ProtectBody struct {
	Code string `json:"code"`
	Days int    `json:"days"`
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in TransferBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ti := app.TransferInput{TransferID: in.TransferID,
		From: in.From, To: in.To, Amount: in.Amount, Description: in.Description,
		InvoiceID: in.InvoiceID, TrustID: in.TrustID,
		Strong: p.Method != "session", Resend: r.URL.Query().Get("resend") == "true"}
	if in.Protect != nil {
		ti.Protect = &app.ProtectInput{Code: in.Protect.Code, Days: in.Protect.Days}
	}
	t, replayed, err := s.svc.Transfer(r.Context(), p.MemberID, ti)
	return s.transferAnswer(w, r, t, replayed, err)
}

// transferAnswer answers a request that sends money: 201 applied, 200 a
// replay, 202 waiting for confirmation, or the error.
func (s *Server) transferAnswer(w http.ResponseWriter, r *http.Request, t *coffer.Transfer, replayed bool, err error) error {
	if pe, ok := app.IsPending(err); ok {
		return writeJSON(w, http.StatusAccepted, pendingTransferJSON(pe))
	}
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	return writeJSON(w, status, s.transferJSON(r.Context(), t))
}

func (s *Server) getTransfer(w http.ResponseWriter, r *http.Request, p *Principal) error {
	t, err := s.svc.GetTransfer(r.Context(), p.MemberID, r.PathValue("transfer_id"), r.URL.Query().Get("from"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.transferJSON(r.Context(), t))
}

func (s *Server) securityEvents(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	limit, before := 50, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return coffer.Errorf(coffer.EINVALID, "limit must be a whole number from 1 to 500.")
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return coffer.Errorf(coffer.EINVALID, "cursor is not one this server gave.")
		}
		before = n
	}
	list, err := s.svc.SecurityEvents(r.Context(), p.MemberID, before, limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		out = append(out, map[string]any{"event_id": e.Seq, "kind": e.Kind, "at": e.At, "detail": json.RawMessage(e.Detail)})
	}
	next := ""
	if len(list) == limit {
		next = strconv.FormatInt(list[len(list)-1].Seq, 10)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": next})
}
