package httpapi

import (
	"net/http"

	"github.com/coffer-money/coffer"
)

// createCheckoutSecret makes the merchant's checkout secret, answered
// once. Like adding a key, only a password session may do it, with the
// step-up confirmation of a security change.
func (s *Server) createCheckoutSecret(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Method != "session" {
		return coffer.Errorf(coffer.EFORBIDDEN, "A checkout secret can be made only with a session from a password login, not with a signed request or a certificate.")
	}
	secret, err := s.svc.CreateCheckoutSecret(r.Context(), p.MemberID, proof(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"secret": secret})
}
