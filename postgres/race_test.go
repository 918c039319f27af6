package postgres_test

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
)

// The SQLite store has a single writer, so its count-then-insert and
// check-then-update sequences are race-free by construction. These tests
// run the same sequences from many goroutines at once, spread over two
// stores on one database (as two cofferd processes would be), under both
// isolation levels, and check that none of them overshoots or double-counts.

var isolations = []string{"read committed", "serializable"}

// twoStores opens two stores on one fresh schema.
func twoStores(t *testing.T, iso string) [2]*postgres.DB {
	u := pgtest.URL(t)
	return [2]*postgres.DB{openURL(t, u, postgres.Options{Isolation: iso}), openURL(t, u, postgres.Options{Isolation: iso})}
}

func newMember(t *testing.T, db *postgres.DB) string {
	t.Helper()
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "$argon2id$x", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := db.CreateMember(t.Context(), m); err != nil {
		t.Fatalf("CreateMember: %v", err)
	}
	return m.ID
}

// race runs f(i) for i in [0, n) in n goroutines released together, with
// each goroutine given one of the stores in turn.
func race(n int, dbs [2]*postgres.DB, f func(i int, db *postgres.DB)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i, dbs[i%2])
		})
	}
	close(start)
	wg.Wait()
}

func auditCount(t *testing.T, db *postgres.DB, member, kind string) int {
	t.Helper()
	evs, err := db.AuditEvents(t.Context(), member, 0, 1000)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func checkChain(t *testing.T, db *postgres.DB) {
	t.Helper()
	rep, err := db.Check(t.Context())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Check: %+v", rep)
	}
}

// outcomes counts successes and refusals with code want; anything else
// fails the test.
func outcomes(t *testing.T, errs []error, want string) (ok, refused int) {
	t.Helper()
	for _, err := range errs {
		switch coffer.ErrorCode(err) {
		case "":
			ok++
		case want:
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, refused
}

func TestRace_CreateKeyLimit(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			const n, max = 20, 5
			errs := make([]error, n)
			race(n, dbs, func(i int, db *postgres.DB) {
				pub, _, _ := ed25519.GenerateKey(nil)
				k := &coffer.SigningKey{ID: coffer.NewKeyID(), MemberID: m, Name: fmt.Sprint(i), PublicKey: pub, CreatedAt: time.Now().UTC()}
				errs[i] = db.CreateKey(t.Context(), k, max, coffer.NewAuditEvent(time.Now(), coffer.AuditKeyAdded, m, nil))
			})
			ok, refused := outcomes(t, errs, coffer.ELIMITEXCEEDED)
			if ok != max || refused != n-max {
				t.Fatalf("%d keys created, %d refused; want %d and %d", ok, refused, max, n-max)
			}
			keys, err := dbs[1].Keys(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			active := 0
			for _, k := range keys {
				if !k.Revoked() {
					active++
				}
			}
			if active != max {
				t.Fatalf("%d active keys, want %d", active, max)
			}
			if got := auditCount(t, dbs[0], m, coffer.AuditKeyAdded); got != max {
				t.Fatalf("%d key.added events, want %d", got, max)
			}
			checkChain(t, dbs[0])
		})
	}
}

func TestRace_CreateCertificateLimit(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			const n, max = 20, 3
			now := time.Now().UTC().Truncate(time.Millisecond)
			errs := make([]error, n)
			race(n, dbs, func(i int, db *postgres.DB) {
				c := &coffer.Certificate{ID: fmt.Sprintf("cert-%d", i), MemberID: m, Serial: fmt.Sprintf("%x", 0x1000+i),
					Fingerprint: fmt.Sprintf("%064x", i), KeyType: "Ed25519", DER: []byte{0x30, byte(i)},
					CreatedAt: now, NotBefore: now, NotAfter: now.Add(time.Hour)}
				errs[i] = db.CreateCertificate(t.Context(), c, max, coffer.NewAuditEvent(now, coffer.AuditCertificateIssued, m, nil))
			})
			ok, refused := outcomes(t, errs, coffer.ELIMITEXCEEDED)
			if ok != max || refused != n-max {
				t.Fatalf("%d certificates issued, %d refused; want %d and %d", ok, refused, max, n-max)
			}
			if got := auditCount(t, dbs[0], m, coffer.AuditCertificateIssued); got != max {
				t.Fatalf("%d certificate.issued events, want %d", got, max)
			}
		})
	}
}

func TestRace_UseRecoveryCodeOnce(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			codes := []*coffer.RecoveryCode{{Salt: []byte("s1"), Hash: []byte("h1")}, {Salt: []byte("s2"), Hash: []byte("h2")}}
			if err := dbs[0].SetRecoveryCodes(t.Context(), m, codes, nil); err != nil {
				t.Fatal(err)
			}
			const n = 10
			var wins atomic.Int32
			race(n, dbs, func(i int, db *postgres.DB) {
				ok, err := db.UseRecoveryCode(t.Context(), m, codes[0].ID, time.Now(), coffer.NewAuditEvent(time.Now(), coffer.AuditRecoveryCodeUsed, m, nil))
				if err != nil {
					t.Errorf("UseRecoveryCode: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
			if wins.Load() != 1 {
				t.Fatalf("the code was used %d times, want 1", wins.Load())
			}
			if got := auditCount(t, dbs[0], m, coffer.AuditRecoveryCodeUsed); got != 1 {
				t.Fatalf("%d recovery_code_used events, want 1", got)
			}
			left, err := dbs[1].RecoveryCodes(t.Context(), m)
			if err != nil || len(left) != 1 || left[0].ID != codes[1].ID {
				t.Fatalf("unused codes %v, %v; want only the second", left, err)
			}
		})
	}
}

func TestRace_SetRecoveryCodesLeavesOneSet(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			const n = 8
			race(n, dbs, func(i int, db *postgres.DB) {
				set := make([]*coffer.RecoveryCode, coffer.RecoveryCodeCount)
				for j := range set {
					set[j] = &coffer.RecoveryCode{Salt: []byte{byte(i)}, Hash: []byte{byte(j)}}
				}
				if err := db.SetRecoveryCodes(t.Context(), m, set, nil); err != nil {
					t.Errorf("SetRecoveryCodes: %v", err)
				}
			})
			list, err := dbs[0].RecoveryCodes(t.Context(), m)
			if err != nil || len(list) != coffer.RecoveryCodeCount {
				t.Fatalf("%d codes, %v; want one set of %d", len(list), err, coffer.RecoveryCodeCount)
			}
			for _, c := range list {
				if c.Salt[0] != list[0].Salt[0] {
					t.Fatal("codes of two sets survived together")
				}
			}
		})
	}
}

func TestRace_FailConfirmation(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			now := time.Now().UTC().Truncate(time.Millisecond)
			c := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: m, Purpose: coffer.PurposeLogin, Body: "{}",
				Method: coffer.MethodSMS, State: coffer.ConfirmPending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
			if err := dbs[0].CreateConfirmation(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			const n, max = 12, coffer.MaxConfirmAttempts
			seen := make([]int, n)
			race(n, dbs, func(i int, db *postgres.DB) {
				got, err := db.FailConfirmation(t.Context(), c.ID, max, coffer.NewAuditEvent(now, coffer.AuditConfirmationVoid, m, nil))
				if err != nil {
					t.Errorf("FailConfirmation: %v", err)
					return
				}
				seen[i] = got.Attempts
			})
			got, err := dbs[1].Confirmation(t.Context(), c.ID)
			if err != nil || got.Attempts != max || got.State != coffer.ConfirmVoid {
				t.Fatalf("after %d failures: %+v, %v; want %d attempts, void", n, got, err, max)
			}
			// The calls that counted saw 1, 2 … max, each once; the rest
			// found the confirmation void at max.
			slices.Sort(seen)
			want := make([]int, n)
			for i := range want {
				want[i] = min(i+1, max)
			}
			if !slices.Equal(seen, want) {
				t.Fatalf("attempt counts seen %v, want %v", seen, want)
			}
			if got := auditCount(t, dbs[0], m, coffer.AuditConfirmationVoid); got != 1 {
				t.Fatalf("%d confirmation.void events, want 1", got)
			}
		})
	}
}

func TestRace_RevokeKeyOnce(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			pub, _, _ := ed25519.GenerateKey(nil)
			k := &coffer.SigningKey{ID: coffer.NewKeyID(), MemberID: m, PublicKey: pub, CreatedAt: time.Now().UTC()}
			if err := dbs[0].CreateKey(t.Context(), k, 10, nil); err != nil {
				t.Fatal(err)
			}
			var wins atomic.Int32
			race(10, dbs, func(i int, db *postgres.DB) {
				at := time.Now().Add(time.Duration(i) * time.Second)
				ok, err := db.RevokeKey(t.Context(), m, k.ID, at, coffer.NewAuditEvent(at, coffer.AuditKeyRevoked, m, nil))
				if err != nil {
					t.Errorf("RevokeKey: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
			if wins.Load() != 1 {
				t.Fatalf("RevokeKey reported true %d times, want 1", wins.Load())
			}
			if got := auditCount(t, dbs[0], m, coffer.AuditKeyRevoked); got != 1 {
				t.Fatalf("%d key.revoked events, want 1", got)
			}
		})
	}
}

func TestRace_AdvanceStepOnce(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			f := &coffer.Factor{MemberID: m, Kind: coffer.FactorGenerator, Secret: []byte("sealed"), Verified: true,
				CreatedAt: time.Now().UTC(), VerifiedAt: time.Now().UTC()}
			if err := dbs[0].PutFactor(t.Context(), f, nil); err != nil {
				t.Fatal(err)
			}
			var wins atomic.Int32
			race(10, dbs, func(i int, db *postgres.DB) {
				ok, err := db.AdvanceStep(t.Context(), m, 1000)
				if err != nil {
					t.Errorf("AdvanceStep: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
			if wins.Load() != 1 {
				t.Fatalf("one TOTP step was accepted %d times, want 1", wins.Load())
			}
		})
	}
}

func TestRace_AddIPRangeLosesNothing(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			const n = 12
			race(n, dbs, func(i int, db *postgres.DB) {
				if err := db.AddIPRange(t.Context(), m, fmt.Sprintf("192.0.2.%d/32", i), time.Now()); err != nil {
					t.Errorf("AddIPRange: %v", err)
				}
			})
			st, err := dbs[1].Settings(t.Context(), m)
			if err != nil || len(st.IPRanges) != n {
				t.Fatalf("ranges %q, %v; want all %d", st.IPRanges, err, n)
			}
		})
	}
}

func TestRace_UseUnblockOnce(t *testing.T) {
	for _, iso := range isolations {
		t.Run(iso, func(t *testing.T) {
			dbs := twoStores(t, iso)
			m := newMember(t, dbs[0])
			now := time.Now().UTC()
			u := &coffer.Unblock{ID: "u1", MemberID: m, IP: "192.0.2.1", CodeHash: []byte{1}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
			if err := dbs[0].CreateUnblock(t.Context(), u); err != nil {
				t.Fatal(err)
			}
			var wins atomic.Int32
			race(10, dbs, func(i int, db *postgres.DB) {
				if i%2 == 0 {
					if err := db.FailUnblock(t.Context(), m, "192.0.2.1"); err != nil {
						t.Errorf("FailUnblock: %v", err)
					}
					return
				}
				ok, err := db.UseUnblock(t.Context(), "u1", now)
				if err != nil {
					t.Errorf("UseUnblock: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
			if wins.Load() != 1 {
				t.Fatalf("the unblock code was used %d times, want 1", wins.Load())
			}
		})
	}
}
