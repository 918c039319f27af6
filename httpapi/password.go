package httpapi

import (
	"net/http"

	"github.com/coffer-money/coffer"
)

// changePassword replaces the member's password: only with a session
// (a signed or certificate request is refused), and only with the current
// password. Every other session of the member ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Session == nil {
		return coffer.Errorf(coffer.EFORBIDDEN, "Changing the password needs a password session; log in with your password.")
	}
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Current == "" || in.New == "" {
		return coffer.Errorf(coffer.EINVALID, "current_password and new_password are required.")
	}
	if err := s.svc.ChangePassword(r.Context(), actor(r, p), p.Session.ID, in.Current, in.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
