package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Profile fields, as the server names them.
const (
	FieldFirstName     = "first_name"
	FieldLastName      = "last_name"
	FieldEmail         = "email"
	FieldPhone         = "phone"
	FieldPostalAddress = "postal_address"
	FieldCity          = "city"
	FieldCountry       = "country"
	FieldDateOfBirth   = "date_of_birth"
	FieldDocument      = "document_number"
	FieldLinkedIDs     = "linked_member_ids"
)

// ProfileFields lists every profile field in display order.
var ProfileFields = []string{FieldFirstName, FieldLastName, FieldEmail, FieldPhone, FieldPostalAddress, FieldCity,
	FieldCountry, FieldDateOfBirth, FieldDocument, FieldLinkedIDs}

// Visibilities of a profile field.
const (
	VisibleEveryone       = "everyone"
	VisibleCounterparties = "counterparties"
	VisibleOnRequest      = "on_request"
	VisibleNobody         = "nobody"
)

// ValidVisibility reports whether v is a visibility the server accepts.
func ValidVisibility(v string) bool {
	switch v {
	case VisibleEveryone, VisibleCounterparties, VisibleOnRequest, VisibleNobody:
		return true
	}
	return false
}

// KnownField reports whether f names a profile field.
func KnownField(f string) bool {
	for _, k := range ProfileFields {
		if k == f {
			return true
		}
	}
	return false
}

// Fields are profile values: text per field, except linked_member_ids,
// which is a list of member IDs.
type Fields struct {
	Values          map[string]string
	LinkedMemberIDs []string
}

// UnmarshalJSON reads {"field": "value", "linked_member_ids": [...]}.
func (f *Fields) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	f.Values = map[string]string{}
	for k, v := range raw {
		if k == FieldLinkedIDs {
			if err := json.Unmarshal(v, &f.LinkedMemberIDs); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		f.Values[k] = s
	}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (f Fields) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range f.Values {
		m[k] = v
	}
	if len(f.LinkedMemberIDs) > 0 {
		m[FieldLinkedIDs] = f.LinkedMemberIDs
	}
	return json.Marshal(m)
}

// Profile is the member's own data and who may see each field.
type Profile struct {
	Values     Fields            `json:"values"`
	Visibility map[string]string `json:"visibility"`
}

// Profile returns the member's own profile. Codes: unauthorized.
func (c *Client) Profile(ctx context.Context) (*Profile, error) {
	var p Profile
	if _, err := c.do(ctx, http.MethodGet, "/v1/profile", nil, nil, &p); err != nil {
		return nil, fmt.Errorf("get profile: %w", err)
	}
	return &p, nil
}

// SetProfile sets the given fields ("" deletes one) and returns the
// profile. Codes: invalid_request, unauthorized.
func (c *Client) SetProfile(ctx context.Context, values map[string]string) (*Profile, error) {
	body := struct {
		Values map[string]string `json:"values"`
	}{values}
	var p Profile
	if _, err := c.do(ctx, http.MethodPut, "/v1/profile", nil, body, &p); err != nil {
		return nil, fmt.Errorf("set profile: %w", err)
	}
	return &p, nil
}

// Visibility returns who may see each field of the member's profile.
func (c *Client) Visibility(ctx context.Context) (map[string]string, error) {
	var v map[string]string
	if _, err := c.do(ctx, http.MethodGet, "/v1/profile/visibility", nil, nil, &v); err != nil {
		return nil, fmt.Errorf("get visibility: %w", err)
	}
	return v, nil
}

// SetVisibility sets who may see the given fields and returns every
// field's visibility. Codes: invalid_request, unauthorized.
func (c *Client) SetVisibility(ctx context.Context, vis map[string]string) (map[string]string, error) {
	var v map[string]string
	if _, err := c.do(ctx, http.MethodPut, "/v1/profile/visibility", nil, vis, &v); err != nil {
		return nil, fmt.Errorf("set visibility: %w", err)
	}
	return v, nil
}

// MemberView is what the member may see of another member.
type MemberView struct {
	MemberID   string `json:"member_id"`
	Level      string `json:"level"`
	Registered string `json:"registered"` // YYYY-MM-DD
	Fields     Fields `json:"fields"`
}

// Member returns what the member may see of memberID. An unknown, closed
// or hidden member is not_found alike. Codes: not_found, rate_limited.
func (c *Client) Member(ctx context.Context, memberID string) (*MemberView, error) {
	if err := need("member ID", memberID); err != nil {
		return nil, err
	}
	var v MemberView
	if _, err := c.do(ctx, http.MethodGet, "/v1/members/"+seg(memberID), nil, nil, &v); err != nil {
		return nil, fmt.Errorf("look up member %s: %w", memberID, err)
	}
	return &v, nil
}

// Check results per field.
const (
	CheckMatch   = "match"
	CheckNoMatch = "no_match"
)

// CheckMember compares values with memberID's profile and returns match
// or no_match per field, never the values. Only verified merchants may
// check. Codes: level_too_low, not_found, rate_limited, invalid_request.
func (c *Client) CheckMember(ctx context.Context, memberID string, fields map[string]string) (map[string]string, error) {
	if err := need("member ID", memberID); err != nil {
		return nil, err
	}
	body := struct {
		Fields map[string]string `json:"fields"`
	}{fields}
	var out struct {
		Results map[string]string `json:"results"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/members/"+seg(memberID)+"/check", nil, body, &out); err != nil {
		return nil, fmt.Errorf("check member %s: %w", memberID, err)
	}
	return out.Results, nil
}

// Disclosure is a request to see a member's hidden fields; once granted,
// Granted lists what the requester sees, until Until (nil: until revoked).
type Disclosure struct {
	RequestID string     `json:"request_id"`
	Requester string     `json:"requester"`
	Subject   string     `json:"subject"`
	Fields    []string   `json:"fields"`
	Reason    string     `json:"reason"`
	State     string     `json:"state"` // pending, granted, refused, revoked
	Granted   []string   `json:"granted,omitempty"`
	Until     *time.Time `json:"until,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// RequestDisclosure asks memberID to let the member see fields. Only a
// counterparty may ask; an unknown or closed member answers as one who is
// no counterparty. Codes: forbidden, not_a_contact, rate_limited,
// invalid_request.
func (c *Client) RequestDisclosure(ctx context.Context, memberID string, fields []string, reason string) (*Disclosure, error) {
	if err := need("member ID", memberID); err != nil {
		return nil, err
	}
	body := struct {
		Fields []string `json:"fields"`
		Reason string   `json:"reason"`
	}{fields, reason}
	var d Disclosure
	if _, err := c.do(ctx, http.MethodPost, "/v1/members/"+seg(memberID)+"/disclosure-requests", nil, body, &d); err != nil {
		return nil, fmt.Errorf("ask member %s for disclosure: %w", memberID, err)
	}
	return &d, nil
}

// Disclosures lists the requests about the member (role "subject", the
// default) or made by the member ("requester"), newest first.
func (c *Client) Disclosures(ctx context.Context, role string) ([]Disclosure, error) {
	var q url.Values
	if role != "" {
		q = url.Values{"role": {role}}
	}
	var out struct {
		Requests []Disclosure `json:"requests"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/disclosure-requests", q, nil, &out); err != nil {
		return nil, fmt.Errorf("list disclosure requests: %w", err)
	}
	return out.Requests, nil
}

// GrantDisclosure grants a request about the member: fields (a subset of
// those asked for; nil for all) until until (nil: until revoked).
// Codes: not_found, conflict, invalid_request.
func (c *Client) GrantDisclosure(ctx context.Context, id string, fields []string, until *time.Time) (*Disclosure, error) {
	if err := need("request ID", id); err != nil {
		return nil, err
	}
	body := struct {
		Fields []string   `json:"fields,omitempty"`
		Until  *time.Time `json:"until,omitempty"`
	}{fields, until}
	var d Disclosure
	if _, err := c.do(ctx, http.MethodPost, "/v1/disclosure-requests/"+seg(id)+"/grant", nil, body, &d); err != nil {
		return nil, fmt.Errorf("grant %s: %w", id, err)
	}
	return &d, nil
}

// RefuseDisclosure refuses a pending request. Codes: not_found, conflict.
func (c *Client) RefuseDisclosure(ctx context.Context, id string) (*Disclosure, error) {
	return c.decideDisclosure(ctx, id, "refuse")
}

// RevokeDisclosure ends a grant at once. Codes: not_found, conflict.
func (c *Client) RevokeDisclosure(ctx context.Context, id string) (*Disclosure, error) {
	return c.decideDisclosure(ctx, id, "revoke")
}

func (c *Client) decideDisclosure(ctx context.Context, id, action string) (*Disclosure, error) {
	if err := need("request ID", id); err != nil {
		return nil, err
	}
	var d Disclosure
	if _, err := c.do(ctx, http.MethodPost, "/v1/disclosure-requests/"+seg(id)+"/"+action, nil, struct{}{}, &d); err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, id, err)
	}
	return &d, nil
}

// Contact is one of the member's contacts.
type Contact struct {
	MemberID  string    `json:"member_id"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
}

// ContactList is the member's contacts and whether only they may send
// transfers, invoices and disclosure requests.
type ContactList struct {
	Contacts     []Contact `json:"contacts"`
	OnlyContacts bool      `json:"only_contacts"`
}

// Contacts lists the member's contacts.
func (c *Client) Contacts(ctx context.Context) (*ContactList, error) {
	var l ContactList
	if _, err := c.do(ctx, http.MethodGet, "/v1/contacts", nil, nil, &l); err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return &l, nil
}

// AddContact adds memberID (with a note) to the contacts.
// Codes: not_found, invalid_request, rate_limited (lookups of members).
func (c *Client) AddContact(ctx context.Context, memberID, note string) (*Contact, error) {
	body := struct {
		MemberID string `json:"member_id"`
		Note     string `json:"note,omitempty"`
	}{memberID, note}
	var ct Contact
	if _, err := c.do(ctx, http.MethodPost, "/v1/contacts", nil, body, &ct); err != nil {
		return nil, fmt.Errorf("add contact %s: %w", memberID, err)
	}
	return &ct, nil
}

// RemoveContact removes a contact. Codes: not_found.
func (c *Client) RemoveContact(ctx context.Context, memberID string) error {
	if err := need("member ID", memberID); err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/contacts/"+seg(memberID), nil, nil, nil); err != nil {
		return fmt.Errorf("remove contact %s: %w", memberID, err)
	}
	return nil
}

// SetOnlyContacts turns the restriction to contacts on or off.
func (c *Client) SetOnlyContacts(ctx context.Context, on bool) error {
	body := struct {
		OnlyContacts bool `json:"only_contacts"`
	}{on}
	if _, err := c.do(ctx, http.MethodPut, "/v1/contacts/restriction", nil, body, nil); err != nil {
		return fmt.Errorf("set the restriction to contacts: %w", err)
	}
	return nil
}

// MaxDocumentSize is the largest document the server accepts.
const MaxDocumentSize = 5 << 20

// Document is an uploaded document's metadata.
type Document struct {
	DocumentID  string    `json:"document_id"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

// UploadDocument uploads a scan (JPEG, PNG or PDF, at most 5 MiB) for a
// verification request; it is held until SubmitVerification names it.
// Codes: invalid_request, request_too_large, rate_limited (too many
// documents waiting), upload_quota_exceeded (too many bytes waiting).
func (c *Client) UploadDocument(ctx context.Context, content []byte) (*Document, error) {
	if len(content) > MaxDocumentSize {
		return nil, fmt.Errorf("upload document: %d bytes is more than the %d MiB allowed", len(content), MaxDocumentSize>>20)
	}
	var d Document
	if _, _, err := c.raw(ctx, http.MethodPost, "/v1/verification/documents", content, "application/octet-stream", MaxResponseSize, &d); err != nil {
		return nil, fmt.Errorf("upload document: %w", err)
	}
	return &d, nil
}

// Verification is a request for a registrar's review.
type Verification struct {
	RequestID      string            `json:"request_id"`
	MemberID       string            `json:"member_id"`
	State          string            `json:"state"` // pending, approved, rejected
	LevelRequested string            `json:"level_requested,omitempty"`
	Level          string            `json:"level,omitempty"` // granted on approval
	Reason         string            `json:"reason,omitempty"`
	Reviewer       string            `json:"reviewer,omitempty"`
	Values         map[string]string `json:"values,omitempty"`
	Documents      []Document        `json:"documents"`
	CreatedAt      time.Time         `json:"created_at"`
	DecidedAt      *time.Time        `json:"decided_at,omitempty"`
}

// SubmitVerification asks for a review of the member's current profile
// values with the documents uploaded. Codes: conflict (one is pending),
// invalid_request.
func (c *Client) SubmitVerification(ctx context.Context, documents []string, levelRequested string) (*Verification, error) {
	if documents == nil {
		documents = []string{}
	}
	body := struct {
		Documents      []string `json:"documents"`
		LevelRequested string   `json:"level_requested,omitempty"`
	}{documents, levelRequested}
	var v Verification
	if _, err := c.do(ctx, http.MethodPost, "/v1/verification", nil, body, &v); err != nil {
		return nil, fmt.Errorf("submit verification: %w", err)
	}
	return &v, nil
}

// LevelInfo is what a verification level allows.
type LevelInfo struct {
	Name       string            `json:"name"`
	Rank       int               `json:"rank"`
	DailyLimit map[string]string `json:"daily_limit"` // per currency; nil: no limit
	Merchant   bool              `json:"merchant"`
	Issuer     bool              `json:"issuer"`
}

// VerificationStatus is the member's level and verification requests.
type VerificationStatus struct {
	Level          string         `json:"level"`
	LevelChangedAt *time.Time     `json:"level_changed_at,omitempty"`
	Allows         *LevelInfo     `json:"allows,omitempty"`
	Requests       []Verification `json:"requests"`
}

// VerificationStatus returns the member's level and requests.
func (c *Client) VerificationStatus(ctx context.Context) (*VerificationStatus, error) {
	var v VerificationStatus
	if _, err := c.do(ctx, http.MethodGet, "/v1/verification", nil, nil, &v); err != nil {
		return nil, fmt.Errorf("get verification status: %w", err)
	}
	return &v, nil
}

// RegistrarQueue lists verification requests in state (pending when ""),
// oldest first, without personal data. Non-registrars get not_found.
func (c *Client) RegistrarQueue(ctx context.Context, state string) ([]Verification, error) {
	var q url.Values
	if state != "" {
		q = url.Values{"state": {state}}
	}
	var out struct {
		Requests []Verification `json:"requests"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/registrar/requests", q, nil, &out); err != nil {
		return nil, fmt.Errorf("registrar queue: %w", err)
	}
	return out.Requests, nil
}

// RegistrarRequest returns one request with its values and documents'
// metadata. Codes: not_found, forbidden (own or linked member).
func (c *Client) RegistrarRequest(ctx context.Context, id string) (*Verification, error) {
	if err := need("request ID", id); err != nil {
		return nil, err
	}
	var v Verification
	if _, err := c.do(ctx, http.MethodGet, "/v1/registrar/requests/"+seg(id), nil, nil, &v); err != nil {
		return nil, fmt.Errorf("registrar request %s: %w", id, err)
	}
	return &v, nil
}

// RegistrarDocument returns a document's content and type.
// Codes: not_found, forbidden.
func (c *Client) RegistrarDocument(ctx context.Context, id string) (contentType string, content []byte, err error) {
	if err := need("document ID", id); err != nil {
		return "", nil, err
	}
	h, data, err := c.raw(ctx, http.MethodGet, "/v1/registrar/documents/"+seg(id), nil, "", MaxDocumentSize+1, nil)
	if err != nil {
		return "", nil, fmt.Errorf("document %s: %w", id, err)
	}
	return h.Get("Content-Type"), data, nil
}

// ApproveVerification approves a pending request at level.
// Codes: not_found, forbidden, conflict, invalid_request.
func (c *Client) ApproveVerification(ctx context.Context, id, level string) (*Verification, error) {
	return c.decideVerification(ctx, id, "approve", struct {
		Level string `json:"level"`
	}{level})
}

// RejectVerification rejects a pending request for reason.
func (c *Client) RejectVerification(ctx context.Context, id, reason string) (*Verification, error) {
	return c.decideVerification(ctx, id, "reject", struct {
		Reason string `json:"reason"`
	}{reason})
}

func (c *Client) decideVerification(ctx context.Context, id, action string, body any) (*Verification, error) {
	if err := need("request ID", id); err != nil {
		return nil, err
	}
	var v Verification
	if _, err := c.do(ctx, http.MethodPost, "/v1/registrar/requests/"+seg(id)+"/"+action, nil, body, &v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, id, err)
	}
	return &v, nil
}

// SetMemberLevel raises or lowers a member's level at once, for reason,
// and returns the level set. Codes: not_found, forbidden, invalid_request.
func (c *Client) SetMemberLevel(ctx context.Context, memberID, level, reason string) (string, error) {
	if err := need("member ID", memberID); err != nil {
		return "", err
	}
	body := struct {
		Level  string `json:"level"`
		Reason string `json:"reason"`
	}{level, reason}
	var out struct {
		Level string `json:"level"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/registrar/members/"+seg(memberID)+"/level", nil, body, &out); err != nil {
		return "", fmt.Errorf("set the level of %s: %w", memberID, err)
	}
	return out.Level, nil
}

// LinkMembers records that the member IDs belong to one person and
// returns the person's ID. Codes: conflict, forbidden, invalid_request.
func (c *Client) LinkMembers(ctx context.Context, memberIDs []string) (string, error) {
	body := struct {
		MemberIDs []string `json:"member_ids"`
	}{memberIDs}
	var out struct {
		PersonID string `json:"person_id"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/registrar/persons", nil, body, &out); err != nil {
		return "", fmt.Errorf("link members: %w", err)
	}
	return out.PersonID, nil
}

// MaxExportSize bounds an account export the client reads.
const MaxExportSize = 256 << 20

// ExportAccount returns everything the server stores about the member,
// as the server's JSON document.
func (c *Client) ExportAccount(ctx context.Context) (json.RawMessage, error) {
	_, data, err := c.raw(ctx, http.MethodGet, "/v1/account/export", nil, "", MaxExportSize, nil)
	if err != nil {
		return nil, fmt.Errorf("export account: %w", err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("export account: the answer is not JSON")
	}
	return data, nil
}

// CloseAccount closes the member's account for good. It needs a password
// session and, with a second factor, WithConfirmation. Codes:
// confirmation_required, invalid_request (money left), forbidden.
func (c *Client) CloseAccount(ctx context.Context) error {
	if _, err := c.do(ctx, http.MethodPost, "/v1/account/close", nil, struct{}{}, nil); err != nil {
		return fmt.Errorf("close account: %w", err)
	}
	return nil
}

// raw sends body as it is (when not nil) and returns the answer's
// headers and body, read up to limit bytes; a JSON answer is decoded
// into out when out is not nil.
func (c *Client) raw(ctx context.Context, method, path string, body []byte, contentType string, limit int64, out any) (http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, path, nil, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response of %s %s: %w", method, path, err)
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("response of %s %s exceeds %d bytes", method, path, limit)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, decodeError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, nil, fmt.Errorf("decode response of %s %s: %w", method, path, err)
		}
	}
	return resp.Header, data, nil
}
