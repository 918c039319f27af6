package coffer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"
)

// Audit event kinds.
const (
	AuditMemberRegistered = "member.registered"
	// AuditLoginNameClaimed is recorded for a member whose e-mail or phone
	// someone else gave when registering (the new account did not get it).
	AuditLoginNameClaimed = "member.login_name_claimed"
	AuditLoginSucceeded   = "login.succeeded"
	AuditLoginFailed      = "login.failed"
	AuditSessionEnded     = "session.ended"
	AuditPurseCreated     = "purse.created"
	AuditTransferApplied  = "transfer.applied"
	AuditIssuerSet        = "admin.issuer_set"
	AuditCurrencyAdded    = "admin.currency_added"
)

// AuditEvent is one record of the append-only, hash-chained audit log. Each
// event's Hash covers its content and the previous event's hash, so removing,
// changing or reordering any event breaks the chain from there on.
type AuditEvent struct {
	Seq      int64
	At       time.Time
	Kind     string
	MemberID string // the member the event is about; "" for operator events
	Detail   string // JSON object with the event's facts; never a secret
	PrevHash []byte
	Hash     []byte
}

// NewAuditEvent builds an event with detail encoded as JSON.
func NewAuditEvent(at time.Time, kind, memberID string, detail map[string]any) *AuditEvent {
	d := "{}"
	if len(detail) > 0 {
		b, err := json.Marshal(detail) // map keys are sorted: stable text
		if err == nil {
			d = string(b)
		}
	}
	return &AuditEvent{At: at.UTC().Truncate(time.Millisecond), Kind: kind, MemberID: memberID, Detail: d}
}

// ChainHash computes the hash of e after prev (nil for the first event):
// SHA-256 over prev and each field, length-prefixed so that no two
// different events encode alike.
func (e *AuditEvent) ChainHash(prev []byte) []byte {
	h := sha256.New()
	var buf [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(b)))
		h.Write(buf[:])
		h.Write(b)
	}
	field(prev)
	binary.BigEndian.PutUint64(buf[:], uint64(e.Seq))
	field(buf[:])
	binary.BigEndian.PutUint64(buf[:], uint64(e.At.UnixMilli()))
	field(buf[:])
	field([]byte(e.Kind))
	field([]byte(e.MemberID))
	field([]byte(e.Detail))
	return h.Sum(nil)
}
