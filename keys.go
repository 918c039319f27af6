package coffer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error codes of request signing (RFC 9421 HTTP Message Signatures). Each
// names one reason a signed request was refused; all are answered 401.
const (
	ESIGMALFORMED   = "signature_malformed" // headers unparsable, or the signature lacks what coffer requires
	ESIGINVALID     = "signature_invalid"   // the signature does not verify with the named key
	ESIGEXPIRED     = "signature_expired"   // created too long ago, or past its expires
	ESIGFUTURE      = "signature_future"    // created further in the future than the allowed clock skew
	ESIGREPLAYED    = "signature_replayed"  // the nonce was already used with this key
	EDIGESTMISMATCH = "digest_mismatch"     // Content-Digest does not match the body
	EKEYUNKNOWN     = "key_unknown"         // keyid names no registered key
	EKEYREVOKED     = "key_revoked"         // the key was revoked
)

// Audit event kinds of signing keys.
const (
	AuditKeyAdded   = "key.added"
	AuditKeyRenamed = "key.renamed"
	AuditKeyRevoked = "key.revoked"
	AuditKeyNewIP   = "key.new_ip" // a key was used from an address it was never used from before
)

// Limits of request signing.
const (
	// MaxActiveKeys is how many unrevoked signing keys one member may hold.
	MaxActiveKeys = 10
	// SignatureMaxAge is how long after its created time a signature is
	// accepted. Nonces are remembered for this long plus SignatureMaxSkew.
	SignatureMaxAge = 5 * time.Minute
	// SignatureMaxSkew is how far in the future a created time may lie,
	// to allow for clocks that are not quite in step.
	SignatureMaxSkew = 60 * time.Second
	// MaxKeyName is the longest key name, in characters.
	MaxKeyName = 64
)

// SigningKey is a member's registered Ed25519 public key. The private half
// lives only in the member's key file.
type SigningKey struct {
	ID         string // "key_" and 26 random base32 characters
	MemberID   string
	Name       string
	PublicKey  []byte // 32 bytes, Ed25519
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: active
}

// Revoked reports whether the key may no longer sign.
func (k *SigningKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Fingerprint identifies the key for people: "sha256:" and the lower-case
// hex SHA-256 of the raw 32-byte public key.
func (k *SigningKey) Fingerprint() string { return KeyFingerprint(k.PublicKey) }

// KeyFingerprint is the fingerprint of a raw Ed25519 public key.
func KeyFingerprint(pub []byte) string {
	h := sha256.Sum256(pub)
	return "sha256:" + hex.EncodeToString(h[:])
}

// NewKeyID returns a fresh random key ID carrying 128 bits from crypto/rand.
func NewKeyID() string { return "key_" + strings.ToLower(rand.Text()) }

// ValidKeyID reports whether s has the shape of a key ID.
func ValidKeyID(s string) bool {
	rest, ok := strings.CutPrefix(s, "key_")
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// ValidateKeyName checks a key name: at most MaxKeyName printable
// characters of valid UTF-8 on one line; empty is allowed. Errors: EINVALID.
func ValidateKeyName(s string) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxKeyName {
		return Errorf(EINVALID, "The key name must be at most %d characters of text.", MaxKeyName)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return Errorf(EINVALID, "The key name must contain printable characters only.")
		}
	}
	return nil
}

// ErrTooManyKeys is the fact CreateKey reports when the member already
// holds the most unrevoked keys allowed. The service words the answer.
var ErrTooManyKeys = &Error{Code: ELIMITEXCEEDED, Message: "Too many active keys."}

// KeyStore persists members' request-signing keys. Every method is one
// database transaction; the audit event given to a method commits with its
// change or not at all.
type KeyStore interface {
	// CreateKey inserts k unless its member already holds maxActive
	// unrevoked keys, and appends ev (when not nil) to the audit log.
	// Errors: ELIMITEXCEEDED (ErrTooManyKeys); ECONFLICT with Message
	// "public_key" when that public key was ever registered (by anyone,
	// revoked keys included), any other Message on a key ID collision.
	CreateKey(ctx context.Context, k *SigningKey, maxActive int, ev *AuditEvent) error
	// Key returns a key by ID, revoked or not. Errors: ENOTFOUND.
	Key(ctx context.Context, id string) (*SigningKey, error)
	// Keys lists a member's keys, revoked ones included, newest first.
	Keys(ctx context.Context, memberID string) ([]*SigningKey, error)
	// RenameKey renames one of the member's keys and appends ev.
	// Errors: ENOTFOUND (no such key of this member).
	RenameKey(ctx context.Context, memberID, id, name string, ev *AuditEvent) error
	// RevokeKey revokes one of the member's keys at the given time and
	// appends ev. It reports false, changing nothing and appending
	// nothing, when the key was already revoked.
	// Errors: ENOTFOUND (no such key of this member).
	RevokeKey(ctx context.Context, memberID, id string, at time.Time, ev *AuditEvent) (bool, error)
	// NoteKeyUse records that the key signed a request from ip at the
	// given time. The first time the key is seen from ip it reports true
	// and appends ev. Errors: ENOTFOUND.
	NoteKeyUse(ctx context.Context, id, ip string, at time.Time, ev *AuditEvent) (bool, error)
}
