package coffer

import (
	"context"
	"time"
)

// Verification levels, from least to most checked. Operators may rename
// them or add their own (ranks in between) in configuration; the ranks of
// these four are fixed.
const (
	LevelPseudonymous = "pseudonymous" // at registration
	LevelFormal       = "formal"       // the member entered personal data
	LevelInitial      = "initial"      // a registrar checked it against documents
	LevelPersonal     = "personal"     // checked in person by a registrar
)

// Roles a member may hold, granted by the operator.
const (
	RoleRegistrar = "registrar"
)

// Profile fields. Values are text; DateOfBirth is YYYY-MM-DD.
const (
	FieldFirstName     = "first_name"
	FieldLastName      = "last_name"
	FieldEmail         = "email" // the login e-mail
	FieldPhone         = "phone" // the login phone
	FieldPostalAddress = "postal_address"
	FieldCity          = "city"
	FieldCountry       = "country"
	FieldDateOfBirth   = "date_of_birth"
	FieldDocument      = "document_number"
	FieldLinkedIDs     = "linked_member_ids" // the other member IDs of the same verified person
)

// ProfileFields lists every field in display order.
var ProfileFields = []string{FieldFirstName, FieldLastName, FieldEmail, FieldPhone, FieldPostalAddress, FieldCity, FieldCountry, FieldDateOfBirth, FieldDocument, FieldLinkedIDs}

// Visibility of a profile field.
const (
	VisibleEveryone       = "everyone"
	VisibleCounterparties = "counterparties" // members who have transacted with the member
	VisibleOnRequest      = "on_request"     // only through a granted disclosure request
	VisibleNobody         = "nobody"         // the default
)

// Profile is a member's personal data and who may see each field. Values
// holds only fields the member entered (e-mail and phone come from the
// member record); Visibility holds only fields set to something other than
// VisibleNobody.
type Profile struct {
	MemberID   string
	Values     map[string]string
	Visibility map[string]string
	UpdatedAt  time.Time
}

// MemberStatus is what the system records about a member beyond login:
// level, when it changed, roles, restrictions, and whether the account was
// closed.
type MemberStatus struct {
	MemberID       string
	Level          string
	LevelChangedAt time.Time
	Roles          []string
	// Only contacts may send transfers, invoices or disclosure requests.
	OnlyContacts bool
	ClosedAt     time.Time
	CreatedAt    time.Time
}

// Verification request states.
const (
	VerificationPending  = "pending"
	VerificationApproved = "approved"
	VerificationRejected = "rejected"
)

// VerificationRequest is a member's submission for a registrar's review:
// a snapshot of the profile values and the documents uploaded for it.
type VerificationRequest struct {
	ID        string
	MemberID  string
	Values    map[string]string // profile values as submitted
	State     string
	Level     string // the level granted on approval
	Reviewer  string // registrar member ID
	Reason    string // of a rejection
	CreatedAt time.Time
	DecidedAt time.Time
	Documents []*Document // metadata only (Content nil) in lists
}

// CheckDecision reports whether r, a registrar's decision on a request, is
// one that can be recorded: an approval with the level it grants, or a
// rejection. Errors: ErrApprovalWithoutLevel, ErrNotADecision.
func (r *VerificationRequest) CheckDecision() error {
	switch r.State {
	case VerificationApproved:
		if r.Level == "" {
			return ErrApprovalWithoutLevel
		}
	case VerificationRejected:
	default:
		return ErrNotADecision
	}
	return nil
}

// Document is an uploaded scan. Content is the plaintext; stores keep it
// only sealed (Sealed), never in the clear.
type Document struct {
	ID          string
	MemberID    string
	RequestID   string
	ContentType string // image/jpeg, image/png or application/pdf, from the content
	Size        int64
	SHA256      []byte
	Sealed      []byte // AES-GCM sealed content, as stored
	CreatedAt   time.Time
}

// Disclosure request states.
const (
	DisclosurePending = "pending"
	DisclosureGranted = "granted"
	DisclosureRefused = "refused"
	DisclosureRevoked = "revoked"
)

// DisclosureRequest is a counterparty asking to see named fields. Once
// granted it is the grant: Granted lists the fields allowed, Until when
// the grant ends (zero: no end).
type DisclosureRequest struct {
	ID        string
	Requester string
	Subject   string // the member whose data is asked for
	Fields    []string
	Reason    string
	State     string
	Granted   []string
	Until     time.Time
	CreatedAt time.Time
	DecidedAt time.Time
}

// Active reports whether the grant lets the requester see fields at now.
func (d *DisclosureRequest) Active(now time.Time) bool {
	return d.State == DisclosureGranted && (d.Until.IsZero() || now.Before(d.Until))
}

// DisclosureMove reports whether a decision may move a disclosure request
// from state from to state to: granted or refused from pending, revoked
// from granted.
func DisclosureMove(from, to string) bool {
	switch to {
	case DisclosureGranted, DisclosureRefused:
		return from == DisclosurePending
	case DisclosureRevoked:
		return from == DisclosureGranted
	}
	return false
}

// Contact is one entry of a member's list of correspondents.
type Contact struct {
	MemberID  string
	ContactID string
	Note      string
	CreatedAt time.Time
}

// IdentityStore is the persistence of verification and confidentiality.
// Errors as for Store; ENOTFOUND for unknown IDs.
type IdentityStore interface {
	// MemberStatus returns a member's level, roles and restrictions.
	// A member without a status row has LevelPseudonymous. Errors:
	// ENOTFOUND when there is no such member.
	MemberStatus(ctx context.Context, memberID string) (*MemberStatus, error)
	// SetLevel records a member's level (with the audit event).
	SetLevel(ctx context.Context, memberID, level string, at time.Time, ev *AuditEvent) error
	// SetRole grants (on) or takes away a role.
	SetRole(ctx context.Context, memberID, role string, on bool, ev *AuditEvent) error
	// MembersWithRole lists the member IDs holding role.
	MembersWithRole(ctx context.Context, role string) ([]string, error)
	SetOnlyContacts(ctx context.Context, memberID string, on bool, ev *AuditEvent) error

	// Profile returns the member's profile (empty maps when none).
	Profile(ctx context.Context, memberID string) (*Profile, error)
	// SetProfileValues replaces the given fields' values ("" deletes one).
	SetProfileValues(ctx context.Context, memberID string, values map[string]string, at time.Time, ev *AuditEvent) error
	// SetVisibility sets the given fields' visibility.
	SetVisibility(ctx context.Context, memberID string, vis map[string]string, at time.Time, ev *AuditEvent) error

	// Counterparties reports whether a and b have a transfer between them
	// in either direction.
	Counterparties(ctx context.Context, a, b string) (bool, error)

	// CreateVerificationRequest stores a request with its documents
	// (sealed). Errors: ErrVerificationPending (ECONFLICT) when the member
	// has a pending one, ErrRequestIDTaken (ECONFLICT), ENOTFOUND for an
	// unknown member.
	CreateVerificationRequest(ctx context.Context, r *VerificationRequest, ev *AuditEvent) error
	// VerificationRequest returns a request with its documents' metadata.
	VerificationRequest(ctx context.Context, id string) (*VerificationRequest, error)
	// VerificationRequests lists requests in a state (all when ""), for
	// memberID only when not "", oldest first.
	VerificationRequests(ctx context.Context, state, memberID string, limit int) ([]*VerificationRequest, error)
	// DecideVerification moves a pending request to approved or rejected,
	// and on approval sets the member's level, in one transaction; false
	// when it was not pending. Errors: those of CheckDecision (EINVALID),
	// ENOTFOUND for an unknown request.
	DecideVerification(ctx context.Context, r *VerificationRequest, ev *AuditEvent) (bool, error)
	// Document returns a document with its sealed content.
	Document(ctx context.Context, id string) (*Document, error)

	// LinkMembers records that the member IDs belong to one verified
	// person (creating or extending that person). Errors:
	// ErrDifferentPersons (ECONFLICT) when they already belong to different
	// persons, ErrNoMemberIDs (EINVALID) for an empty list, ENOTFOUND when
	// one is unknown.
	LinkMembers(ctx context.Context, memberIDs []string, at time.Time, ev *AuditEvent) (personID string, err error)
	// LinkedMembers returns the other member IDs of the member's person.
	LinkedMembers(ctx context.Context, memberID string) ([]string, error)

	// CreateDisclosureRequest errors: ErrRequesterDisclosureLimit
	// (ELIMITEXCEEDED) beyond maxPerDay requests by the requester in the 24
	// hours before r.CreatedAt, ErrSubjectDisclosureLimit (ELIMITEXCEEDED)
	// beyond maxPerSubjectDay to the subject from anyone (a limit <= 0 is
	// none), ENOTFOUND for an unknown member, ECONFLICT for a taken ID.
	CreateDisclosureRequest(ctx context.Context, r *DisclosureRequest, maxPerDay, maxPerSubjectDay int, ev *AuditEvent) error
	DisclosureRequest(ctx context.Context, id string) (*DisclosureRequest, error)
	// DisclosureRequests lists requests made by (asRequester) or about a
	// member, newest first.
	DisclosureRequests(ctx context.Context, memberID string, asRequester bool) ([]*DisclosureRequest, error)
	// DecideDisclosure records a decision (granted, refused, revoked) if the
	// state allows it (granted/refused from pending, revoked from granted);
	// false otherwise.
	DecideDisclosure(ctx context.Context, r *DisclosureRequest, from string, ev *AuditEvent) (bool, error)
	// ActiveGrants returns the grants from subject to requester active at now.
	ActiveGrants(ctx context.Context, subject, requester string, now time.Time) ([]*DisclosureRequest, error)

	AddContact(ctx context.Context, c *Contact) error
	RemoveContact(ctx context.Context, memberID, contactID string) (bool, error)
	Contacts(ctx context.Context, memberID string) ([]*Contact, error)
	IsContact(ctx context.Context, memberID, contactID string) (bool, error)

	// CloseMember erases what identifies the member (e-mail, phone,
	// password, profile, documents, sessions; keys and certificates are
	// revoked) and marks the account closed, keeping the ledger. Errors:
	// ErrPursesNotEmpty (EINVALID) unless every purse of the member is
	// empty (no balance, nothing held), ErrSentTransferHeld (EINVALID)
	// while a protected transfer the member sent is held,
	// ErrAccountClosed (ECLOSED), ENOTFOUND for an unknown member.
	CloseMember(ctx context.Context, memberID string, at time.Time, ev *AuditEvent) error
}

// Facts an IdentityStore reports as errors, each with its code; the
// service words them for members (compare with errors.Is).
var (
	ErrVerificationPending      = &Error{Code: ECONFLICT, Message: "a verification request of the member is pending"}
	ErrRequestIDTaken           = &Error{Code: ECONFLICT, Message: "the request ID is taken"}
	ErrApprovalWithoutLevel     = &Error{Code: EINVALID, Message: "an approval names no level"}
	ErrNotADecision             = &Error{Code: EINVALID, Message: "a decision neither approves nor rejects"}
	ErrNoMemberIDs              = &Error{Code: EINVALID, Message: "no member IDs to link"}
	ErrDifferentPersons         = &Error{Code: ECONFLICT, Message: "the member IDs belong to different persons"}
	ErrRequesterDisclosureLimit = &Error{Code: ELIMITEXCEEDED, Message: "the requester's disclosure requests reached the daily limit"}
	ErrSubjectDisclosureLimit   = &Error{Code: ELIMITEXCEEDED, Message: "the subject's disclosure requests reached the daily limit"}
	ErrAccountClosed            = &Error{Code: ECLOSED, Message: "the account is closed"}
	ErrPursesNotEmpty           = &Error{Code: EINVALID, Message: "a purse of the member holds money"}
	ErrSentTransferHeld         = &Error{Code: EINVALID, Message: "a protected transfer the member sent is held"}
)

// Error codes of verification and confidentiality.
const (
	ENOTACONTACT = "not_a_contact"  // the member accepts this only from their contacts
	ELEVELTOOLOW = "level_too_low"  // the member's verification level does not allow it
	ECLOSED      = "account_closed" // the account was closed
	// EUPLOADQUOTA: the documents waiting for a verification request, of
	// the member or from their address, would take more bytes than allowed.
	EUPLOADQUOTA = "upload_quota_exceeded"
)

// Audit event kinds of verification and confidentiality.
const (
	AuditProfileChanged        = "profile.changed"
	AuditVisibilityChanged     = "profile.visibility_changed"
	AuditVerificationRequested = "verification.requested"
	AuditVerificationApproved  = "verification.approved"
	AuditVerificationRejected  = "verification.rejected"
	AuditLevelChanged          = "verification.level_changed"
	AuditRoleChanged           = "admin.role_changed"
	AuditMembersLinked         = "verification.members_linked"
	AuditDisclosureRequested   = "disclosure.requested"
	AuditDisclosureDecided     = "disclosure.decided" // granted, refused or revoked
	AuditDataChecked           = "profile.checked"    // a merchant checked the member's data
	AuditContactsRestricted    = "contacts.restriction_changed"
	AuditAccountExported       = "account.exported"
	AuditAccountClosed         = "account.closed"
)
