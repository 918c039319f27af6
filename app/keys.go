package app

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
)

// Bounds of the in-memory replay cache. A nonce is remembered for
// coffer.SignatureMaxAge+coffer.SignatureMaxSkew after its request. Each
// member has a share well below the whole (KeyConfig.NoncesPerMember), so
// one member's flood of signed requests, with all of its keys, meets its
// own bound long before it could fill the cache for everyone. When a bound
// is reached new signatures are refused, never old nonces forgotten early,
// so a full cache cannot open a window for replays.
const (
	defaultNoncesPerMember = 20_000 // about 55 signed requests a second, sustained
	maxNonces              = 1_000_000
	// keyUseInterval is how often the use of a key from one address is
	// written to the store (last used time, first use from a new address).
	keyUseInterval = time.Minute
)

// KeyConfig tunes request signing.
type KeyConfig struct {
	// NoncesPerMember bounds the signed requests one member may make
	// within the window a nonce is remembered (coffer.SignatureMaxAge plus
	// coffer.SignatureMaxSkew), over all of the member's keys; beyond it
	// requests are answered rate_limited until the oldest nonce is
	// forgotten. 0 means 20,000.
	NoncesPerMember int
}

func (c KeyConfig) noncesPerMember() int {
	if c.NoncesPerMember <= 0 {
		return defaultNoncesPerMember
	}
	return c.NoncesPerMember
}

// keyState is the service's memory of signed requests: the nonces seen
// within the acceptance window and when each (key, address) was last noted.
// Its zero value is ready to use.
//
// The replay cache lives in this process and is lost when it stops; the
// store remembers nonces too (coffer.NonceStore), so a replay after a
// restart, or to another process sharing the database, is refused as well.
type keyState struct {
	mu        sync.Mutex
	nonces    map[nonceKey]struct{}
	queue     []nonceEntry // in order of expiry: all entries live equally long
	head      int
	perMember map[string]*memberNonces

	seenMu sync.Mutex
	seen   map[string]time.Time // key ID + " " + IP → last noted
}

type nonceKey struct{ keyID, nonce string }

type nonceEntry struct {
	k       nonceKey
	member  string
	expires time.Time
}

// memberNonces is one member's live nonces: the expiry of each, oldest
// first (the same order as the whole queue), so that a member at its
// bound can be told when the next one is forgotten.
type memberNonces struct {
	expires []int64 // unix ns
	head    int
}

func (m *memberNonces) live() int { return len(m.expires) - m.head }

// checkNonce records (keyID, nonce) of a member's request at now and
// reports whether it was new. It returns ERATELIMITED (with the wait) when
// the member already has perMember live nonces, EUNAVAILABLE when the
// whole cache is full.
func (ks *keyState) checkNonce(memberID, keyID, nonce string, now time.Time, perMember int) (bool, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.nonces == nil {
		ks.nonces = map[nonceKey]struct{}{}
		ks.perMember = map[string]*memberNonces{}
	}
	for ks.head < len(ks.queue) && !now.Before(ks.queue[ks.head].expires) {
		e := ks.queue[ks.head]
		ks.queue[ks.head] = nonceEntry{}
		ks.head++
		delete(ks.nonces, e.k)
		if m := ks.perMember[e.member]; m != nil {
			if m.head++; m.live() <= 0 {
				delete(ks.perMember, e.member)
			} else if m.head > 1024 && m.head > len(m.expires)/2 {
				m.expires = append(m.expires[:0:0], m.expires[m.head:]...)
				m.head = 0
			}
		}
	}
	if ks.head > 1024 && ks.head > len(ks.queue)/2 {
		ks.queue = append(ks.queue[:0:0], ks.queue[ks.head:]...)
		ks.head = 0
	}
	k := nonceKey{keyID, nonce}
	if _, ok := ks.nonces[k]; ok {
		return false, nil
	}
	m := ks.perMember[memberID]
	if m != nil && m.live() >= perMember {
		wait := time.Unix(0, m.expires[m.head]).Sub(now)
		return false, &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many signed requests from this member; slow down.",
			Err: &RateLimitError{RetryAfter: max(wait, time.Second)}}
	}
	if len(ks.nonces) >= maxNonces {
		wait := ks.queue[ks.head].expires.Sub(now)
		return false, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server is too busy to check signatures; try again shortly.",
			Err: &RateLimitError{RetryAfter: max(wait, time.Second)}}
	}
	if m == nil {
		m = &memberNonces{}
		ks.perMember[memberID] = m
	}
	exp := now.Add(coffer.SignatureMaxAge + coffer.SignatureMaxSkew)
	ks.nonces[k] = struct{}{}
	m.expires = append(m.expires, exp.UnixNano())
	ks.queue = append(ks.queue, nonceEntry{k, memberID, exp})
	return true, nil
}

// dueForNote reports whether the use of key from ip should be written to
// the store now, and marks it written.
func (ks *keyState) dueForNote(keyID, ip string, now time.Time) bool {
	ks.seenMu.Lock()
	defer ks.seenMu.Unlock()
	if ks.seen == nil {
		ks.seen = map[string]time.Time{}
	}
	k := keyID + " " + ip
	if last, ok := ks.seen[k]; ok && now.Sub(last) < keyUseInterval {
		return false
	}
	if len(ks.seen) > 100_000 {
		clear(ks.seen) // bound memory; the store is the truth
	}
	ks.seen[k] = now
	return true
}

func (ks *keyState) forgetNote(keyID, ip string) {
	ks.seenMu.Lock()
	delete(ks.seen, keyID+" "+ip)
	ks.seenMu.Unlock()
}

// ParsePublicKey reads an Ed25519 public key as the API takes it: the 32
// raw bytes in base64 (standard or URL alphabet, padding optional), or a
// PEM "PUBLIC KEY" block (SubjectPublicKeyInfo, as `openssl pkey -pubout`
// writes). Errors: EINVALID.
func ParsePublicKey(s string) ([]byte, error) {
	bad := coffer.Errorf(coffer.EINVALID, "public_key must be an Ed25519 public key: its 32 bytes in base64, or a PEM PUBLIC KEY block.")
	s = strings.TrimSpace(s)
	if len(s) > 4096 {
		return nil, bad
	}
	var raw []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		b, rest := pem.Decode([]byte(s))
		if b == nil || b.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) > 0 {
			return nil, bad
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, bad
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, coffer.Errorf(coffer.EINVALID, "public_key must be an Ed25519 key; other algorithms are not accepted.")
		}
		raw = pub
	} else {
		t := strings.TrimRight(s, "=")
		var err error
		if strings.ContainsAny(t, "-_") {
			raw, err = base64.RawURLEncoding.DecodeString(t)
		} else {
			raw, err = base64.RawStdEncoding.DecodeString(t)
		}
		if err != nil {
			return nil, bad
		}
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, bad
	}
	zero := true
	for _, b := range raw {
		zero = zero && b == 0
	}
	if zero {
		return nil, bad
	}
	return raw, nil
}

// AddKeyInput is a public key to register.
type AddKeyInput struct {
	Name      string
	PublicKey string // see ParsePublicKey
	IP        string // for the audit event
	Proof     string // step-up proof (Coffer-Confirmation), needed once the member has a second factor
}

// AddKey registers a signing key for the member. The caller must have
// authenticated the member with a session: a signing key must not be able
// to add more keys. (Once confirmations exist, adding a key will also need
// one.) Errors: EINVALID, ELIMITEXCEEDED (coffer.MaxActiveKeys reached),
// ECONFLICT (the public key was registered before).
func (s *Service) AddKey(ctx context.Context, memberID string, in AddKeyInput) (*coffer.SigningKey, error) {
	if err := coffer.ValidateKeyName(in.Name); err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(in.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionAddKey, Summary: fmt.Sprintf("add signing key %q", in.Name), Values: []string{in.Name, in.PublicKey}}, in.Proof); err != nil {
		return nil, err
	}
	k := &coffer.SigningKey{MemberID: memberID, Name: in.Name, PublicKey: pub, CreatedAt: s.now().Truncate(time.Millisecond)}
	for attempt := 0; ; attempt++ {
		k.ID = coffer.NewKeyID()
		ev := coffer.NewAuditEvent(k.CreatedAt, coffer.AuditKeyAdded, memberID, map[string]any{
			"key_id": k.ID, "fingerprint": k.Fingerprint(), "name": k.Name, "ip": in.IP})
		err = s.store.CreateKey(ctx, k, coffer.MaxActiveKeys, ev)
		var ae *coffer.Error
		switch code := coffer.ErrorCode(err); {
		case err == nil:
			return k, nil
		case code == coffer.ELIMITEXCEEDED:
			return nil, coffer.Errorf(coffer.ELIMITEXCEEDED, "You already have %d active keys; revoke one before adding another.", coffer.MaxActiveKeys)
		case code == coffer.ECONFLICT && errors.As(err, &ae) && ae.Message == "public_key":
			return nil, coffer.Errorf(coffer.ECONFLICT, "This public key is already registered; make a new key pair.")
		case code == coffer.ECONFLICT && attempt < 10:
			continue // key ID collision: draw again
		}
		return nil, err
	}
}

// Keys lists the member's keys, revoked ones included, newest first.
func (s *Service) Keys(ctx context.Context, memberID string) ([]*coffer.SigningKey, error) {
	return s.store.Keys(ctx, memberID)
}

var errNoSuchKey = coffer.Errorf(coffer.ENOTFOUND, "You have no such key.")

// Key returns one of the member's keys. Errors: ENOTFOUND.
func (s *Service) Key(ctx context.Context, memberID, id string) (*coffer.SigningKey, error) {
	if !coffer.ValidKeyID(id) {
		return nil, errNoSuchKey
	}
	k, err := s.store.Key(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || err == nil && k.MemberID != memberID {
		return nil, errNoSuchKey
	}
	return k, err
}

// RenameKey renames one of the member's keys and returns it.
// Errors: EINVALID, ENOTFOUND.
func (s *Service) RenameKey(ctx context.Context, memberID, id, name, ip string) (*coffer.SigningKey, error) {
	if !coffer.ValidKeyID(id) {
		return nil, errNoSuchKey
	}
	if err := coffer.ValidateKeyName(name); err != nil {
		return nil, err
	}
	ev := coffer.NewAuditEvent(s.now(), coffer.AuditKeyRenamed, memberID, map[string]any{"key_id": id, "name": name, "ip": ip})
	err := s.store.RenameKey(ctx, memberID, id, name, ev)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, errNoSuchKey
	} else if err != nil {
		return nil, err
	}
	return s.Key(ctx, memberID, id)
}

// RevokeKey revokes one of the member's keys. It takes effect at once:
// every signature check reads the key from the store. Revoking a revoked
// key succeeds and changes nothing. via says how the request was
// authenticated, for the audit event. Errors: ENOTFOUND.
func (s *Service) RevokeKey(ctx context.Context, memberID, id, ip, via string) error {
	if !coffer.ValidKeyID(id) {
		return errNoSuchKey
	}
	now := s.now()
	ev := coffer.NewAuditEvent(now, coffer.AuditKeyRevoked, memberID, map[string]any{"key_id": id, "ip": ip, "via": via})
	_, err := s.store.RevokeKey(ctx, memberID, id, now, ev)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return errNoSuchKey
	}
	return err
}

// SignedRequest is what the HTTP layer took from a request signed per
// RFC 9421 after checking its shape and its Content-Digest.
type SignedRequest struct {
	KeyID     string
	Created   int64 // Unix seconds
	Expires   int64 // Unix seconds; 0 when absent
	Nonce     string
	Base      []byte // the signature base recreated from the request
	Signature []byte
	IP        string
}

// AuthenticateSignature checks a signed request and returns the key that
// signed it. The key is read from the store every time, so a revocation
// takes effect on the next request. The nonce is remembered only once
// everything else has passed. Errors: ESIGEXPIRED, ESIGFUTURE, EKEYUNKNOWN,
// EKEYREVOKED, ESIGINVALID, ESIGREPLAYED, ERATELIMITED, EUNAVAILABLE.
func (s *Service) AuthenticateSignature(ctx context.Context, in SignedRequest) (*coffer.SigningKey, error) {
	now := s.now()
	created := time.Unix(in.Created, 0)
	switch {
	case created.After(now.Add(coffer.SignatureMaxSkew)):
		return nil, coffer.Errorf(coffer.ESIGFUTURE, "The signature's created time lies in the future; check the clock of the signing machine.")
	case now.Sub(created) > coffer.SignatureMaxAge:
		return nil, coffer.Errorf(coffer.ESIGEXPIRED, "The signature was created more than %d minutes ago; sign each request when sending it.", int(coffer.SignatureMaxAge/time.Minute))
	case in.Expires != 0 && !now.Before(time.Unix(in.Expires, 0)):
		return nil, coffer.Errorf(coffer.ESIGEXPIRED, "The signature has expired.")
	}
	if !coffer.ValidKeyID(in.KeyID) {
		return nil, coffer.Errorf(coffer.EKEYUNKNOWN, "The keyid names no registered key.")
	}
	k, err := s.store.Key(ctx, in.KeyID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, coffer.Errorf(coffer.EKEYUNKNOWN, "The keyid names no registered key.")
	} else if err != nil {
		return nil, err
	}
	if k.Revoked() {
		return nil, coffer.Errorf(coffer.EKEYREVOKED, "The key %s was revoked.", k.ID)
	}
	if len(in.Signature) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(k.PublicKey), in.Base, in.Signature) {
		return nil, coffer.Errorf(coffer.ESIGINVALID, "The signature does not verify with key %s.", k.ID)
	}
	fresh, err := s.keys.checkNonce(k.MemberID, k.ID, in.Nonce, now, s.cfg.Keys.noncesPerMember())
	if err != nil {
		return nil, err
	}
	// The store remembers the nonce too: for a restart of this process,
	// and for the other processes on a shared database.
	if fresh {
		if fresh, err = s.store.UseNonce(ctx, k.ID, in.Nonce, now, now.Add(coffer.SignatureMaxAge+coffer.SignatureMaxSkew)); err != nil {
			return nil, err
		}
	}
	if !fresh {
		return nil, coffer.Errorf(coffer.ESIGREPLAYED, "This nonce was already used with key %s; sign each request with a new nonce.", k.ID)
	}
	s.noteKeyUse(ctx, k, in.IP, now)
	return k, nil
}

// noteKeyUse records the key's use and, on its first use from an address,
// an audit event. A failure is logged, not returned: the request itself
// was properly signed.
func (s *Service) noteKeyUse(ctx context.Context, k *coffer.SigningKey, ip string, now time.Time) {
	if !s.keys.dueForNote(k.ID, ip, now) {
		return
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditKeyNewIP, k.MemberID, map[string]any{
		"key_id": k.ID, "ip": ip, "first_use": k.LastUsedAt.IsZero()})
	if _, err := s.store.NoteKeyUse(ctx, k.ID, ip, now, ev); err != nil {
		s.keys.forgetNote(k.ID, ip)
		s.log.Error("note key use", "key_id", k.ID, "err", err)
	}
}
