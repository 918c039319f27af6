package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// fieldLabels names the profile fields for people.
var fieldLabels = map[string]string{
	coffer.FieldFirstName:     "First name",
	coffer.FieldLastName:      "Last name",
	coffer.FieldEmail:         "E-mail (login)",
	coffer.FieldPhone:         "Phone (login)",
	coffer.FieldPostalAddress: "Postal address",
	coffer.FieldCity:          "City",
	coffer.FieldCountry:       "Country",
	coffer.FieldDateOfBirth:   "Date of birth",
	coffer.FieldDocument:      "Document number",
	coffer.FieldLinkedIDs:     "Your other member IDs",
}

func fieldLabel(f string) string {
	if l, ok := fieldLabels[f]; ok {
		return l
	}
	return f
}

func fieldLabelList(fs []string) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fieldLabel(f)
	}
	return strings.Join(out, ", ")
}

// editableFields are those a member types on the privacy page; e-mail and
// phone are the login ones, linked IDs are a registrar's.
var editableFields = []string{coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldPostalAddress, coffer.FieldCity,
	coffer.FieldCountry, coffer.FieldDateOfBirth, coffer.FieldDocument}

// visibilities are the choices of who sees a field, in order.
var visibilities = []struct{ Value, Label string }{
	{coffer.VisibleEveryone, "Everyone"},
	{coffer.VisibleCounterparties, "Members I exchanged money with"},
	{coffer.VisibleOnRequest, "Only when I grant a request"},
	{coffer.VisibleNobody, "Nobody"},
}

type fieldRow struct {
	Field, Label, Value, Visibility string
	Editable, Date                  bool
}

func (s *Server) privacyPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	p, err := s.svc.Profile(ctx(r), rq.member)
	if err != nil {
		return err
	}
	st, err := s.svc.MemberStatus(ctx(r), rq.member)
	if err != nil {
		return err
	}
	data := struct {
		Fields       []fieldRow
		Visibilities any
		Level        string
		Linked       []string
	}{Visibilities: visibilities, Level: st.Level, Linked: p.LinkedIDs}
	for _, f := range coffer.ProfileFields {
		row := fieldRow{Field: f, Label: fieldLabel(f), Value: p.Values[f], Visibility: p.Visibility[f],
			Editable: slices.Contains(editableFields, f), Date: f == coffer.FieldDateOfBirth}
		if f == coffer.FieldLinkedIDs {
			row.Value = strings.Join(p.LinkedIDs, ", ")
		}
		if row.Visibility == "" {
			row.Visibility = coffer.VisibleNobody
		}
		data.Fields = append(data.Fields, row)
	}
	return s.render(w, rq, "privacy", "Privacy", "privacy", data)
}

// privacyFlash turns a correctable error into a message on the page.
func (s *Server) privacyFlash(w http.ResponseWriter, r *http.Request, rq *request, err error, ok, to string) error {
	switch coffer.ErrorCode(err) {
	case "":
		setFlash(w, rq, "ok", ok)
	case coffer.EINVALID, coffer.ENOTFOUND, coffer.ECONFLICT, coffer.EFORBIDDEN, coffer.ENOTACONTACT, coffer.ELEVELTOOLOW, coffer.ERATELIMITED:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
	default:
		return err
	}
	return redirect(w, r, to)
}

func (s *Server) setProfile(w http.ResponseWriter, r *http.Request, rq *request) error {
	cur, err := s.svc.Profile(ctx(r), rq.member)
	if err != nil {
		return err
	}
	changed := map[string]string{}
	for _, f := range editableFields {
		vals, ok := r.PostForm["v_"+f]
		if !ok {
			continue
		}
		v := strings.TrimSpace(vals[0])
		if f == coffer.FieldCountry {
			v = strings.ToUpper(v)
		}
		if v != cur.Values[f] {
			changed[f] = v
		}
	}
	if len(changed) == 0 {
		setFlash(w, rq, "ok", "Nothing changed.")
		return redirect(w, r, "/privacy#profile")
	}
	_, err = s.svc.SetProfile(ctx(r), rq.member, changed)
	return s.privacyFlash(w, r, rq, err, "Your personal data was saved.", "/privacy#profile")
}

func (s *Server) setVisibility(w http.ResponseWriter, r *http.Request, rq *request) error {
	cur, err := s.svc.Profile(ctx(r), rq.member)
	if err != nil {
		return err
	}
	changed := map[string]string{}
	for _, f := range coffer.ProfileFields {
		v := r.PostForm.Get("vis_" + f)
		if v != "" && v != cur.Visibility[f] {
			changed[f] = v
		}
	}
	if len(changed) == 0 {
		setFlash(w, rq, "ok", "Nothing changed.")
		return redirect(w, r, "/privacy#visibility")
	}
	_, err = s.svc.SetVisibility(ctx(r), rq.member, changed)
	return s.privacyFlash(w, r, rq, err, "Who sees your data was saved.", "/privacy#visibility")
}

// ---- Disclosure requests ----

type disclosureRow struct {
	ID, Requester, Subject string
	Fields                 []fieldRow
	FieldList, Granted     string
	Reason, State          string
	Created, Until         string
	Active                 bool
	Pending                bool
	Expired                bool
}

func disclosureRowOf(d *coffer.DisclosureRequest, loc *time.Location, now time.Time) disclosureRow {
	row := disclosureRow{ID: d.ID, Requester: d.Requester, Subject: d.Subject, FieldList: fieldLabelList(d.Fields),
		Granted: fieldLabelList(d.Granted), Reason: d.Reason, State: d.State, Created: formatTime(d.CreatedAt, loc),
		Active: d.Active(now), Pending: d.State == coffer.DisclosurePending}
	row.Expired = d.State == coffer.DisclosureGranted && !row.Active
	if !d.Until.IsZero() {
		row.Until = formatTime(d.Until, loc)
	}
	for _, f := range d.Fields {
		row.Fields = append(row.Fields, fieldRow{Field: f, Label: fieldLabel(f)})
	}
	return row
}

func (s *Server) disclosuresPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	about, err := s.svc.DisclosureRequests(ctx(r), rq.member, "subject")
	if err != nil {
		return err
	}
	mine, err := s.svc.DisclosureRequests(ctx(r), rq.member, "requester")
	if err != nil {
		return err
	}
	now := time.Now()
	data := struct {
		Pending, Grants, Past, Mine []disclosureRow
		Tomorrow                    string
	}{Tomorrow: now.In(rq.loc).AddDate(0, 0, 1).Format("2006-01-02")}
	for _, d := range about {
		row := disclosureRowOf(d, rq.loc, now)
		switch {
		case row.Pending:
			data.Pending = append(data.Pending, row)
		case row.Active:
			data.Grants = append(data.Grants, row)
		default:
			data.Past = append(data.Past, row)
		}
	}
	for _, d := range mine {
		data.Mine = append(data.Mine, disclosureRowOf(d, rq.loc, now))
	}
	return s.render(w, rq, "disclosures", "Disclosure requests", "privacy", data)
}

func (s *Server) grantDisclosure(w http.ResponseWriter, r *http.Request, rq *request) error {
	var until time.Time
	if v := strings.TrimSpace(r.PostForm.Get("until")); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, rq.loc)
		if err != nil {
			setFlash(w, rq, "error", "The end date must look like 2026-01-31.")
			return redirect(w, r, "/disclosures")
		}
		until = d.AddDate(0, 0, 1) // to the end of that day
	}
	fields := r.PostForm["field"]
	if len(fields) == 0 {
		setFlash(w, rq, "error", "Tick at least one field to grant, or refuse the request.")
		return redirect(w, r, "/disclosures")
	}
	_, err := s.svc.GrantDisclosure(ctx(r), rq.member, r.PathValue("request_id"), fields, until)
	return s.privacyFlash(w, r, rq, err, "The request was granted.", "/disclosures")
}

func (s *Server) refuseDisclosure(w http.ResponseWriter, r *http.Request, rq *request) error {
	_, err := s.svc.RefuseDisclosure(ctx(r), rq.member, r.PathValue("request_id"))
	return s.privacyFlash(w, r, rq, err, "The request was refused.", "/disclosures")
}

func (s *Server) revokeDisclosure(w http.ResponseWriter, r *http.Request, rq *request) error {
	_, err := s.svc.RevokeDisclosure(ctx(r), rq.member, r.PathValue("request_id"))
	return s.privacyFlash(w, r, rq, err, "The grant was revoked: the member no longer sees those fields.", "/disclosures")
}

// ---- Contacts ----

func (s *Server) contactsPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	list, err := s.svc.Contacts(ctx(r), rq.member)
	if err != nil {
		return err
	}
	st, err := s.svc.MemberStatus(ctx(r), rq.member)
	if err != nil {
		return err
	}
	type row struct{ ID, Note, Added, Remove string }
	data := struct {
		Contacts     []row
		OnlyContacts bool
	}{OnlyContacts: st.OnlyContacts}
	for _, c := range list {
		data.Contacts = append(data.Contacts, row{ID: c.ContactID, Note: c.Note, Added: formatTime(c.CreatedAt, rq.loc),
			Remove: "/contacts/" + url.PathEscape(c.ContactID) + "/remove"})
	}
	return s.render(w, rq, "contacts", "Contacts", "privacy", data)
}

func (s *Server) addContact(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := strings.TrimSpace(r.PostForm.Get("member_id"))
	if !coffer.ValidMemberID(id) {
		setFlash(w, rq, "error", "A member ID is 12 digits.")
		return redirect(w, r, "/contacts")
	}
	_, err := s.svc.AddContact(ctx(r), rq.member, id, r.PostForm.Get("note"))
	return s.privacyFlash(w, r, rq, err, "Member "+id+" is now one of your contacts.", "/contacts")
}

func (s *Server) removeContact(w http.ResponseWriter, r *http.Request, rq *request) error {
	err := s.svc.RemoveContact(ctx(r), rq.member, r.PathValue("member_id"))
	return s.privacyFlash(w, r, rq, err, "The contact was removed.", "/contacts")
}

func (s *Server) setOnlyContacts(w http.ResponseWriter, r *http.Request, rq *request) error {
	on := r.PostForm.Get("only_contacts") == "on"
	msg := "Anyone may send you money, invoices and disclosure requests again."
	if on {
		msg = "Only your contacts may send you money, invoices and disclosure requests now."
	}
	return s.privacyFlash(w, r, rq, s.svc.SetOnlyContacts(ctx(r), rq.member, on), msg, "/contacts")
}
