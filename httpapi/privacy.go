package httpapi

import (
	"net/http"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

func ownProfileJSON(p *app.OwnProfile) map[string]any {
	values := map[string]any{}
	for k, v := range p.Values {
		values[k] = v
	}
	if len(p.LinkedIDs) > 0 {
		values[coffer.FieldLinkedIDs] = p.LinkedIDs
	}
	return map[string]any{"values": values, "visibility": p.Visibility}
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	x, err := s.svc.Profile(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ownProfileJSON(x))
}

func (s *Server) putProfile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Values map[string]string `json:"values"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	x, err := s.svc.SetProfile(r.Context(), p.MemberID, in.Values)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ownProfileJSON(x))
}

func (s *Server) getVisibility(w http.ResponseWriter, r *http.Request, p *Principal) error {
	x, err := s.svc.Profile(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x.Visibility)
}

func (s *Server) putVisibility(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in map[string]string
	if err := decode(w, r, &in); err != nil {
		return err
	}
	x, err := s.svc.SetVisibility(r.Context(), p.MemberID, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x.Visibility)
}

func (s *Server) viewMember(w http.ResponseWriter, r *http.Request, p *Principal) error {
	v, err := s.svc.ViewMember(r.Context(), p.MemberID, r.PathValue("member_id"))
	if err != nil {
		return err
	}
	fields := map[string]any{}
	for k, x := range v.Fields {
		fields[k] = x
	}
	if len(v.LinkedIDs) > 0 {
		fields[coffer.FieldLinkedIDs] = v.LinkedIDs
	}
	return writeJSON(w, http.StatusOK, map[string]any{"member_id": v.MemberID, "level": v.Level,
		"registered": v.Registered.Format(time.DateOnly), "fields": fields})
}

func (s *Server) checkData(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Fields map[string]string `json:"fields"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.svc.CheckData(r.Context(), p.MemberID, r.PathValue("member_id"), in.Fields)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

func disclosureJSON(d *coffer.DisclosureRequest) map[string]any {
	j := map[string]any{"request_id": d.ID, "requester": d.Requester, "subject": d.Subject, "fields": d.Fields,
		"reason": d.Reason, "state": d.State, "created_at": d.CreatedAt}
	if d.Fields == nil {
		j["fields"] = []string{}
	}
	if d.State != coffer.DisclosurePending {
		j["decided_at"] = d.DecidedAt
	}
	if d.State == coffer.DisclosureGranted || d.State == coffer.DisclosureRevoked {
		j["granted"] = d.Granted
		if !d.Until.IsZero() {
			j["until"] = d.Until
		}
	}
	return j
}

func (s *Server) requestDisclosure(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Fields []string `json:"fields"`
		Reason string   `json:"reason"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	d, err := s.svc.RequestDisclosure(r.Context(), p.MemberID, r.PathValue("member_id"), in.Fields, in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, disclosureJSON(d))
}

func (s *Server) listDisclosures(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.DisclosureRequests(r.Context(), p.MemberID, r.URL.Query().Get("role"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		out = append(out, disclosureJSON(d))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"requests": out})
}

func (s *Server) grantDisclosure(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Fields []string   `json:"fields"`
		Until  *time.Time `json:"until"`
	}
	if err := decodeOptional(w, r, &in); err != nil {
		return err
	}
	var until time.Time
	if in.Until != nil {
		until = *in.Until
	}
	d, err := s.svc.GrantDisclosure(r.Context(), p.MemberID, r.PathValue("request_id"), in.Fields, until)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, disclosureJSON(d))
}

func (s *Server) refuseDisclosure(w http.ResponseWriter, r *http.Request, p *Principal) error {
	d, err := s.svc.RefuseDisclosure(r.Context(), p.MemberID, r.PathValue("request_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, disclosureJSON(d))
}

func (s *Server) revokeDisclosure(w http.ResponseWriter, r *http.Request, p *Principal) error {
	d, err := s.svc.RevokeDisclosure(r.Context(), p.MemberID, r.PathValue("request_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, disclosureJSON(d))
}

func contactJSON(c *coffer.Contact) map[string]any {
	return map[string]any{"member_id": c.ContactID, "note": c.Note, "created_at": c.CreatedAt}
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.Contacts(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	st, err := s.svc.MemberStatus(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		out = append(out, contactJSON(c))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"contacts": out, "only_contacts": st.OnlyContacts})
}

func (s *Server) addContact(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		MemberID string `json:"member_id"`
		Note     string `json:"note"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := s.svc.AddContact(r.Context(), p.MemberID, in.MemberID, in.Note)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, contactJSON(c))
}

func (s *Server) removeContact(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.svc.RemoveContact(r.Context(), p.MemberID, r.PathValue("member_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putRestriction(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		OnlyContacts *bool `json:"only_contacts"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.OnlyContacts == nil {
		return coffer.Errorf(coffer.EINVALID, "only_contacts (true or false) is required.")
	}
	if err := s.svc.SetOnlyContacts(r.Context(), p.MemberID, *in.OnlyContacts); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"only_contacts": *in.OnlyContacts})
}

func (s *Server) closeAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct{}
	if err := decodeOptional(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.CloseAccount(r.Context(), actor(r, p)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
