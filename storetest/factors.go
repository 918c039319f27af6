package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func testFactors(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "").ID
	now := time.Now().UTC().Truncate(time.Millisecond)

	t.Run("PutDeleteFactor", func(t *testing.T) {
		f := &coffer.Factor{MemberID: a, Kind: coffer.FactorGenerator, Secret: []byte("sealed"), CreatedAt: now}
		if err := s.PutFactor(ctx, f, coffer.NewAuditEvent(now, coffer.AuditFactorEnrolled, a, nil)); err != nil {
			t.Fatal(err)
		}
		f.Verified, f.VerifiedAt = true, now
		if err := s.PutFactor(ctx, f, nil); err != nil {
			t.Fatal(err)
		}
		list, err := s.Factors(ctx, a)
		if err != nil || len(list) != 1 || !list[0].Verified || string(list[0].Secret) != "sealed" {
			t.Fatalf("got %+v, %v; want one verified generator", list, err)
		}
		if ok, err := s.AdvanceStep(ctx, a, 100); !ok || err != nil {
			t.Fatalf("AdvanceStep(100) = %v, %v; want true", ok, err)
		}
		for _, step := range []int64{100, 99} {
			if ok, err := s.AdvanceStep(ctx, a, step); ok || err != nil {
				t.Fatalf("AdvanceStep(%d) again = %v, %v; want false", step, ok, err)
			}
		}
		if err := s.DeleteFactor(ctx, a, coffer.FactorPhone, nil); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("DeleteFactor of a missing factor: got %v, want not_found", err)
		}
		if err := s.DeleteFactor(ctx, a, coffer.FactorGenerator, nil); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.Factors(ctx, a); len(list) != 0 {
			t.Fatalf("got %d factors after delete, want 0", len(list))
		}
	})

	t.Run("RecoveryCodes", func(t *testing.T) {
		codes := []*coffer.RecoveryCode{{Salt: []byte("s1"), Hash: []byte("h1")}, {Salt: []byte("s2"), Hash: []byte("h2")}}
		if err := s.SetRecoveryCodes(ctx, a, codes, nil); err != nil {
			t.Fatal(err)
		}
		list, err := s.RecoveryCodes(ctx, a)
		if err != nil || len(list) != 2 {
			t.Fatalf("got %d codes, %v; want 2", len(list), err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				ok, err := s.UseRecoveryCode(ctx, a, list[0].ID, now, coffer.NewAuditEvent(now, coffer.AuditRecoveryCodeUsed, a, nil))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("a recovery code was used %d times, want 1", wins)
		}
		if list, _ := s.RecoveryCodes(ctx, a); len(list) != 1 {
			t.Fatalf("got %d unused codes, want 1", len(list))
		}
	})

	t.Run("Confirmations", func(t *testing.T) {
		c := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: a, Purpose: coffer.PurposeTransfer, Ref: "t1",
			Body: "{}", Method: coffer.MethodSMS, Salt: []byte("s"), CodeHash: []byte("h"), State: coffer.ConfirmPending,
			CreatedAt: now, ExpiresAt: now.Add(coffer.ConfirmationTTL)}
		if err := s.CreateConfirmation(ctx, c); err != nil {
			t.Fatal(err)
		}
		dup := *c
		dup.ID = coffer.NewConfirmationID()
		if err := s.CreateConfirmation(ctx, &dup); coffer.ErrorCode(err) != coffer.ECONFLICT {
			t.Fatalf("second pending confirmation: got %v, want conflict", err)
		}
		got, err := s.ConfirmationByRef(ctx, a, coffer.PurposeTransfer, "t1")
		if err != nil || got.ID != c.ID || !got.ExpiresAt.Equal(c.ExpiresAt) {
			t.Fatalf("got %+v, %v", got, err)
		}
		for i := 1; i <= coffer.MaxConfirmAttempts; i++ {
			got, err = s.FailConfirmation(ctx, c.ID, coffer.MaxConfirmAttempts, coffer.NewAuditEvent(now, coffer.AuditConfirmationVoid, a, nil))
			if err != nil || got.Attempts != i {
				t.Fatalf("attempt %d: got %+v, %v", i, got, err)
			}
		}
		if got.State != coffer.ConfirmVoid {
			t.Fatalf("state after %d failures: got %q, want void", coffer.MaxConfirmAttempts, got.State)
		}
		if ok, _ := s.FinishConfirmation(ctx, c.ID, coffer.ConfirmDone); ok {
			t.Fatal("a void confirmation was finished")
		}
		dup.ID = coffer.NewConfirmationID()
		if err := s.CreateConfirmation(ctx, &dup); err != nil {
			t.Fatalf("new confirmation after a void one: %v", err)
		}
		if ok, err := s.ResendConfirmation(ctx, dup.ID, []byte("s2"), []byte("h2"), now.Add(time.Hour)); !ok || err != nil {
			t.Fatalf("ResendConfirmation = %v, %v", ok, err)
		}
		if ok, _ := s.FinishConfirmation(ctx, dup.ID, coffer.ConfirmDone); !ok {
			t.Fatal("FinishConfirmation of a pending confirmation reported false")
		}
		if _, err := s.Confirmation(ctx, "cnf_none"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("unknown confirmation: got %v, want not_found", err)
		}
	})

	t.Run("ConfirmationByRefSameMillisecond", func(t *testing.T) {
		// A new confirmation of a ref made in the millisecond its
		// predecessor ended is the one found, whatever the IDs.
		m := member(t, s, "", "").ID
		at := now.Add(-time.Hour)
		mk := func(ref string) *coffer.Confirmation {
			x := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: m, Purpose: coffer.PurposeTransfer, Ref: ref,
				Body: "{}", Method: coffer.MethodTOTP, State: coffer.ConfirmPending, CreatedAt: at, ExpiresAt: at.Add(coffer.ConfirmationTTL)}
			if err := s.CreateConfirmation(ctx, x); err != nil {
				t.Fatal(err)
			}
			return x
		}
		want := func(ref string, x *coffer.Confirmation, state string) {
			t.Helper()
			got, err := s.ConfirmationByRef(ctx, m, coffer.PurposeTransfer, ref)
			if err != nil || got.ID != x.ID || got.State != state {
				t.Fatalf("ConfirmationByRef: got %+v, %v; want %s %s", got, err, x.ID, state)
			}
		}
		for i := range 4 {
			ref := fmt.Sprintf("same-%d", i)
			first := mk(ref)
			if ok, err := s.VoidConfirmation(ctx, first.ID); !ok || err != nil {
				t.Fatalf("VoidConfirmation = %v, %v", ok, err)
			}
			second := mk(ref)
			want(ref, second, coffer.ConfirmPending)
			if ok, err := s.FinishConfirmation(ctx, second.ID, coffer.ConfirmDone); !ok || err != nil {
				t.Fatalf("FinishConfirmation = %v, %v", ok, err)
			}
			want(ref, second, coffer.ConfirmDone)
			if ok, err := s.VoidConfirmation(ctx, second.ID); !ok || err != nil {
				t.Fatalf("VoidConfirmation = %v, %v", ok, err)
			}
			third := mk(ref)
			want(ref, third, coffer.ConfirmPending)
		}
	})

	t.Run("PaidBefore", func(t *testing.T) {
		iss, m, payee := member(t, s, "", ""), member(t, s, "", ""), member(t, s, "", "")
		pi := purse(t, s, iss.ID, 'Z', "USD", true, 1_000_00)
		pm := purse(t, s, m.ID, 'Z', "USD", false, 0)
		pp := purse(t, s, payee.ID, 'Z', "USD", false, 0)
		paid := func(who, to string, want bool) {
			t.Helper()
			if got, err := s.PaidBefore(ctx, who, to); got != want || err != nil {
				t.Fatalf("PaidBefore(%s, %s) = %v, %v; want %v", who, to, got, err, want)
			}
		}
		b := newBook(t, s)
		send := func(id string, sender, payee string, from, to *coffer.Purse) {
			b.send(&coffer.Transfer{Sender: sender, TransferID: id, From: from.Number, To: to.Number, Currency: "USD", Amount: 100,
				Payee: payee, CreatedAt: now, Kind: coffer.KindTransfer, Status: coffer.StatusCompleted})
			b.commit()
		}
		send("fund", iss.ID, m.ID, pi, pm)
		paid(m.ID, pp.Number, false)
		send("pay", m.ID, payee.ID, pm, pp)
		paid(m.ID, pp.Number, true)
		paid(payee.ID, pm.Number, false) // received from, never paid to
	})

	t.Run("Policy", func(t *testing.T) {
		if p, err := s.Policy(ctx, a); p != nil || err != nil {
			t.Fatalf("got %+v, %v; want nil", p, err)
		}
		p := coffer.DefaultPolicy()
		p.Transfers, p.Threshold, p.ExemptPayees = coffer.TransfersAbove, "10.00", []string{"Z123456789012"}
		if err := s.SetPolicy(ctx, a, p, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Policy(ctx, a)
		if err != nil || got.Transfers != coffer.TransfersAbove || got.Threshold != "10.00" || len(got.ExemptPayees) != 1 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})

	t.Run("Attempts", func(t *testing.T) {
		key := "code " + member(t, s, "", "").ID + " elsewhere"
		if l, err := s.AttemptLock(ctx, key); err != nil || !l.Until.IsZero() || l.Strikes != 0 {
			t.Fatalf("AttemptLock of a new key: got %+v, %v; want the zero lock", l, err)
		}
		for i := range 3 {
			n, err := s.AddAttempt(ctx, key, now.Add(time.Duration(i)*time.Minute), now.Add(-time.Hour))
			if err != nil || n != i+1 {
				t.Fatalf("AddAttempt %d: got %d, %v; want %d", i, n, err, i+1)
			}
		}
		// Attempts before since are forgotten.
		if n, err := s.AddAttempt(ctx, key, now.Add(3*time.Minute), now.Add(90*time.Second)); err != nil || n != 2 {
			t.Fatalf("AddAttempt after a window moved: got %d, %v; want 2", n, err)
		}
		// Concurrent attempts are counted one after another: each sees
		// its own count.
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int]bool{}
		for range 8 {
			wg.Go(func() {
				n, err := s.AddAttempt(ctx, key, now.Add(4*time.Minute), now.Add(90*time.Second))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				seen[n] = true
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(seen) != 8 {
			t.Fatalf("8 concurrent AddAttempt saw %d distinct counts (%v), want 8", len(seen), seen)
		}
		if err := s.RemoveAttempt(ctx, key, now.Add(4*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.AddAttempt(ctx, key, now.Add(5*time.Minute), now.Add(90*time.Second)); err != nil || n != 10 {
			t.Fatalf("after 8 concurrent attempts and one removed: got %d, %v; want 10", n, err)
		}
		if n, err := s.AddAttempt(ctx, "another key", now, now.Add(-time.Hour)); err != nil || n != 1 {
			t.Fatalf("another key: got %d, %v; want 1", n, err)
		}
		ev := coffer.NewAuditEvent(now, coffer.AuditCodesLocked, a, map[string]any{"strikes": 1})
		want := coffer.AttemptLock{Until: now.Add(15 * time.Minute), Strikes: 1}
		if err := s.SetAttemptLock(ctx, key, want, ev); err != nil {
			t.Fatal(err)
		}
		want.Until, want.Strikes = now.Add(30*time.Minute), 2
		if err := s.SetAttemptLock(ctx, key, want, nil); err != nil {
			t.Fatal(err)
		}
		if l, err := s.AttemptLock(ctx, key); err != nil || !l.Until.Equal(want.Until) || l.Strikes != 2 {
			t.Fatalf("AttemptLock: got %+v, %v; want %+v", l, err, want)
		}
		if l, _ := s.AttemptLock(ctx, "another key"); !l.Until.IsZero() {
			t.Fatalf("another key's lock: got %+v, want none", l)
		}
	})

	t.Run("VoidConfirmation", func(t *testing.T) {
		c := member(t, s, "", "").ID
		mk := func(ref string, at time.Time) *coffer.Confirmation {
			x := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: c, Purpose: coffer.PurposeTransfer, Ref: ref,
				Body: "{}", Method: coffer.MethodTOTP, State: coffer.ConfirmPending, CreatedAt: at, ExpiresAt: at.Add(coffer.ConfirmationTTL)}
			if err := s.CreateConfirmation(ctx, x); err != nil {
				t.Fatal(err)
			}
			return x
		}
		old := mk("r0", now.Add(-time.Hour))
		x := mk("r1", now)
		mk("r2", now.Add(time.Second))
		if done, err := s.FinishConfirmation(ctx, x.ID, coffer.ConfirmDone); !done || err != nil {
			t.Fatalf("FinishConfirmation: %v, %v", done, err)
		}
		if ok, err := s.VoidConfirmation(ctx, x.ID); !ok || err != nil {
			t.Fatalf("VoidConfirmation of a done confirmation: got %v, %v; want true", ok, err)
		}
		if ok, err := s.VoidConfirmation(ctx, x.ID); ok || err != nil {
			t.Fatalf("VoidConfirmation again: got %v, %v; want false", ok, err)
		}
		if got, _ := s.Confirmation(ctx, x.ID); got.State != coffer.ConfirmVoid {
			t.Fatalf("state after VoidConfirmation: %q, want void", got.State)
		}
		if _, err := s.FinishConfirmation(ctx, old.ID, coffer.ConfirmExpired); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.VoidConfirmation(ctx, old.ID); ok {
			t.Fatal("VoidConfirmation of an expired confirmation: got true, want false")
		}
	})
}
