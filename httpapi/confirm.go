package httpapi

import (
	"encoding/base64"
	"net/http"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// proof is the step-up proof of a sensitive request, "<confirmation_id>:<code>"
// (ConfirmationHeader is declared in settings.go).
func proof(r *http.Request) string { return r.Header.Get(ConfirmationHeader) }

func loginChallengeJSON(p *app.Pending) map[string]any {
	return map[string]any{"status": "pending_confirmation", "challenge_id": p.ID, "method": p.Method,
		"methods": p.Methods, "expires_at": p.ExpiresAt}
}

func pendingTransferJSON(p *app.Pending) map[string]any {
	j := map[string]any{"status": "pending_confirmation", "transfer_id": p.TransferID, "confirmation_id": p.ID,
		"method": p.Method, "methods": p.Methods, "expires_at": p.ExpiresAt}
	if p.Challenge != "" {
		j["challenge"] = p.Challenge
		j["ocra_suite"] = app.OCRASuite
	}
	if p.Currency != "" {
		j["amount"] = coffer.FormatAmount(p.Amount, p.Decimals)
		j["fee"] = coffer.FormatAmount(p.Fee, p.Decimals)
		j["total"] = coffer.FormatAmount(p.Amount+p.Fee, p.Decimals)
		j["currency"] = p.Currency
	}
	return j
}

type codeBody struct {
	Code string `json:"code"`
}

func readCode(w http.ResponseWriter, r *http.Request) (string, error) {
	var in codeBody
	if err := decode(w, r, &in); err != nil {
		return "", err
	}
	if in.Code == "" {
		return "", coffer.Errorf(coffer.EINVALID, "code is required.")
	}
	return in.Code, nil
}

func (s *Server) confirmLogin(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	code, err := readCode(w, r)
	if err != nil {
		return err
	}
	token, sess, err := s.svc.ConfirmLogin(r.Context(), r.PathValue("challenge_id"), code, clientIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"token": token, "member_id": sess.MemberID,
		"session_id": sess.ID, "expires_at": s.svc.IdleExpiry(sess)})
}

func (s *Server) confirmTransfer(w http.ResponseWriter, r *http.Request, p *Principal) error {
	code, err := readCode(w, r)
	if err != nil {
		return err
	}
	t, replayed, err := s.svc.ConfirmTransfer(r.Context(), p.MemberID, r.PathValue("transfer_id"), code)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	return writeJSON(w, status, s.transferJSON(r.Context(), t))
}

func (s *Server) factors(w http.ResponseWriter, r *http.Request, p *Principal) error {
	f, err := s.svc.Factors(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"phone": f.Phone, "totp": f.Generator, "ocra": f.Generator,
		"recovery_codes_left": f.RecoveryCodes, "bootstrap": f.Bootstrap, "confirmation": f.Policy})
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pol, err := s.svc.Policy(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pol)
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in coffer.ConfirmationPolicy
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.SetPolicy(r.Context(), p.MemberID, &in, proof(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, &in)
}

func (s *Server) addPhone(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.AddPhone(r.Context(), p.MemberID, in.Phone, proof(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]any{"status": "code_sent"})
}

func recoveryJSON(codes []string) map[string]any {
	j := map[string]any{"status": "verified"}
	if codes != nil {
		j["recovery_codes"] = codes
	}
	return j
}

func (s *Server) verifyPhone(w http.ResponseWriter, r *http.Request, p *Principal) error {
	code, err := readCode(w, r)
	if err != nil {
		return err
	}
	codes, err := s.svc.VerifyPhone(r.Context(), p.MemberID, code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, recoveryJSON(codes))
}

func (s *Server) enrolTOTP(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := s.svc.EnrolGenerator(r.Context(), p.MemberID, proof(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"secret": e.Secret, "otpauth_uri": e.URI,
		"qr_png": base64.StdEncoding.EncodeToString(e.QRPNG), "ocra_suite": app.OCRASuite})
}

func (s *Server) verifyTOTP(w http.ResponseWriter, r *http.Request, p *Principal) error {
	code, err := readCode(w, r)
	if err != nil {
		return err
	}
	codes, err := s.svc.VerifyGenerator(r.Context(), p.MemberID, code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, recoveryJSON(codes))
}

func (s *Server) removeFactor(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		if err := s.svc.RemoveFactor(r.Context(), p.MemberID, kind, proof(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) recoveryCodes(w http.ResponseWriter, r *http.Request, p *Principal) error {
	codes, err := s.svc.NewRecoveryCodes(r.Context(), p.MemberID, proof(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"recovery_codes": codes})
}
