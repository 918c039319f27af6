package web

import (
	"net/http"

	"github.com/coffer-money/coffer"
)

// changePassword is the settings page's password form: the current
// password, the new one twice. The answer is always a redirect back to the
// form with a message, so no password is ever shown or kept.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, rq *request) error {
	const to = "/settings#password"
	f := r.PostForm
	current, next := f.Get("current_password"), f.Get("new_password")
	fail := func(msg string) error {
		setFlash(w, rq, "error", msg)
		return redirect(w, r, to)
	}
	switch {
	case current == "" || next == "":
		return fail("Enter your current password and the new one.")
	case next != f.Get("new_password2"):
		return fail("The two new passwords differ; the password was not changed.")
	}
	err := s.svc.ChangePassword(ctx(r), actor(r, rq), rq.sess.ID, current, next)
	switch coffer.ErrorCode(err) {
	case "":
		return done(w, r, rq, "Password changed; other sessions were ended.", to)
	case coffer.EUNAUTHORIZED, coffer.EWEAKPASSWORD, coffer.ERATELIMITED, coffer.EINVALID:
		return fail(coffer.ErrorMessage(err))
	}
	return err
}
