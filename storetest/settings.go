package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func testSettings(t *testing.T, s coffer.Store) {
	m := member(t, s, "set@example.org", "")
	now := time.Now().UTC().Truncate(time.Millisecond)

	t.Run("Defaults", func(t *testing.T) {
		st, err := s.Settings(ctx, m.ID)
		if err != nil || len(st.IPRanges) != 0 || st.Notify != coffer.DefaultNotifications || st.NewDeviceConfirmation {
			t.Fatalf("Settings = %+v, %v; want the defaults", st, err)
		}
	})
	t.Run("IPRanges", func(t *testing.T) {
		if err := s.SetIPRanges(ctx, m.ID, []string{"10.0.0.0/8", "2001:db8::/32"}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.AddIPRange(ctx, m.ID, "192.0.2.7/32", now); err != nil {
			t.Fatal(err)
		}
		if err := s.AddIPRange(ctx, m.ID, "10.0.0.0/8", now); err != nil { // already there
			t.Fatal(err)
		}
		st, err := s.Settings(ctx, m.ID)
		want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}
		if err != nil || !slices.Equal(st.IPRanges, want) || st.Notify != coffer.DefaultNotifications {
			t.Fatalf("Settings = %+v, %v; want ranges %q", st, err, want)
		}
		full := make([]string, coffer.MaxIPRanges)
		for i := range full {
			full[i] = "10.0.0." + string(rune('a'+i))
		}
		if err := s.SetIPRanges(ctx, m.ID, full, now); err != nil {
			t.Fatal(err)
		}
		err = s.AddIPRange(ctx, m.ID, "192.0.2.8/32", now)
		wantCode(t, err, coffer.ELIMITEXCEEDED)
		if !errors.Is(err, coffer.ErrIPRangesFull) {
			t.Fatalf("AddIPRange to a full list: got %v, want ErrIPRangesFull", err)
		}
		if err := s.SetIPRanges(ctx, m.ID, nil, now); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Settings(ctx, m.ID); len(st.IPRanges) != 0 {
			t.Fatalf("got ranges %q after clearing", st.IPRanges)
		}
	})
	t.Run("Notifications", func(t *testing.T) {
		n := coffer.Notifications{IncomingPayment: true}
		if err := s.SetNotifications(ctx, m.ID, n, now); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Settings(ctx, m.ID); err != nil || st.Notify != n {
			t.Fatalf("Settings = %+v, %v; want notifications %+v", st, err, n)
		}
	})
	t.Run("SeenIP", func(t *testing.T) {
		if known, err := s.KnownIP(ctx, m.ID, "192.0.2.1"); err != nil || known {
			t.Fatalf("KnownIP before any login = %v, %v; want false", known, err)
		}
		for i, want := range []bool{true, false} {
			if first, err := s.SeenIP(ctx, m.ID, "192.0.2.1", now); err != nil || first != want {
				t.Fatalf("SeenIP #%d = %v, %v; want %v", i, first, err, want)
			}
		}
		if known, err := s.KnownIP(ctx, m.ID, "192.0.2.1"); err != nil || !known {
			t.Fatalf("KnownIP after a login = %v, %v; want true", known, err)
		}
	})
	t.Run("Unblock", func(t *testing.T) {
		u := &coffer.Unblock{ID: "u1", MemberID: m.ID, IP: "192.0.2.1", CodeHash: []byte{1, 2}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateUnblock(ctx, u); err != nil {
			t.Fatal(err)
		}
		live, err := s.LiveUnblocks(ctx, m.ID, "192.0.2.1", now, 2)
		if err != nil || len(live) != 1 || live[0].ID != "u1" {
			t.Fatalf("LiveUnblocks = %v, %v; want u1", live, err)
		}
		if live, _ := s.LiveUnblocks(ctx, m.ID, "192.0.2.1", now.Add(time.Minute), 2); len(live) != 0 {
			t.Fatal("an expired code is live")
		}
		if live, _ := s.LiveUnblocks(ctx, m.ID, "192.0.2.2", now, 2); len(live) != 0 {
			t.Fatal("a code is live for another address")
		}
		s.FailUnblock(ctx, m.ID, "192.0.2.1")
		s.FailUnblock(ctx, m.ID, "192.0.2.1")
		if live, _ := s.LiveUnblocks(ctx, m.ID, "192.0.2.1", now, 2); len(live) != 0 {
			t.Fatal("a code is live after too many failures")
		}
		for i, want := range []bool{true, false} {
			if ok, err := s.UseUnblock(ctx, "u1", now); err != nil || ok != want {
				t.Fatalf("UseUnblock #%d = %v, %v; want %v", i, ok, err, want)
			}
		}
	})
	t.Run("PurseLimits", func(t *testing.T) {
		iss := purse(t, s, m.ID, 'Z', "USD", true, 1_000_000)
		p := purse(t, s, m.ID, 'Z', "USD", false, 0)
		q := purse(t, s, m.ID, 'Z', "USD", false, 0)
		if l, err := s.PurseLimits(ctx, p.Number); l != nil || err != nil {
			t.Fatalf("PurseLimits = %+v, %v; want none", l, err)
		}
		apply(t, s, coffer.Applied{T: &coffer.Transfer{Sender: m.ID, TransferID: "fund", From: iss.Number, To: p.Number, Currency: "USD", Amount: 1000, Payee: m.ID, CreatedAt: now}, FromAfter: -1000, ToAfter: 1000})
		apply(t, s, coffer.Applied{T: &coffer.Transfer{Sender: m.ID, TransferID: "out", From: p.Number, To: q.Number, Currency: "USD", Amount: 300, Payee: m.ID, CreatedAt: now}, FromAfter: 700, ToAfter: 300})
		day := int64(500)
		if err := s.SetPurseLimits(ctx, &coffer.PurseLimits{Purse: p.Number, PerDay: &day}, now); err != nil {
			t.Fatal(err)
		}
		l, err := s.PurseLimits(ctx, p.Number)
		if err != nil || l == nil || l.PerDay == nil || *l.PerDay != 500 || l.PerTransfer != nil || l.PerMonth != nil || l.Decimals != 2 {
			t.Fatalf("PurseLimits = %+v, %v; want per_day 500 only", l, err)
		}
		if d, mo, err := s.PurseSpend(ctx, p.Number, now); err != nil || d != 300 || mo != 300 {
			t.Fatalf("PurseSpend = %d, %d, %v; want 300, 300", d, mo, err)
		}
		// The ledger's counters start from the history.
		err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
			d, mo, err := tx.PurseSpend(ctx, p.Number, coffer.DayKey(now), coffer.MonthKey(now))
			if err != nil || d != 300 || mo != 300 {
				t.Errorf("LedgerTx.PurseSpend = %d, %d, %v; want 300, 300", d, mo, err)
			}
			if l, err := tx.PurseLimits(ctx, p.Number); err != nil || l == nil || *l.PerDay != 500 {
				t.Errorf("LedgerTx.PurseLimits = %+v, %v", l, err)
			}
			if l, err := tx.PurseLimits(ctx, q.Number); err != nil || l != nil {
				t.Errorf("LedgerTx.PurseLimits(unlimited) = %+v, %v", l, err)
			}
			return tx.AddSpend(ctx, p.Number, coffer.DayKey(now), coffer.MonthKey(now), 5)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
			if d, mo, err := tx.PurseSpend(ctx, p.Number, coffer.DayKey(now), coffer.MonthKey(now)); err != nil || d != 305 || mo != 305 {
				t.Errorf("after AddSpend: %d, %d, %v; want 305, 305", d, mo, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetPurseLimits(ctx, &coffer.PurseLimits{Purse: p.Number}, now); err != nil {
			t.Fatal(err)
		}
		if l, err := s.PurseLimits(ctx, p.Number); l != nil || err != nil {
			t.Fatalf("PurseLimits after removal = %+v, %v; want none", l, err)
		}
	})
	// What left a purse counts as the ledger counts it: the transfer's
	// amount, not its fee, and not held money moving on.
	t.Run("PurseSpendCountsTransfersOnly", func(t *testing.T) {
		iss := purse(t, s, m.ID, 'Z', "USD", true, 1_000_000)
		p := purse(t, s, m.ID, 'Z', "USD", false, 0)
		q := purse(t, s, m.ID, 'Z', "USD", false, 0)
		fees := purse(t, s, m.ID, 'Z', "USD", false, 0)
		apply(t, s, coffer.Applied{T: &coffer.Transfer{Sender: m.ID, TransferID: "fund2", From: iss.Number, To: p.Number, Currency: "USD", Amount: 1000, Payee: m.ID, CreatedAt: now}, FromAfter: -1000, ToAfter: 1000})
		tr := &coffer.Transfer{Sender: m.ID, TransferID: "paid", From: p.Number, To: q.Number, Currency: "USD", Amount: 200, Payee: m.ID,
			Fee: 7, FeePurse: fees.Number, Kind: coffer.KindTransfer, Status: coffer.StatusCompleted, CreatedAt: now}
		write(t, s, &coffer.BatchWrites{
			Transfers: []*coffer.Transfer{tr},
			Entries: []*coffer.Entry{
				{Purse: p.Number, Transfer: tr, Kind: coffer.EntryTransfer, Amount: -200, BalanceAfter: 800, Counterparty: q.Number, CreatedAt: now},
				{Purse: q.Number, Transfer: tr, Kind: coffer.EntryTransfer, Amount: 200, BalanceAfter: 200, Counterparty: p.Number, CreatedAt: now},
				{Purse: p.Number, Transfer: tr, Kind: coffer.EntryFee, Amount: -7, BalanceAfter: 793, Counterparty: fees.Number, CreatedAt: now},
				{Purse: fees.Number, Transfer: tr, Kind: coffer.EntryFee, Amount: 7, BalanceAfter: 7, Counterparty: p.Number, CreatedAt: now},
			},
			Balances: map[string]int64{p.Number: 793, q.Number: 200, fees.Number: 7},
		})
		// Held money of q released onto its available balance.
		rel := &coffer.Transfer{Sender: m.ID, TransferID: "held", From: p.Number, To: q.Number, Currency: "USD", Amount: 50, Payee: m.ID,
			Kind: coffer.KindProtected, Status: coffer.StatusReleased, Protection: &coffer.Protection{Until: now}, CreatedAt: now}
		write(t, s, &coffer.BatchWrites{
			Transfers: []*coffer.Transfer{rel},
			Entries: []*coffer.Entry{
				{Purse: q.Number, Transfer: rel, Kind: coffer.EntryRelease, Held: true, Amount: -50, BalanceAfter: 0, Counterparty: q.Number, CreatedAt: now},
				{Purse: q.Number, Transfer: rel, Kind: coffer.EntryRelease, Amount: 50, BalanceAfter: 250, Counterparty: q.Number, CreatedAt: now},
			},
			Balances: map[string]int64{q.Number: 250},
		})
		if d, mo, err := s.PurseSpend(ctx, p.Number, now); err != nil || d != 200 || mo != 200 {
			t.Fatalf("PurseSpend(sender) = %d, %d, %v; want 200, 200 (the fee left out)", d, mo, err)
		}
		if d, mo, err := s.PurseSpend(ctx, q.Number, now); err != nil || d != 0 || mo != 0 {
			t.Fatalf("PurseSpend(payee) = %d, %d, %v; want 0, 0 (held money moving on left out)", d, mo, err)
		}
	})
}
