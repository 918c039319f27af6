package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// methodNames are the confirmation methods as a member reads them.
var methodNames = map[string]string{
	coffer.MethodTOTP:     "the 6-digit code of your code generator app",
	coffer.MethodOCRA:     "the 8-digit answer your code generator gives for the challenge below",
	coffer.MethodSMS:      "the code we sent you by SMS",
	coffer.MethodRecovery: "one of your recovery codes",
}

func describeMethods(methods []string) []string {
	out := make([]string, 0, len(methods))
	for _, m := range methods {
		if d, ok := methodNames[m]; ok {
			out = append(out, d)
		} else {
			out = append(out, m)
		}
	}
	return out
}

// loginState is the login challenge waiting for a code, kept in a signed
// cookie between the password and the code.
type loginState struct {
	ID      string    `json:"id"`
	Methods []string  `json:"m"`
	Expires time.Time `json:"e"`
	TZ      string    `json:"tz,omitempty"`
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	if rq.member != "" {
		return redirect(w, r, "/")
	}
	return s.render(w, rq, "login", "Log in", "login", nil)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, rq *request) error {
	login := strings.TrimSpace(r.PostForm.Get("login"))
	pw := r.PostForm.Get("password")
	tz := r.PostForm.Get("tz")
	if login == "" || pw == "" {
		setFlash(w, rq, "error", "Enter your member ID, e-mail or phone, and your password.")
		return redirect(w, r, "/login")
	}
	token, sess, err := s.svc.Login(ctx(r), app.LoginInput{Login: login, Password: pw, IP: clientIP(r), UserAgent: r.UserAgent()})
	if p, ok := app.IsPending(err); ok {
		setState(w, rq, cookieLogin, loginState{ID: p.ID, Methods: p.Methods, Expires: p.ExpiresAt, TZ: tz}, 600)
		return redirect(w, r, "/login/verify")
	}
	switch coffer.ErrorCode(err) {
	case "":
	case coffer.EUNAUTHORIZED, coffer.ERATELIMITED, coffer.EIPNOTALLOWED:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, "/login")
	default:
		return err
	}
	s.startSession(w, rq, token, sess, tz)
	return redirect(w, r, s.afterLogin(w, r, rq, sess, []string{"pwd"}))
}

// startSession sets the session cookie (and the browser's time zone, when
// the login form sent one).
func (s *Server) startSession(w http.ResponseWriter, rq *request, token string, sess *coffer.Session, tz string) {
	maxAge := int(time.Until(sess.ExpiresAt).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	setCookie(w, cookieSession, token, maxAge, rq.secure)
	if _, ok := loadZone(tz); ok {
		setCookie(w, cookieTZ, tz, int((400 * 24 * time.Hour).Seconds()), rq.secure)
	}
	clearCookie(w, cookieLogin, rq.secure)
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	var st loginState
	if !getState(r, rq, cookieLogin, &st) {
		setFlash(w, rq, "error", "Log in with your password first.")
		return redirect(w, r, "/login")
	}
	data := struct {
		Methods []string
		Expires string
	}{describeMethods(st.Methods), formatTime(st.Expires, rq.loc)}
	return s.render(w, rq, "verify", "Confirm your login", "login", data)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, rq *request) error {
	var st loginState
	if !getState(r, rq, cookieLogin, &st) {
		setFlash(w, rq, "error", "Your login attempt has expired. Log in again.")
		return redirect(w, r, "/login")
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		setFlash(w, rq, "error", "Enter a code.")
		return redirect(w, r, "/login/verify")
	}
	token, sess, err := s.svc.ConfirmLogin(ctx(r), st.ID, code, clientIP(r), r.UserAgent())
	switch coffer.ErrorCode(err) {
	case "":
	case coffer.ECONFIRMATIONFAILED:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, "/login/verify")
	case coffer.ECONFIRMATIONVOID, coffer.ENOTFOUND:
		clearCookie(w, cookieLogin, rq.secure)
		setFlash(w, rq, "error", coffer.ErrorMessage(err)+" Log in again.")
		return redirect(w, r, "/login")
	default:
		return err
	}
	s.startSession(w, rq, token, sess, st.TZ)
	return redirect(w, r, s.afterLogin(w, r, rq, sess, secondFactorAMR(st.Methods, code)))
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	return s.render(w, rq, "register", "Open an account", "register", nil)
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := r.PostForm
	if f.Get("password") != f.Get("password2") {
		setFlash(w, rq, "error", "The two passwords differ. Type the same password twice.")
		return redirect(w, r, "/register")
	}
	m, err := s.svc.Register(ctx(r), app.RegisterInput{Password: f.Get("password"),
		Email: strings.TrimSpace(f.Get("email")), Phone: strings.TrimSpace(f.Get("phone")), IP: clientIP(r)})
	switch coffer.ErrorCode(err) {
	case "":
	case coffer.EWEAKPASSWORD, coffer.EINVALID, coffer.ECONFLICT:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, "/register")
	default:
		return err
	}
	setState(w, rq, cookieNewID, m.ID, 600)
	return redirect(w, r, "/register/done")
}

func (s *Server) registered(w http.ResponseWriter, r *http.Request, rq *request) error {
	var id string
	if !getState(r, rq, cookieNewID, &id) {
		return redirect(w, r, "/login")
	}
	return s.render(w, rq, "registered", "Your member ID", "register", id)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.svc.Logout(ctx(r), rq.sess); err != nil {
		return err
	}
	clearCookie(w, cookieSession, rq.secure)
	rq.token = ""
	setFlash(w, rq, "ok", "You are logged out.")
	return redirect(w, r, "/login")
}

type sessionRow struct {
	ID, IP, UserAgent      string
	Created, Used, Expires string
	Current                bool
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request, rq *request) error {
	list, err := s.svc.Sessions(ctx(r), rq.member)
	if err != nil {
		return err
	}
	rows := make([]sessionRow, 0, len(list))
	for _, x := range list {
		rows = append(rows, sessionRow{ID: x.ID, IP: x.IP, UserAgent: x.UserAgent,
			Created: formatTime(x.CreatedAt, rq.loc), Used: formatTime(x.LastUsedAt, rq.loc),
			Expires: formatTime(s.svc.IdleExpiry(x), rq.loc), Current: x.ID == rq.sess.ID})
	}
	return s.render(w, rq, "sessions", "Sessions", "sessions", rows)
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("session_id")
	if err := s.svc.RevokeSession(ctx(r), rq.member, id); err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return coffer.Errorf(coffer.ENOTFOUND, "You have no such session.")
		}
		return err
	}
	if id == rq.sess.ID {
		clearCookie(w, cookieSession, rq.secure)
		rq.token = ""
		setFlash(w, rq, "ok", "This session has ended. Log in again.")
		return redirect(w, r, "/login")
	}
	setFlash(w, rq, "ok", "The session has ended.")
	return redirect(w, r, "/sessions")
}
