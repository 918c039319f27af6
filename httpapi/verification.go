package httpapi

import (
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// uploadDocument takes the raw body as a document. The Content-Type the
// client sends is ignored: the service tells the type from the content.
func (s *Server) uploadDocument(w http.ResponseWriter, r *http.Request, p *Principal) error {
	tooLarge := coffer.Errorf(coffer.ETOOLARGE, "A document may be at most %d MiB.", app.MaxDocumentBytes>>20)
	if r.ContentLength > app.MaxDocumentBytes {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, app.MaxDocumentBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return coffer.Errorf(coffer.EINVALID, "The request body could not be read.")
	}
	d, err := s.svc.UploadDocument(r.Context(), p.MemberID, clientIP(r), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"document_id": d.ID, "content_type": d.ContentType,
		"size": d.Size, "sha256": hex.EncodeToString(d.SHA256)})
}

func (s *Server) submitVerification(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Documents      []string `json:"documents"`
		LevelRequested string   `json:"level_requested"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	vr, err := s.svc.SubmitVerification(r.Context(), p.MemberID, app.SubmitInput{Documents: in.Documents, LevelRequested: in.LevelRequested})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, verificationJSON(vr, true))
}

// levelJSON describes what a level allows.
func levelJSON(l *coffer.Level) map[string]any {
	if l == nil {
		return nil
	}
	return map[string]any{"name": l.Name, "rank": l.Rank, "daily_limit": l.DailyLimit, "merchant": l.Merchant, "issuer": l.Issuer}
}

func (s *Server) myVerification(w http.ResponseWriter, r *http.Request, p *Principal) error {
	st, err := s.svc.MyVerification(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(st.Requests))
	for _, vr := range st.Requests {
		out = append(out, verificationJSON(vr, true))
	}
	j := map[string]any{"level": st.Status.Level, "requests": out}
	if !st.Status.LevelChangedAt.IsZero() {
		j["level_changed_at"] = st.Status.LevelChangedAt
	}
	if st.Level != nil {
		j["allows"] = levelJSON(st.Level)
	}
	return writeJSON(w, http.StatusOK, j)
}

// verificationJSON is a request as the API shows it; values are the
// submitted profile values, shown to the member and to registrars.
func verificationJSON(vr *coffer.VerificationRequest, values bool) map[string]any {
	docs := make([]map[string]any, 0, len(vr.Documents))
	for _, d := range vr.Documents {
		docs = append(docs, map[string]any{"document_id": d.ID, "content_type": d.ContentType, "size": d.Size,
			"sha256": hex.EncodeToString(d.SHA256), "created_at": d.CreatedAt})
	}
	j := map[string]any{"request_id": vr.ID, "member_id": vr.MemberID, "state": vr.State, "documents": docs,
		"created_at": vr.CreatedAt}
	if vr.State == coffer.VerificationPending {
		j["level_requested"] = vr.Level
	} else {
		j["decided_at"] = vr.DecidedAt
		j["reviewer"] = vr.Reviewer
	}
	if vr.State == coffer.VerificationApproved {
		j["level"] = vr.Level
	}
	if vr.State == coffer.VerificationRejected {
		j["reason"] = vr.Reason
	}
	if values {
		v := vr.Values
		if v == nil {
			v = map[string]string{}
		}
		j["values"] = v
	}
	return j
}

func (s *Server) registrarQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.RegistrarQueue(r.Context(), p.MemberID, r.URL.Query().Get("state"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, vr := range list {
		// The queue shows no personal data; a request's values are read
		// one at a time, audited.
		out = append(out, verificationJSON(vr, false))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"requests": out})
}

func (s *Server) registrarRequest(w http.ResponseWriter, r *http.Request, p *Principal) error {
	vr, err := s.svc.RegistrarRequest(r.Context(), p.MemberID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, verificationJSON(vr, true))
}

func (s *Server) registrarDocument(w http.ResponseWriter, r *http.Request, p *Principal) error {
	d, content, err := s.svc.RegistrarDocument(r.Context(), p.MemberID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}[d.ContentType]
	h := w.Header()
	h.Set("Content-Type", d.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(content)))
	h.Set("Content-Disposition", `attachment; filename="`+d.ID+ext+`"`)
	h.Set("Cache-Control", "no-store")
	// A document opened in a browser runs nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(content)
	return err
}

func (s *Server) registrarApprove(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Level string `json:"level"`
	}
	if err := s.svc.RequireRegistrar(r.Context(), p.MemberID); err != nil {
		return err
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Level == "" {
		return coffer.Errorf(coffer.EINVALID, "level is required.")
	}
	vr, err := s.svc.DecideVerification(r.Context(), p.MemberID, r.PathValue("id"), app.Decision{Approve: true, Level: in.Level})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, verificationJSON(vr, false))
}

func (s *Server) registrarReject(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := s.svc.RequireRegistrar(r.Context(), p.MemberID); err != nil {
		return err
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	vr, err := s.svc.DecideVerification(r.Context(), p.MemberID, r.PathValue("id"), app.Decision{Reason: in.Reason})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, verificationJSON(vr, false))
}

func (s *Server) registrarLevel(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Level  string `json:"level"`
		Reason string `json:"reason"`
	}
	if err := s.svc.RequireRegistrar(r.Context(), p.MemberID); err != nil {
		return err
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	member := r.PathValue("member_id")
	level, err := s.svc.RegistrarSetLevel(r.Context(), p.MemberID, member, in.Level, in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"member_id": member, "level": level})
}

func (s *Server) registrarLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		MemberIDs []string `json:"member_ids"`
	}
	if err := s.svc.RequireRegistrar(r.Context(), p.MemberID); err != nil {
		return err
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	person, err := s.svc.LinkPersons(r.Context(), p.MemberID, in.MemberIDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"person_id": person, "member_ids": in.MemberIDs})
}
