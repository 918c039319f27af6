package web

import (
	"bytes"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/app"
)

// parsePages parses each page template together with the layout and the
// partials: the templates whose names begin with "_", which only define
// templates that pages use, such as "codeform".
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	shared := []string{"templates/layout.html"}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			shared = append(shared, n)
		}
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(template.FuncMap{
			"join":     strings.Join,
			"codeForm": newCodeForm,
			"hidden":   hiddenFields,
		}).ParseFS(templateFS, append(shared, n)...)
		if err != nil {
			return nil, err
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string // the active navigation item
	Member string // "" when logged out
	CSRF   string
	Flash  *flash
	Zone   string // the time zone dates are shown in
	Data   any
}

// render writes a page with status 200 (or status, when given).
func (s *Server) render(w http.ResponseWriter, rq *request, name, title, nav string, data any, status ...int) error {
	t := s.pages[name]
	if t == nil {
		return errors.New("web: no template " + name)
	}
	p := page{Title: title, Nav: nav, Member: rq.member, CSRF: csrfToken(rq), Flash: rq.flash, Zone: rq.loc.String(), Data: data}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if len(status) > 0 {
		w.WriteHeader(status[0])
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// advice says what the member can do about an error.
var advice = map[string]string{
	coffer.ENOTFOUND:             "Check the address, or start again from your purses.",
	coffer.EPURSENOTFOUND:        "Check the purse number: a letter and 12 digits, such as Z123456789012.",
	coffer.EUNAUTHORIZED:         "Log in again.",
	coffer.EFORBIDDEN:            "Go back, reload the page and try again.",
	coffer.EIPNOTALLOWED:         "Use this account from an allowed address, or use the unblock code sent to your e-mail address.",
	coffer.ERATELIMITED:          "Wait a minute, then try again.",
	coffer.EUNAVAILABLE:          "Try again in a moment. A payment sent again with the same form is never applied twice.",
	coffer.ECONFIRMATIONVOID:     "Start over; a new code will be asked for.",
	coffer.EIDEMPOTENCYCONFLICT:  "Start a new payment from the send page.",
	coffer.ECONFIRMATIONREQUIRED: "Add a second factor in Settings first.",
	codeMethodNotAllowed:         "Use the links and buttons on the pages instead.",
	coffer.ENOTACONTACT:          "Ask the member to add you to their contacts first.",
	coffer.ELEVELTOOLOW:          "Have your identity verified to a higher level: see Verification.",
}

// errorPage shows what went wrong and what to do, never internals. A visitor
// who needs to log in is sent to the login page instead.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	if errors.Is(err, errLoginNeeded) {
		if readCookie(r, cookieSession, rq.secure) != "" {
			clearCookie(w, cookieSession, rq.secure)
			setFlash(w, rq, "error", "Your session has ended. Log in again.")
		}
		redirect(w, r, "/login")
		return
	}
	code := coffer.ErrorCode(err)
	// The API's table (coffer.HTTPStatus), with method_not_allowed (codeMethodNotAllowed)
	// among its codes; codes it does not know are the server's fault here.
	status, ok := coffer.HTTPStatus(code)
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := coffer.ErrorMessage(err)
	todo := advice[code]
	if ra := app.RetryAfter(err, status); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if status >= 500 {
		if code == coffer.EINTERNAL {
			s.log.Error("web request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", accesslog.RequestID(r.Context()))
			msg = "Something went wrong on our side."
			todo = "Try again in a moment. If it keeps happening, tell the operator of this server."
		} else {
			s.log.Warn("web request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err, "request_id", accesslog.RequestID(r.Context()))
		}
	}
	if todo == "" {
		todo = "Go back, correct it and try again."
	}
	data := struct {
		Status        int
		Message, Todo string
		RequestID     string // to quote to the operator, who finds it in the log
	}{status, msg, todo, accesslog.RequestID(r.Context())}
	if rerr := s.render(w, rq, "error", "Something is not right", "", data, status); rerr != nil {
		s.log.Error("render error page", "err", rerr)
	}
}
