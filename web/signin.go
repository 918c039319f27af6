package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/oidcprov"
)

// "Sign in with coffer": the login and consent pages of the OpenID Connect
// provider. The provider sends the browser to /signin?id=…; a visitor who
// is not logged in goes through the keeper's own login (password and the
// member's second factor) and comes back here.

// cookieSignIn holds the sign-in request waiting for the login.
const cookieSignIn = "coffer_signin"

// afterLogin records how the new session authenticated and says where the
// login continues: the pending sign-in request, else the home page.
func (s *Server) afterLogin(w http.ResponseWriter, r *http.Request, rq *request, sess *coffer.Session, amr []string) string {
	if s.cfg.SignIn == nil {
		if to := s.checkoutAfterLogin(w, r, rq); to != "" {
			return to
		}
		return "/"
	}
	if err := s.cfg.SignIn.RecordLogin(ctx(r), sess, amr); err != nil {
		s.log.Warn("record login methods", "session", sess.ID, "err", err)
	}
	var id string
	if getState(r, rq, cookieSignIn, &id) && id != "" {
		clearCookie(w, cookieSignIn, rq.secure)
		return oidcprov.LoginPath + "?id=" + url.QueryEscape(id)
	}
	if to := s.checkoutAfterLogin(w, r, rq); to != "" {
		return to
	}
	return "/"
}

// secondFactorAMR names the methods of a login finished with a code
// (RFC 8176): the password, and the code's kind when it can be told.
func secondFactorAMR(methods []string, code string) []string {
	amr := []string{"pwd", "mfa"}
	digits := strings.IndexFunc(code, func(r rune) bool { return r < '0' || r > '9' }) < 0
	switch {
	case !digits:
		// a recovery code
	case len(code) == 8 && slices.Contains(methods, coffer.MethodOCRA):
		amr = append(amr, "otp")
	case !slices.Contains(methods, coffer.MethodSMS):
		amr = append(amr, "otp")
	case !slices.Contains(methods, coffer.MethodTOTP) && !slices.Contains(methods, coffer.MethodOCRA):
		amr = append(amr, "sms")
	}
	return amr
}

type signinData struct {
	Req *oidcprov.SignInRequest
}

// signinPage shows the consent screen, after sending a visitor who is
// not logged in through the login.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	if s.cfg.SignIn == nil {
		return errNotFound
	}
	id := r.URL.Query().Get("id")
	if id == "" || len(id) > 64 {
		return coffer.Errorf(coffer.EINVALID, "This sign-in link is incomplete. Go back to the site and sign in again.")
	}
	if rq.member == "" {
		setState(w, rq, cookieSignIn, id, 900)
		setFlash(w, rq, "ok", "Log in to continue signing in to the site.")
		return redirect(w, r, "/login")
	}
	req, err := s.cfg.SignIn.SignInRequest(ctx(r), id, rq.member)
	if err != nil {
		return err
	}
	// The answer to this form redirects to the site: allow that origin
	// as a form target, as browsers check redirects after a form.
	if req.Origin != "" && !strings.ContainsAny(req.Origin, " ;'\"") {
		w.Header().Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy, "form-action 'self'", "form-action 'self' "+req.Origin, 1))
	}
	return s.render(w, rq, "signin", "Sign in to "+req.ClientName, "", signinData{Req: req})
}

// signin answers the consent screen.
func (s *Server) signin(w http.ResponseWriter, r *http.Request, rq *request) error {
	if s.cfg.SignIn == nil {
		return errNotFound
	}
	id := r.PostForm.Get("id")
	if r.PostForm.Get("action") != "allow" {
		to, err := s.cfg.SignIn.Deny(ctx(r), id)
		if err != nil {
			return err
		}
		return redirect(w, r, to)
	}
	amr, err := s.cfg.SignIn.SessionAMR(ctx(r), rq.sess)
	if err != nil {
		return err
	}
	to, err := s.cfg.SignIn.Approve(ctx(r), id, rq.member, amr, rq.sess.CreatedAt, r.PostForm["scope"])
	if err != nil {
		return err
	}
	return redirect(w, r, to)
}

func (s *Server) sitesPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	if s.cfg.SignIn == nil {
		return errNotFound
	}
	list, err := s.cfg.SignIn.Sites(ctx(r), rq.member)
	if err != nil {
		return err
	}
	type row struct {
		ClientID, Name, Since string
		Scopes                []string
	}
	rows := make([]row, 0, len(list))
	for _, x := range list {
		rows = append(rows, row{ClientID: x.ClientID, Name: x.Name, Scopes: x.Scopes, Since: formatTime(x.Since, rq.loc)})
	}
	return s.render(w, rq, "sites", "Sites", "settings", rows)
}

func (s *Server) revokeSite(w http.ResponseWriter, r *http.Request, rq *request) error {
	if s.cfg.SignIn == nil {
		return errNotFound
	}
	if err := s.cfg.SignIn.RevokeSite(ctx(r), rq.member, r.PathValue("client_id")); err != nil {
		return err
	}
	setFlash(w, rq, "ok", "The site may no longer sign you in without asking, and its tokens have ended.")
	return redirect(w, r, "/sites")
}
