package storetest

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func newPublicKey(t *testing.T) []byte {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func signingKey(t *testing.T, member string, name string, at time.Time) *coffer.SigningKey {
	return &coffer.SigningKey{ID: coffer.NewKeyID(), MemberID: member, Name: name, PublicKey: newPublicKey(t), CreatedAt: at}
}

// kinds returns the kinds of a member's audit events, oldest first.
func kinds(t *testing.T, s coffer.Store, member string) []string {
	t.Helper()
	evs, err := s.AuditEvents(ctx, member, 0, 100)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Kind)
	}
	return out
}

func testKeys(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := func(kind, m string) *coffer.AuditEvent {
		return coffer.NewAuditEvent(now, kind, m, map[string]any{"test": true})
	}

	k1 := signingKey(t, a.ID, "laptop", now)
	if err := s.CreateKey(ctx, k1, 3, ev(coffer.AuditKeyAdded, a.ID)); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	t.Run("Read", func(t *testing.T) {
		got, err := s.Key(ctx, k1.ID)
		if err != nil || got.ID != k1.ID || got.MemberID != a.ID || got.Name != "laptop" || !bytes.Equal(got.PublicKey, k1.PublicKey) ||
			!got.CreatedAt.Equal(now) || !got.LastUsedAt.IsZero() || got.Revoked() {
			t.Fatalf("Key = %+v, %v; want %+v", got, err, k1)
		}
		_, err = s.Key(ctx, coffer.NewKeyID())
		wantCode(t, err, coffer.ENOTFOUND)
	})
	t.Run("SamePublicKeyRefused", func(t *testing.T) {
		dup := signingKey(t, b.ID, "", now)
		dup.PublicKey = k1.PublicKey
		err := s.CreateKey(ctx, dup, 3, ev(coffer.AuditKeyAdded, b.ID))
		wantCode(t, err, coffer.ECONFLICT)
		if e := err.(*coffer.Error); e.Message != "public_key" {
			t.Fatalf("duplicate public key: got message %q, want %q", e.Message, "public_key")
		}
		if got := kinds(t, s, b.ID); len(got) != 0 {
			t.Fatalf("a refused key left audit events %v", got)
		}
	})
	t.Run("SameIDRefused", func(t *testing.T) {
		dup := signingKey(t, b.ID, "", now)
		dup.ID = k1.ID
		err := s.CreateKey(ctx, dup, 3, nil)
		wantCode(t, err, coffer.ECONFLICT)
		if e := err.(*coffer.Error); e.Message == "public_key" {
			t.Fatal("an ID collision was reported as a duplicate public key")
		}
	})
	t.Run("LimitOfActiveKeys", func(t *testing.T) {
		k2 := signingKey(t, a.ID, "phone", now.Add(time.Second))
		k3 := signingKey(t, a.ID, "server", now.Add(2*time.Second))
		for _, k := range []*coffer.SigningKey{k2, k3} {
			if err := s.CreateKey(ctx, k, 3, nil); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
		}
		wantCode(t, s.CreateKey(ctx, signingKey(t, a.ID, "", now), 3, ev(coffer.AuditKeyAdded, a.ID)), coffer.ELIMITEXCEEDED)
		list, err := s.Keys(ctx, a.ID)
		if err != nil || len(list) != 3 || list[0].ID != k3.ID || list[2].ID != k1.ID {
			t.Fatalf("Keys = %v, %v; want k3, k2, k1", list, err)
		}
		// A revoked key no longer counts.
		ok, err := s.RevokeKey(ctx, a.ID, k3.ID, now, nil)
		if err != nil || !ok {
			t.Fatalf("RevokeKey = %v, %v", ok, err)
		}
		if err := s.CreateKey(ctx, signingKey(t, a.ID, "", now), 3, nil); err != nil {
			t.Fatalf("CreateKey after a revocation: %v", err)
		}
		if list, _ := s.Keys(ctx, b.ID); len(list) != 0 {
			t.Fatalf("member b sees keys %v, want none", list)
		}
	})
	t.Run("Rename", func(t *testing.T) {
		wantCode(t, s.RenameKey(ctx, b.ID, k1.ID, "stolen", ev(coffer.AuditKeyRenamed, b.ID)), coffer.ENOTFOUND)
		if err := s.RenameKey(ctx, a.ID, k1.ID, "old laptop", ev(coffer.AuditKeyRenamed, a.ID)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Key(ctx, k1.ID); got.Name != "old laptop" {
			t.Fatalf("name = %q, want %q", got.Name, "old laptop")
		}
		wantCode(t, s.RenameKey(ctx, a.ID, coffer.NewKeyID(), "x", nil), coffer.ENOTFOUND)
	})
	t.Run("Use", func(t *testing.T) {
		used := now.Add(time.Minute)
		first, err := s.NoteKeyUse(ctx, k1.ID, "192.0.2.1", used, ev(coffer.AuditKeyNewIP, a.ID))
		if err != nil || !first {
			t.Fatalf("first NoteKeyUse = %v, %v; want true", first, err)
		}
		again, err := s.NoteKeyUse(ctx, k1.ID, "192.0.2.1", used.Add(time.Minute), ev(coffer.AuditKeyNewIP, a.ID))
		if err != nil || again {
			t.Fatalf("NoteKeyUse from the same address = %v, %v; want false", again, err)
		}
		other, err := s.NoteKeyUse(ctx, k1.ID, "2001:db8::1", used, ev(coffer.AuditKeyNewIP, a.ID))
		if err != nil || !other {
			t.Fatalf("NoteKeyUse from a new address = %v, %v; want true", other, err)
		}
		got, _ := s.Key(ctx, k1.ID)
		if !got.LastUsedAt.Equal(used.Add(time.Minute)) {
			t.Fatalf("last used %v, want %v (the latest use)", got.LastUsedAt, used.Add(time.Minute))
		}
		_, err = s.NoteKeyUse(ctx, coffer.NewKeyID(), "192.0.2.1", used, nil)
		wantCode(t, err, coffer.ENOTFOUND)
	})
	t.Run("Revoke", func(t *testing.T) {
		_, err := s.RevokeKey(ctx, b.ID, k1.ID, now, ev(coffer.AuditKeyRevoked, b.ID))
		wantCode(t, err, coffer.ENOTFOUND)
		if got, _ := s.Key(ctx, k1.ID); got.Revoked() {
			t.Fatal("another member revoked the key")
		}
		at := now.Add(time.Hour)
		ok, err := s.RevokeKey(ctx, a.ID, k1.ID, at, ev(coffer.AuditKeyRevoked, a.ID))
		if err != nil || !ok {
			t.Fatalf("RevokeKey = %v, %v; want true", ok, err)
		}
		got, err := s.Key(ctx, k1.ID)
		if err != nil || !got.Revoked() || !got.RevokedAt.Equal(at) {
			t.Fatalf("revoked key = %+v, %v; want revoked at %v", got, err, at)
		}
		ok, err = s.RevokeKey(ctx, a.ID, k1.ID, at.Add(time.Hour), ev(coffer.AuditKeyRevoked, a.ID))
		if err != nil || ok {
			t.Fatalf("second RevokeKey = %v, %v; want false, nil", ok, err)
		}
		if got, _ := s.Key(ctx, k1.ID); !got.RevokedAt.Equal(at) {
			t.Fatal("a second revocation moved the revocation time")
		}
		// A revoked public key can never come back.
		again := signingKey(t, a.ID, "", now)
		again.PublicKey = k1.PublicKey
		wantCode(t, s.CreateKey(ctx, again, 10, nil), coffer.ECONFLICT)
	})
	t.Run("AuditEventsCommitWithTheirChange", func(t *testing.T) {
		want := []string{coffer.AuditKeyAdded, coffer.AuditKeyRenamed, coffer.AuditKeyNewIP, coffer.AuditKeyNewIP, coffer.AuditKeyRevoked}
		got := kinds(t, s, a.ID)
		if len(got) != len(want) {
			t.Fatalf("audit kinds %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("audit kinds %v, want %v", got, want)
			}
		}
		if got := kinds(t, s, b.ID); len(got) != 0 {
			t.Fatalf("member b has audit events %v, want none (all its attempts failed)", got)
		}
	})
}

// testNonces: a request-signature nonce is new once per key until it
// expires, and the store remembers it (every store: a restart must not
// forget it).
func testNonces(t *testing.T, s coffer.Store) {
	now := base
	exp := now.Add(6 * time.Minute)
	for i, c := range []struct {
		key, n    string
		at        time.Time
		wantFresh bool
	}{
		{"k1", "n1", now, true},
		{"k1", "n1", now.Add(time.Second), false},       // replayed
		{"k2", "n1", now, true},                         // another key
		{"k1", "n2", now, true},                         // another nonce
		{"k1", "n1", exp.Add(-time.Millisecond), false}, // still remembered at the end of its window
		{"k1", "n1", exp, true},                         // expired: its signature is too old anyway
		{"k1", "n1", exp.Add(time.Second), false},       // and remembered again
	} {
		got, err := s.UseNonce(ctx, c.key, c.n, c.at, c.at.Add(6*time.Minute))
		if err != nil || got != c.wantFresh {
			t.Fatalf("case %d: UseNonce(%s, %s, %v) = %v, %v; want %v", i, c.key, c.n, c.at, got, err, c.wantFresh)
		}
	}

	// Many requests at once, each nonce sent three times: exactly one of
	// the three is fresh.
	const n, dup = 200, 3
	var wg sync.WaitGroup
	fresh := make([]atomic.Int32, n)
	errs := make(chan error, n*dup)
	for i := range n * dup {
		wg.Go(func() {
			ok, err := s.UseNonce(ctx, "k-many", fmt.Sprint("n-", i%n), now, now.Add(6*time.Minute))
			if err != nil {
				errs <- err
			}
			if ok {
				fresh[i%n].Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UseNonce at once: %v", err)
	}
	for i := range fresh {
		if got := fresh[i].Load(); got != 1 {
			t.Fatalf("nonce n-%d sent %d times at once was fresh %d times, want once", i, dup, got)
		}
	}
}
