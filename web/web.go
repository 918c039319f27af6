// Package web is the web keeper: the server-rendered pages members use in a
// browser, served at / beside the JSON API. It calls the same application
// service as the API (package app), so every rule — password throttling,
// second factors, confirmation of payments and of security changes, allowed
// IP ranges, limits — holds here exactly as it does there.
//
// Pages are html/template with embedded assets and no external resources.
// Every state change is a POST carrying a per-session CSRF token and answered
// with a redirect (post-redirect-get), except the few answers that show a
// secret once (a generator's seed, recovery codes), which are rendered as the
// answer to their POST so that the secret is never kept in a cookie or a URL.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/forwarded"
	"github.com/coffer-money/coffer/oidcprov"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the web keeper's tunables.
type Config struct {
	// SignIn is the OpenID Connect provider whose login and consent pages
	// the keeper serves (see signin.go); nil turns them off.
	SignIn *oidcprov.Provider
	// PublicURL is the server's public base URL (cofferd serve
	// --public-url), such as https://coffer.example; forms from its origin
	// pass the origin check. "" names no origin beyond the request's Host.
	PublicURL string
	// TrustedProxies are the proxies whose X-Forwarded-For, -Host and
	// -Proto are believed; nil believes no one's.
	TrustedProxies *forwarded.Trusted
}

// Server serves the web keeper. Create it with New.
type Server struct {
	svc     *app.Service
	log     *slog.Logger
	cfg     Config
	pages   map[string]*template.Template
	handler http.Handler
}

// New builds the web keeper on svc.
func New(svc *app.Service, log *slog.Logger, cfg Config) (*Server, error) {
	s := &Server{svc: svc, log: log, cfg: cfg}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
// Behind a trusted proxy the request's RemoteAddr is the client's.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, s.cfg.TrustedProxies.Request(r))
}

// handler is a page: it writes its answer or returns an error, which
// becomes an error page.
type handler func(w http.ResponseWriter, r *http.Request, rq *request) error

// request is what a page knows about the request beyond *http.Request.
type request struct {
	member  string          // "" when not logged in
	sess    *coffer.Session // nil when not logged in
	token   string          // the session token (the cookie), for CSRF
	browser string          // the browser cookie, keys the signed state cookies
	secure  bool            // cookies get Secure
	loc     *time.Location  // the member's time zone
	flash   *flash
}

// routes is the whole route table of the web keeper.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	public := func(pattern string, h handler) { mux.Handle(pattern, s.wrap(false, h)) }
	member := func(pattern string, h handler) { mux.Handle(pattern, s.wrap(true, h)) }

	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))

	public("GET /login", s.loginPage)
	public("POST /login", s.login)
	public("GET /login/verify", s.verifyPage)
	public("POST /login/verify", s.verify)
	public("GET /register", s.registerPage)
	public("POST /register", s.register)
	public("GET /register/done", s.registered)
	public("GET /signin", s.signinPage)
	member("POST /signin", s.signin)
	member("GET /sites", s.sitesPage)
	member("POST /sites/{client_id}/revoke", s.revokeSite)

	public("GET /pay", s.payPage)
	public("GET /pay/login", s.payLogin)
	member("POST /pay", s.pay)
	member("GET /pay/confirm", s.payConfirmPage)
	member("POST /pay/confirm", s.payConfirm)

	member("GET /{$}", s.home)
	member("POST /logout", s.logout)
	member("GET /sessions", s.sessions)
	member("POST /sessions/{session_id}/revoke", s.revokeSession)

	member("GET /purses", s.home)
	member("POST /purses", s.createPurse)
	member("GET /purses/{purse}", s.pursePage)
	member("GET /purses/{purse}/history.csv", s.historyCSV)
	member("GET /purses/{purse}/limits", s.limitsPage)
	member("POST /purses/{purse}/limits", s.setLimits)

	member("GET /send", s.sendPage)
	member("POST /send", s.review)
	member("POST /send/submit", s.submit)
	member("GET /send/confirm", s.confirmPage)
	member("POST /send/confirm", s.confirm)
	member("GET /transfers/{transfer_id}", s.transferPage)

	member("GET /invoices", s.invoicesPage)
	member("GET /invoices/{invoice_id}", s.invoicePage)
	member("POST /invoices/{invoice_id}/pay", s.payInvoice)
	member("POST /invoices/{invoice_id}/refuse", s.refuseInvoice)
	member("POST /invoices/{invoice_id}/cancel", s.cancelInvoice)
	member("GET /held", s.heldPage)
	member("POST /held/release", s.releaseHeld)
	member("POST /held/refuse", s.refuseHeld)

	member("GET /privacy", s.privacyPage)
	member("POST /privacy/profile", s.setProfile)
	member("POST /privacy/visibility", s.setVisibility)
	member("GET /disclosures", s.disclosuresPage)
	member("POST /disclosures/{request_id}/grant", s.grantDisclosure)
	member("POST /disclosures/{request_id}/refuse", s.refuseDisclosure)
	member("POST /disclosures/{request_id}/revoke", s.revokeDisclosure)
	member("GET /verification", s.verificationPage)
	member("POST /verification", s.submitVerification)
	member("GET /contacts", s.contactsPage)
	member("POST /contacts", s.addContact)
	member("POST /contacts/{member_id}/remove", s.removeContact)
	member("POST /contacts/restriction", s.setOnlyContacts)

	member("GET /settings", s.settingsPage)
	member("POST /settings/totp", s.enrolTOTP)
	member("POST /settings/totp/verify", s.verifyTOTP)
	member("POST /settings/totp/remove", s.removeFactor(coffer.FactorGenerator))
	member("POST /settings/phone", s.addPhone)
	member("POST /settings/phone/verify", s.verifyPhone)
	member("POST /settings/phone/remove", s.removeFactor(coffer.FactorPhone))
	member("POST /settings/recovery-codes", s.recoveryCodes)
	member("POST /settings/policy", s.setPolicy)
	member("POST /settings/ip-ranges", s.setIPRanges)
	member("POST /settings/new-device", s.setNewDevice)
	member("POST /settings/notifications", s.setNotifications)
	member("POST /settings/timezone", s.setTimezone)
	member("POST /settings/password", s.changePassword)
	member("GET /security-log", s.securityLog)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), r.TLS != nil)
		_, pattern := mux.Handler(r)
		if pattern == "" {
			accesslog.SetRoute(r.Context(), "unmatched")
			err := errNotFound
			if allow := allowed(mux, r); allow != "" {
				w.Header().Set("Allow", allow)
				err = errMethod
			}
			s.serve(w, r, false, false, func(http.ResponseWriter, *http.Request, *request) error { return err })
			return
		}
		accesslog.SetRoute(r.Context(), pattern)
		mux.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows nothing but this origin's own files: no
// inline script or style, no framing, forms only to this origin.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(h http.Header, tls bool) {
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

// staticHandler lets browsers cache the embedded assets for a while; they
// change only with a new binary.
func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

var (
	errNotFound = coffer.Errorf(coffer.ENOTFOUND, "There is no such page.")
	errMethod   = coffer.Errorf(codeMethodNotAllowed, "This page cannot be opened that way.")
)

const codeMethodNotAllowed = "method_not_allowed"

// allowed lists the methods the mux has for r's path.
func allowed(mux *http.ServeMux, r *http.Request) string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := mux.Handler(r2); p != "" {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// errLoginNeeded sends a visitor without a live session to the login page.
var errLoginNeeded = errors.New("web: login needed")

// wrap adds the session, CSRF check, IP ranges, error pages and panics.
func (s *Server) wrap(needMember bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, needMember, true, h)
	})
}

// serve runs a page; checkForm says whether a POST must carry the CSRF
// token (every route's does; an unknown path's answer needs none).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, needMember, checkForm bool, h handler) {
	w.Header().Set("Cache-Control", "no-store")
	rq := &request{secure: secureRequest(r), loc: time.UTC}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("web panic", "path", r.URL.Path, "panic", fmt.Sprint(p), "request_id", accesslog.RequestID(r.Context()))
			s.errorPage(w, r, rq, errors.New("panic"))
		}
	}()
	rq.browser = s.browserID(w, r, rq.secure)
	rq.loc = timeZone(r, rq.secure)
	rq.flash = takeFlash(w, r, rq)
	err := s.loadSession(r, rq)
	if coffer.ErrorCode(err) == coffer.EIPNOTALLOWED && !needMember {
		err = nil // the login and registration pages stay open, as to a visitor
	}
	if err == nil && needMember && rq.member == "" {
		err = errLoginNeeded
	}
	if err == nil && checkForm && r.Method == http.MethodPost {
		err = s.checkPost(w, r, rq)
	}
	if err == nil {
		err = h(w, r, rq)
	}
	if err != nil {
		s.errorPage(w, r, rq, err)
	}
}

// loadSession resolves the session cookie. A cookie that no longer names a
// live session is cleared; the page then treats the visitor as logged out.
// The allowed IP ranges bind the web keeper as they bind the API.
func (s *Server) loadSession(r *http.Request, rq *request) error {
	token := readCookie(r, cookieSession, rq.secure)
	if token == "" {
		return nil
	}
	sess, err := s.svc.Authenticate(r.Context(), token)
	if coffer.ErrorCode(err) == coffer.EUNAUTHORIZED {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.svc.CheckIP(r.Context(), sess.MemberID, clientIP(r), "session"); err != nil {
		return err
	}
	rq.member, rq.sess, rq.token = sess.MemberID, sess, token
	accesslog.SetMember(r.Context(), sess.MemberID)
	return nil
}

// checkPost refuses a POST without this session's CSRF token, or from a
// page of another origin, before any handler runs.
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request, rq *request) error {
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.EqualFold(strings.TrimSpace(ct), "multipart/form-data") &&
		slices.Contains(uploadPaths, r.URL.Path) {
		if err := parseUpload(w, r); err != nil {
			return err
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return coffer.Errorf(coffer.EINVALID, "The form could not be read. Go back, reload the page and try again.")
		}
	}
	// A browser names the page a form came from; another site's is
	// refused. The page is ours when it has the host the request was sent
	// to, the configured public URL's origin, or the host a trusted proxy
	// names in X-Forwarded-Host. Anyone else's X-Forwarded-Host is not
	// looked at: a client that writes both headers could otherwise pass
	// any origin it likes.
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if !s.ownOrigin(r, o) {
			return errCSRF
		}
	}
	if !checkCSRF(rq, r.PostForm.Get("csrf")) {
		return errCSRF
	}
	return nil
}

// ownOrigin reports whether the Origin o is this site's.
func (s *Server) ownOrigin(r *http.Request, o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if p, err := url.Parse(s.cfg.PublicURL); err == nil && p.Host != "" &&
		strings.EqualFold(u.Scheme, p.Scheme) && strings.EqualFold(u.Host, p.Host) {
		return true
	}
	fwd := forwarded.Host(r)
	return fwd != "" && strings.EqualFold(u.Host, fwd)
}

// maxForm bounds every form body.
const maxForm = 64 << 10

var errCSRF = coffer.Errorf(coffer.EFORBIDDEN, "This form has expired or did not come from this site. Go back, reload the page and send it again.")

// secureRequest reports whether cookies must carry Secure: always, except
// on plain HTTP from a loopback address to a loopback host name, which is
// development on one machine. A TLS-terminating proxy on the same machine
// forwards the public host name (or, when trusted, X-Forwarded-Proto:
// https), so its members get Secure cookies.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil || forwarded.Proto(r) == "https" {
		return true
	}
	if ip := net.ParseIP(clientIP(r)); ip == nil || !ip.IsLoopback() {
		return true
	}
	return !loopbackHost(r.Host)
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// redirect answers a POST (or a page that moved) with 303 See Other.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// ctx is a shorthand for the request's context.
// ctx is the context of a call of the service: the request's, carrying the
// client's address, by which the service bounds what one address may cause
// (SMS).
func ctx(r *http.Request) context.Context { return app.WithClientIP(r.Context(), clientIP(r)) }
