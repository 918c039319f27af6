package app

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
)

// Bounds of verification documents.
const (
	MaxDocumentBytes       = 5 << 20 // one uploaded document
	MaxDocumentsPerRequest = 5
	// uploadsPerHour bounds one member's uploads; what may wait at once is
	// bounded by UploadConfig (see uploads.go).
	uploadsPerHour = 30
)

// ID prefixes of verification requests and documents.
const (
	verificationPrefix = "ver_"
	documentPrefix     = "doc_"
)

// Audit kinds of a registrar reading a member's data; decisions use the
// domain's kinds.
const (
	AuditVerificationViewed = "verification.request_viewed"
	AuditDocumentViewed     = "verification.document_viewed"
)

// verificationState holds uploaded documents, sealed, in files of the
// upload directory until the member submits the request they belong to
// (see uploads.go). Which documents wait is known to this process only: a
// member uploads and submits through one server.
type verificationState struct {
	cfg       UploadConfig
	spoolErr  error // the upload directory could not be opened
	mu        sync.Mutex
	held      map[string]*waitingDocument // by document ID
	heldBytes int64                       // on disk
	uploads   slidingLimit
}

var errNoDocument = coffer.Errorf(coffer.ENOTFOUND, "There is no such document.")

// sniffDocument returns the type of a document from its content: JPEG, PNG
// or PDF; "" for anything else. The type the client claims is not
// trusted.
func sniffDocument(b []byte) string {
	if bytes.HasPrefix(b, []byte("%PDF-")) {
		return "application/pdf"
	}
	switch t := http.DetectContentType(b); t {
	case "image/jpeg", "image/png":
		return t
	}
	return ""
}

// documentAD binds a sealed document to its ID and member, so a sealed
// blob moved to another row or member does not open.
func documentAD(docID, memberID string) []byte {
	return []byte("coffer document v1\x00" + docID + "\x00" + memberID)
}

func (s *Service) documentAEAD() (cipher.AEAD, error) {
	if len(s.cfg.DocumentKey) != 32 {
		return nil, coffer.Errorf(coffer.EUNAVAILABLE, "This server does not accept verification documents (no documents key is configured).")
	}
	block, err := aes.NewCipher(s.cfg.DocumentKey)
	if err != nil {
		return nil, fmt.Errorf("documents key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealDocument encrypts content with AES-256-GCM: nonce ‖ ciphertext.
func (s *Service) sealDocument(d *coffer.Document, content []byte) error {
	aead, err := s.documentAEAD()
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	d.Sealed = aead.Seal(nonce, nonce, content, documentAD(d.ID, d.MemberID))
	return nil
}

// openDocument decrypts a sealed document and checks its digest.
func (s *Service) openDocument(d *coffer.Document) ([]byte, error) {
	aead, err := s.documentAEAD()
	if err != nil {
		return nil, err
	}
	if len(d.Sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("open document %s: sealed content too short", d.ID)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, d.Sealed[:n], d.Sealed[n:], documentAD(d.ID, d.MemberID))
	if err != nil {
		return nil, fmt.Errorf("open document %s (wrong documents key?): %w", d.ID, err)
	}
	if sum := sha256.Sum256(plain); !bytes.Equal(sum[:], d.SHA256) {
		return nil, fmt.Errorf("open document %s: digest mismatch", d.ID)
	}
	return plain, nil
}

// UploadDocument seals a document and keeps it, in a file of the upload
// directory, for the member's next verification request. The content must
// be a JPEG, PNG or PDF (told from the bytes, not from what the client
// says) of at most MaxDocumentBytes. What waits is bounded per member and
// per client address ip, in documents and in bytes (UploadConfig).
// Errors: EINVALID, ETOOLARGE, "unsupported_media_type", ERATELIMITED (too
// many uploads, or too many documents waiting), EUPLOADQUOTA (too many
// bytes waiting), EUNAVAILABLE.
func (s *Service) UploadDocument(ctx context.Context, memberID, ip string, content []byte) (*coffer.Document, error) {
	if len(content) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "The document is empty.")
	}
	if len(content) > MaxDocumentBytes {
		return nil, coffer.Errorf(coffer.ETOOLARGE, "A document may be at most %d MiB.", MaxDocumentBytes>>20)
	}
	ct := sniffDocument(content)
	if ct == "" {
		return nil, coffer.Errorf("unsupported_media_type", "A document must be a JPEG or PNG image or a PDF file.")
	}
	if _, err := s.documentAEAD(); err != nil {
		return nil, err
	}
	v := &s.ver
	if v.cfg.Dir == "" || v.spoolErr != nil {
		return nil, coffer.Errorf(coffer.EUNAVAILABLE, "This server does not accept verification documents (no upload directory).")
	}
	now := s.now().Truncate(time.Millisecond)
	if ok, wait := s.ver.uploads.allow(memberID, uploadsPerHour, time.Hour, now); !ok {
		return nil, &coffer.Error{Code: coffer.ERATELIMITED, Message: "You have uploaded too many documents in the last hour; try again later.", Err: &RateLimitError{RetryAfter: wait}}
	}
	sum := sha256.Sum256(content)
	d := &coffer.Document{ID: newPaymentID(documentPrefix), MemberID: memberID, ContentType: ct,
		Size: int64(len(content)), SHA256: sum[:], CreatedAt: now}
	if err := s.sealDocument(d, content); err != nil {
		return nil, err
	}
	sealed := d.Sealed
	d.Sealed = nil
	v.mu.Lock()
	if err := v.sweep(now); err != nil {
		s.log.Error("delete expired uploads", "err", err)
	}
	err := v.reserve(d, ip, int64(len(sealed)), now)
	v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Written outside the lock: the place is held, so the quotas stand.
	if err := v.writeSpooled(d.ID, sealed); err != nil {
		v.mu.Lock()
		if derr := v.drop(d.ID); derr != nil {
			s.log.Error("delete upload", "document", d.ID, "err", derr)
		}
		v.mu.Unlock()
		return nil, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The document could not be stored; try again later.", Op: "app.UploadDocument", Err: err}
	}
	return d, nil
}

// SubmitInput is a verification request as the member sends it.
type SubmitInput struct {
	Documents      []string // IDs of uploaded documents
	LevelRequested string   // optional: the level the member asks for
}

// SubmitVerification creates a verification request from the member's
// current profile values and uploaded documents, for a registrar's review.
// Errors: EINVALID, ENOTFOUND (a document is not one of the member's
// uploads), ECONFLICT (a request is already pending).
func (s *Service) SubmitVerification(ctx context.Context, memberID string, in SubmitInput) (*coffer.VerificationRequest, error) {
	if len(in.Documents) == 0 || len(in.Documents) > MaxDocumentsPerRequest {
		return nil, coffer.Errorf(coffer.EINVALID, "documents must name 1 to %d uploaded documents.", MaxDocumentsPerRequest)
	}
	if in.LevelRequested != "" {
		name, err := ValidateLevel(s.cfg.Levels, in.LevelRequested)
		if err != nil {
			return nil, coffer.Errorf(coffer.EINVALID, "level_requested: %s", coffer.ErrorMessage(err))
		}
		in.LevelRequested = name
	}
	prof, err := s.store.Profile(ctx, memberID)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldDateOfBirth} {
		if strings.TrimSpace(prof.Values[f]) == "" {
			return nil, coffer.Errorf(coffer.EINVALID, "Enter at least your first and last name and date of birth in your profile before asking for verification.")
		}
	}
	now := s.now().Truncate(time.Millisecond)
	r := &coffer.VerificationRequest{ID: newPaymentID(verificationPrefix), MemberID: memberID, Values: prof.Values,
		State: coffer.VerificationPending, Level: in.LevelRequested, CreatedAt: now}
	v := &s.ver
	notWaiting := func(id string) error {
		return coffer.Errorf(coffer.ENOTFOUND, "Document %s is not one of your uploads waiting for a request (uploads wait for %s).", trimmed(id), v.cfg.TTL)
	}
	v.mu.Lock()
	if err := v.sweep(now); err != nil {
		s.log.Error("delete expired uploads", "err", err)
	}
	for _, id := range in.Documents {
		h := v.held[id]
		if h == nil || h.doc.MemberID != memberID {
			v.mu.Unlock()
			return nil, notWaiting(id)
		}
		if slices.ContainsFunc(r.Documents, func(d *coffer.Document) bool { return d.ID == id }) {
			v.mu.Unlock()
			return nil, coffer.Errorf(coffer.EINVALID, "Document %s is named twice.", trimmed(id))
		}
		d := *h.doc
		d.RequestID = r.ID
		r.Documents = append(r.Documents, &d)
	}
	v.mu.Unlock()
	for _, d := range r.Documents {
		sealed, err := os.ReadFile(v.path(d.ID))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notWaiting(d.ID) // expired meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("read upload %s: %w", d.ID, err)
		}
		d.Sealed = sealed
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditVerificationRequested, memberID, map[string]any{"request_id": r.ID,
		"documents": len(r.Documents), "level_requested": r.Level})
	if err := s.store.CreateVerificationRequest(ctx, r, ev); err != nil {
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			return nil, coffer.Errorf(coffer.ECONFLICT, "You already have a verification request waiting for review.")
		}
		return nil, err
	}
	v.mu.Lock()
	for _, d := range r.Documents {
		if err := v.drop(d.ID); err != nil {
			s.log.Error("delete submitted upload", "document", d.ID, "err", err)
		}
	}
	v.mu.Unlock()
	for _, d := range r.Documents {
		d.Sealed = nil
	}
	return r, nil
}

// VerificationStatus is a member's own view: their level and requests.
type VerificationStatus struct {
	Status   *coffer.MemberStatus
	Level    *coffer.Level // nil without level rules
	Requests []*coffer.VerificationRequest
}

// MyVerification returns the member's level and verification requests,
// oldest first. It also raises a member who entered their personal data
// to the formal level, should that not have happened yet.
func (s *Service) MyVerification(ctx context.Context, memberID string) (*VerificationStatus, error) {
	if _, err := s.RaiseToFormal(ctx, memberID); err != nil {
		return nil, err
	}
	l, st, err := s.MemberLevel(ctx, memberID)
	if err != nil {
		return nil, err
	}
	list, err := s.store.VerificationRequests(ctx, "", memberID, 100)
	if err != nil {
		return nil, err
	}
	return &VerificationStatus{Status: st, Level: l, Requests: list}, nil
}

// RaiseToFormal raises a member below the formal level to it once their
// profile holds first and last name and date of birth (with an
// AuditLevelChanged event); true when it did. The profile endpoints call
// it after every change.
func (s *Service) RaiseToFormal(ctx context.Context, memberID string) (bool, error) {
	levels := s.cfg.Levels
	if levels == nil {
		levels = coffer.DefaultLevels()
	}
	st, err := s.store.MemberStatus(ctx, memberID)
	if err != nil {
		return false, err
	}
	formal := levels.AtRank(coffer.RankFormal)
	if !st.ClosedAt.IsZero() || levels.Resolve(st.Level).Rank >= formal.Rank {
		return false, nil
	}
	prof, err := s.store.Profile(ctx, memberID)
	if err != nil {
		return false, err
	}
	for _, f := range []string{coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldDateOfBirth} {
		if strings.TrimSpace(prof.Values[f]) == "" {
			return false, nil
		}
	}
	now := s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(now, coffer.AuditLevelChanged, memberID, map[string]any{"from": st.Level, "to": formal.Name,
		"by": "profile", "reason": "personal data entered"})
	if err := s.store.SetLevel(ctx, memberID, formal.Name, now, ev); err != nil {
		return false, err
	}
	return true, nil
}

// errNotRegistrar answers a non-registrar on registrar endpoints exactly
// like a path that does not exist.
var errNotRegistrar = coffer.Errorf(coffer.ENOTFOUND, "There is no such endpoint.")

// RequireRegistrar returns nil when the member holds the registrar role
// now (read fresh, so a removal holds at once). Errors: ENOTFOUND.
func (s *Service) RequireRegistrar(ctx context.Context, memberID string) error {
	st, err := s.store.MemberStatus(ctx, memberID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return errNotRegistrar
	} else if err != nil {
		return err
	}
	if !st.ClosedAt.IsZero() || !slices.Contains(st.Roles, coffer.RoleRegistrar) {
		return errNotRegistrar
	}
	return nil
}

// mayActOn refuses a registrar acting on their own member ID or any
// member ID linked to the same person. Errors: EFORBIDDEN.
func (s *Service) mayActOn(ctx context.Context, registrar, subject string) error {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return err
	}
	forbidden := coffer.Errorf(coffer.EFORBIDDEN, "A registrar cannot review or change their own member ID or one linked to the same person.")
	if subject == registrar {
		return forbidden
	}
	linked, err := s.store.LinkedMembers(ctx, registrar)
	if err != nil {
		return err
	}
	if slices.Contains(linked, subject) {
		return forbidden
	}
	return nil
}

var errNoRequest = coffer.Errorf(coffer.ENOTFOUND, "There is no such verification request.")

// RegistrarQueue lists verification requests in a state (pending when ""),
// oldest first. Errors: ENOTFOUND (not a registrar), EINVALID.
func (s *Service) RegistrarQueue(ctx context.Context, registrar, state string) ([]*coffer.VerificationRequest, error) {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return nil, err
	}
	switch state {
	case "":
		state = coffer.VerificationPending
	case "all":
		state = ""
	case coffer.VerificationPending, coffer.VerificationApproved, coffer.VerificationRejected:
	default:
		return nil, coffer.Errorf(coffer.EINVALID, "state must be pending, approved, rejected or all.")
	}
	return s.store.VerificationRequests(ctx, state, "", 200)
}

// RegistrarRequest returns a request with its values and documents'
// metadata for review; the reading is audited on the member's log.
// Errors: ENOTFOUND, EFORBIDDEN.
func (s *Service) RegistrarRequest(ctx context.Context, registrar, id string) (*coffer.VerificationRequest, error) {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return nil, err
	}
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayActOn(ctx, registrar, r.MemberID); err != nil {
		return nil, err
	}
	s.audit(ctx, AuditVerificationViewed, r.MemberID, map[string]any{"request_id": r.ID, "registrar": registrar})
	return r, nil
}

func (s *Service) request(ctx context.Context, id string) (*coffer.VerificationRequest, error) {
	if !validPaymentID(verificationPrefix, id) {
		return nil, errNoRequest
	}
	r, err := s.store.VerificationRequest(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, errNoRequest
	}
	return r, err
}

// RegistrarDocument decrypts a document for a registrar's review. It is
// the only place a document is ever decrypted; each reading is audited on
// the member's log. Errors: ENOTFOUND, EFORBIDDEN.
func (s *Service) RegistrarDocument(ctx context.Context, registrar, id string) (*coffer.Document, []byte, error) {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return nil, nil, err
	}
	if !validPaymentID(documentPrefix, id) {
		return nil, nil, errNoDocument
	}
	d, err := s.store.Document(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, nil, errNoDocument
	} else if err != nil {
		return nil, nil, err
	}
	if err := s.mayActOn(ctx, registrar, d.MemberID); err != nil {
		return nil, nil, err
	}
	plain, err := s.openDocument(d)
	if err != nil {
		return nil, nil, err
	}
	s.audit(ctx, AuditDocumentViewed, d.MemberID, map[string]any{"document_id": d.ID, "request_id": d.RequestID, "registrar": registrar})
	return d, plain, nil
}

// Decision is a registrar's answer to a verification request.
type Decision struct {
	Approve bool
	Level   string // granted on approval
	Reason  string // required on rejection
}

// DecideVerification approves (setting the member's level) or rejects a
// pending request. Errors: ENOTFOUND, EFORBIDDEN, EINVALID, ECONFLICT (no
// longer pending).
func (s *Service) DecideVerification(ctx context.Context, registrar, id string, d Decision) (*coffer.VerificationRequest, error) {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return nil, err
	}
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayActOn(ctx, registrar, r.MemberID); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(d.Reason)
	if len(reason) > 500 {
		return nil, coffer.Errorf(coffer.EINVALID, "reason may be at most 500 characters.")
	}
	kind := coffer.AuditVerificationRejected
	detail := map[string]any{"request_id": r.ID, "registrar": registrar}
	if d.Approve {
		if r.Level, err = ValidateLevel(s.cfg.Levels, d.Level); err != nil {
			return nil, err
		}
		r.State, kind, detail["level"] = coffer.VerificationApproved, coffer.AuditVerificationApproved, r.Level
	} else {
		if reason == "" {
			return nil, coffer.Errorf(coffer.EINVALID, "reason is required: tell the member what to correct.")
		}
		r.State, detail["reason"] = coffer.VerificationRejected, reason
	}
	if r.State == coffer.VerificationApproved {
		st, err := s.store.MemberStatus(ctx, r.MemberID)
		if err != nil {
			return nil, err
		}
		detail["from"] = st.Level
	}
	r.Reviewer, r.Reason = registrar, reason
	r.DecidedAt = s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(r.DecidedAt, kind, r.MemberID, detail)
	ok, err := s.store.DecideVerification(ctx, r, ev)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, coffer.Errorf(coffer.ECONFLICT, "The request was already decided.")
	}
	return r, nil
}

// RegistrarSetLevel raises or lowers a member's level at once.
// Errors: ENOTFOUND, EFORBIDDEN, EINVALID.
func (s *Service) RegistrarSetLevel(ctx context.Context, registrar, memberID, level, reason string) (string, error) {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return "", err
	}
	if !coffer.ValidMemberID(memberID) {
		return "", coffer.Errorf(coffer.ENOTFOUND, "There is no member %s.", trimmed(memberID))
	}
	if err := s.mayActOn(ctx, registrar, memberID); err != nil {
		return "", err
	}
	levels := s.cfg.Levels
	name, err := ValidateLevel(levels, level)
	if err != nil {
		return "", err
	}
	_, err = SetMemberLevel(ctx, s.store, levels, SetLevelInput{MemberID: memberID, Level: name, Reason: reason, By: registrar}, s.now())
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return "", coffer.Errorf(coffer.ENOTFOUND, "There is no member %s.", memberID)
	}
	return name, err
}

// LinkPersons records that member IDs belong to one verified person.
// Errors: ENOTFOUND, EFORBIDDEN, EINVALID, ECONFLICT (they belong to
// different persons already).
func (s *Service) LinkPersons(ctx context.Context, registrar string, ids []string) (string, error) {
	if err := s.RequireRegistrar(ctx, registrar); err != nil {
		return "", err
	}
	if len(ids) < 2 || len(ids) > 20 {
		return "", coffer.Errorf(coffer.EINVALID, "member_ids must name 2 to 20 member IDs.")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !coffer.ValidMemberID(id) {
			return "", coffer.Errorf(coffer.EINVALID, "member_ids must be 12-digit member IDs.")
		}
		if seen[id] {
			return "", coffer.Errorf(coffer.EINVALID, "Member ID %s is named twice.", id)
		}
		seen[id] = true
		if err := s.mayActOn(ctx, registrar, id); err != nil {
			return "", err
		}
		if _, err := s.store.MemberStatus(ctx, id); coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return "", coffer.Errorf(coffer.ENOTFOUND, "There is no member %s.", id)
		} else if err != nil {
			return "", err
		}
	}
	now := s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(now, coffer.AuditMembersLinked, ids[0], map[string]any{"member_ids": ids, "registrar": registrar})
	person, err := s.store.LinkMembers(ctx, ids, now, ev)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			return "", coffer.Errorf(coffer.ECONFLICT, "These member IDs already belong to different persons.")
		}
		return "", err
	}
	for _, id := range ids[1:] {
		s.audit(ctx, coffer.AuditMembersLinked, id, map[string]any{"member_ids": ids, "registrar": registrar, "person_id": person})
	}
	return person, nil
}
