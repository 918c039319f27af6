// Package storetest is the storage contract suite: every coffer.Store must
// pass it. It runs against SQLite always and against any other store whose
// package calls Run.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// Run runs the contract suite; open returns a fresh, empty, migrated store.
func Run(t *testing.T, open func(t *testing.T) coffer.Store) {
	t.Run("Members", func(t *testing.T) { testMembers(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Currencies", func(t *testing.T) { testCurrencies(t, open(t)) })
	t.Run("Purses", func(t *testing.T) { testPurses(t, open(t)) })
	t.Run("Ledger", func(t *testing.T) { testLedger(t, open(t)) })
	t.Run("History", func(t *testing.T) { testHistory(t, open(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, open(t)) })
	t.Run("Nonces", func(t *testing.T) { testNonces(t, open(t)) })
	t.Run("Certificates", func(t *testing.T) { testCertificates(t, open(t)) })
	t.Run("Factors", func(t *testing.T) { testFactors(t, open(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, open(t)) })
	t.Run("Invoices", func(t *testing.T) { testInvoices(t, open(t)) })
	t.Run("Trusts", func(t *testing.T) { testTrusts(t, open(t)) })
	t.Run("FeeRules", func(t *testing.T) { testFeeRules(t, open(t)) })
	t.Run("PaymentLedger", func(t *testing.T) { testPaymentLedger(t, open(t)) })
	t.Run("LargeBatch", func(t *testing.T) { testLargeBatch(t, open(t)) })
	t.Run("ExpiredInvoices", func(t *testing.T) { testExpiredInvoices(t, open(t)) })
	t.Run("InvoiceByOrder", func(t *testing.T) { testInvoiceByOrder(t, open(t)) })
	t.Run("Identity", func(t *testing.T) { testIdentity(t, open(t)) })
	t.Run("OIDC", func(t *testing.T) { testOIDC(t, open(t)) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, open(t)) })
}

var ctx = context.Background()

func member(t *testing.T, s coffer.Store, email, phone string) *coffer.Member {
	t.Helper()
	m := &coffer.Member{ID: coffer.NewMemberID(), Email: email, Phone: phone, PasswordHash: "$argon2id$x", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := s.CreateMember(ctx, m); err != nil {
		t.Fatalf("CreateMember: %v", err)
	}
	return m
}

func purse(t *testing.T, s coffer.Store, owner string, letter byte, cur string, issuer bool, limit int64) *coffer.Purse {
	t.Helper()
	p := &coffer.Purse{Number: coffer.NewPurseNumber(letter), Currency: cur, Owner: owner, Issuer: issuer, Limit: limit, CreatedAt: time.Now().UTC()}
	if err := s.CreatePurse(ctx, p); err != nil {
		t.Fatalf("CreatePurse: %v", err)
	}
	return p
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := coffer.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func testMembers(t *testing.T, s coffer.Store) {
	a := member(t, s, "a@example.org", "+14155550100")
	for _, login := range []string{a.ID, "a@example.org", "+14155550100"} {
		got, err := s.MemberByLogin(ctx, login)
		if err != nil || got.ID != a.ID || got.Email != a.Email || got.Phone != a.Phone || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("MemberByLogin(%q) = %+v, %v; want %+v", login, got, err, a)
		}
	}
	_, err := s.MemberByLogin(ctx, "nobody@example.org")
	wantCode(t, err, coffer.ENOTFOUND)

	dupEmail := &coffer.Member{ID: coffer.NewMemberID(), Email: "a@example.org", PasswordHash: "x", CreatedAt: time.Now()}
	err = s.CreateMember(ctx, dupEmail)
	wantCode(t, err, coffer.ECONFLICT)
	if e := err.(*coffer.Error); e.Message != "email" {
		t.Fatalf("duplicate e-mail: got message %q, want %q", e.Message, "email")
	}
	dupPhone := &coffer.Member{ID: coffer.NewMemberID(), Phone: "+14155550100", PasswordHash: "x", CreatedAt: time.Now()}
	err = s.CreateMember(ctx, dupPhone)
	wantCode(t, err, coffer.ECONFLICT)
	if e := err.(*coffer.Error); e.Message != "phone" {
		t.Fatalf("duplicate phone: got message %q, want %q", e.Message, "phone")
	}
	dupID := &coffer.Member{ID: a.ID, PasswordHash: "x", CreatedAt: time.Now()}
	wantCode(t, s.CreateMember(ctx, dupID), coffer.ECONFLICT)
	// Members without e-mail or phone do not collide on the empty value.
	member(t, s, "", "")
	member(t, s, "", "")

	if err := s.SetPasswordHash(ctx, a.ID, "$argon2id$new"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MemberByLogin(ctx, a.ID); got.PasswordHash != "$argon2id$new" {
		t.Fatalf("password hash = %q, want the new one", got.PasswordHash)
	}
}

func testSessions(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	sa := &coffer.Session{ID: "s1", MemberID: a.ID, TokenHash: []byte("hash-1"), IP: "127.0.0.1", UserAgent: "ua", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sa); err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionByTokenHash(ctx, []byte("hash-1"))
	if err != nil || got.ID != "s1" || got.MemberID != a.ID || !got.ExpiresAt.Equal(sa.ExpiresAt) {
		t.Fatalf("SessionByTokenHash = %+v, %v; want session s1", got, err)
	}
	_, err = s.SessionByTokenHash(ctx, []byte("nope"))
	wantCode(t, err, coffer.ENOTFOUND)
	if err := s.TouchSession(ctx, "s1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, err := s.Sessions(ctx, a.ID)
	if err != nil || len(list) != 1 || !list[0].LastUsedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("Sessions = %+v, %v; want one touched session", list, err)
	}
	// Another member cannot delete the session.
	wantCode(t, s.DeleteSession(ctx, b.ID, "s1"), coffer.ENOTFOUND)
	if err := s.DeleteSession(ctx, a.ID, "s1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.SessionByTokenHash(ctx, []byte("hash-1"))
	wantCode(t, err, coffer.ENOTFOUND)
}

func testCurrencies(t *testing.T, s coffer.Store) {
	list, err := s.Currencies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(len(list))
	for _, c := range list {
		got += fmt.Sprintf(" %s/%c/%d", c.Code, c.Letter, c.Decimals)
	}
	if want := "2 EUR/E/2 USD/Z/2"; got != want {
		t.Fatalf("default currencies = %q, want %q", got, want)
	}
	if err := s.CreateCurrency(ctx, &coffer.Currency{Code: "BTC", Letter: 'X', Decimals: 8}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateCurrency(ctx, &coffer.Currency{Code: "BTC", Letter: 'Y', Decimals: 8}), coffer.ECONFLICT)
	wantCode(t, s.CreateCurrency(ctx, &coffer.Currency{Code: "GBP", Letter: 'X', Decimals: 2}), coffer.ECONFLICT)
}

func testPurses(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	p1 := purse(t, s, a.ID, 'Z', "USD", false, 0)
	p2 := purse(t, s, a.ID, 'Z', "USD", false, 0)
	list, err := s.Purses(ctx, a.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("Purses = %d, %v; want 2", len(list), err)
	}
	dup := &coffer.Purse{Number: p1.Number, Currency: "USD", Owner: a.ID, CreatedAt: time.Now()}
	wantCode(t, s.CreatePurse(ctx, dup), coffer.ECONFLICT)
	_, err = s.Purse(ctx, "Z999999999999")
	wantCode(t, err, coffer.EPURSENOTFOUND)
	if err := s.SetIssuer(ctx, p2.Number, 5000); err != nil {
		t.Fatal(err)
	}
	got, err := s.Purse(ctx, p2.Number)
	if err != nil || !got.Issuer || got.Limit != 5000 || got.Floor() != -5000 {
		t.Fatalf("after SetIssuer: %+v, %v", got, err)
	}
	wantCode(t, s.SetIssuer(ctx, "Z999999999999", 1), coffer.EPURSENOTFOUND)
}

// plainWrites is what the ledger writes for plain transfers: each with
// its two history entries, and the purses' balances after the batch.
func plainWrites(ts ...coffer.Applied) *coffer.BatchWrites {
	w := &coffer.BatchWrites{Balances: map[string]int64{}}
	for _, a := range ts {
		t := a.T
		if t.Kind == "" {
			t.Kind = coffer.KindTransfer
		}
		if t.Status == "" {
			t.Status = coffer.StatusCompleted
		}
		w.Transfers = append(w.Transfers, t)
		w.Entries = append(w.Entries,
			&coffer.Entry{Purse: t.From, Transfer: t, Kind: coffer.EntryTransfer, Amount: -t.Amount, BalanceAfter: a.FromAfter, Counterparty: t.To, CreatedAt: t.CreatedAt},
			&coffer.Entry{Purse: t.To, Transfer: t, Kind: coffer.EntryTransfer, Amount: t.Amount, BalanceAfter: a.ToAfter, Counterparty: t.From, CreatedAt: t.CreatedAt})
		w.Balances[t.From] = a.FromAfter
		w.Balances[t.To] = a.ToAfter
	}
	return w
}

func apply(t *testing.T, s coffer.Store, ts ...coffer.Applied) {
	t.Helper()
	write(t, s, plainWrites(ts...))
}

func write(t *testing.T, s coffer.Store, w *coffer.BatchWrites) {
	t.Helper()
	if err := s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error { return tx.Write(ctx, w) }); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
}

func testLedger(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	iss := purse(t, s, a.ID, 'Z', "USD", true, 1_000_00)
	pb := purse(t, s, b.ID, 'Z', "USD", false, 0)
	now := time.Now().UTC().Truncate(time.Millisecond)
	t1 := &coffer.Transfer{Sender: a.ID, TransferID: "t1", From: iss.Number, To: pb.Number, Currency: "USD", Amount: 500, Payee: b.ID, CreatedAt: now}
	t2 := &coffer.Transfer{Sender: a.ID, TransferID: "t2", From: iss.Number, To: pb.Number, Currency: "USD", Amount: 250, Description: "second", Payee: b.ID, CreatedAt: now}
	apply(t, s, coffer.Applied{T: t1, FromAfter: -500, ToAfter: 500}, coffer.Applied{T: t2, FromAfter: -750, ToAfter: 750})
	if t1.Seq == 0 || t2.Seq <= t1.Seq {
		t.Fatalf("seqs = %d, %d; want increasing", t1.Seq, t2.Seq)
	}
	var found *coffer.Transfer
	var pur *coffer.Purse
	err := s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		var err error
		if found, err = tx.FindTransfer(ctx, a.ID, "t2"); err != nil {
			return err
		}
		if none, err := tx.FindTransfer(ctx, b.ID, "t2"); err != nil || none != nil {
			return fmt.Errorf("FindTransfer for another sender = %v, %v; want nil", none, err)
		}
		if none, err := tx.Purse(ctx, "Z999999999999"); err != nil || none != nil {
			return fmt.Errorf("Purse(unknown) = %v, %v; want nil", none, err)
		}
		pur, err = tx.Purse(ctx, pb.Number)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == nil || found.Amount != 250 || found.Description != "second" || found.Seq != t2.Seq || found.Payee != b.ID ||
		found.Kind != coffer.KindTransfer || found.Status != coffer.StatusCompleted || found.Protection != nil {
		t.Fatalf("FindTransfer = %+v; want t2", found)
	}
	if pur.Balance != 750 || pur.Held != 0 {
		t.Fatalf("payee balance = %d, held %d; want 750, 0", pur.Balance, pur.Held)
	}
	// The payee sees the transfer too; a stranger does not.
	if got, err := s.Transfer(ctx, b.ID, "t1", ""); err != nil || got.Amount != 500 {
		t.Fatalf("Transfer for payee = %+v, %v", got, err)
	}
	// Another sender may use the same transfer ID; from tells them apart.
	pa := purse(t, s, b.ID, 'Z', "USD", false, 0)
	tb := &coffer.Transfer{Sender: b.ID, TransferID: "t1", From: pb.Number, To: pa.Number, Currency: "USD", Amount: 5, Payee: b.ID, CreatedAt: now}
	apply(t, s, coffer.Applied{T: tb, FromAfter: 745, ToAfter: 5})
	if got, err := s.Transfer(ctx, b.ID, "t1", iss.Number); err != nil || got.Amount != 500 {
		t.Fatalf("Transfer(from issuer) = %+v, %v; want the issuer's t1", got, err)
	}
	if got, err := s.Transfer(ctx, b.ID, "t1", ""); err != nil || got.Amount != 5 {
		t.Fatalf("Transfer(no from) = %+v, %v; want the member's own t1 first", got, err)
	}
	c := member(t, s, "", "")
	_, err = s.Transfer(ctx, c.ID, "t1", "")
	wantCode(t, err, coffer.ENOTFOUND)
	// A failing batch leaves nothing behind.
	t3 := &coffer.Transfer{Sender: a.ID, TransferID: "t3", From: iss.Number, To: pb.Number, Currency: "USD", Amount: 1, Payee: b.ID, CreatedAt: now}
	err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		if err := tx.Write(ctx, plainWrites(coffer.Applied{T: t3, FromAfter: -751, ToAfter: 746})); err != nil {
			return err
		}
		return fmt.Errorf("boom")
	})
	if err == nil {
		t.Fatal("ApplyBatch returned nil for a failing batch")
	}
	_, err = s.Transfer(ctx, a.ID, "t3", "")
	wantCode(t, err, coffer.ENOTFOUND)
	// The store itself refuses a balance below the floor.
	err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		return tx.Write(ctx, &coffer.BatchWrites{Balances: map[string]int64{pb.Number: -1}})
	})
	if err == nil {
		t.Fatal("a balance of -1 on an ordinary purse committed; want a refusal")
	}
	err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		return tx.Write(ctx, &coffer.BatchWrites{Held: map[string]int64{pb.Number: -1}})
	})
	if err == nil {
		t.Fatal("held money of -1 committed; want a refusal")
	}
	if got, err := s.Purse(ctx, pb.Number); err != nil || got.Balance != 745 || got.Held != 0 {
		t.Fatalf("after refused batches: %+v, %v; want balance 745, held 0", got, err)
	}
	// The security log holds security events; transfers are in history.
	if err := s.AppendAudit(ctx, coffer.NewAuditEvent(now, coffer.AuditLoginSucceeded, a.ID, nil), coffer.NewAuditEvent(now, coffer.AuditPurseCreated, a.ID, nil)); err != nil {
		t.Fatal(err)
	}
	evs, err := s.AuditEvents(ctx, a.ID, 0, 10)
	if err != nil || len(evs) != 2 || evs[0].Kind != coffer.AuditPurseCreated || evs[0].Seq <= evs[1].Seq {
		t.Fatalf("AuditEvents(sender) = %d events, %v; want its 2 security events, newest first", len(evs), err)
	}
	if older, err := s.AuditEvents(ctx, a.ID, evs[0].Seq, 10); err != nil || len(older) != 1 || older[0].Seq != evs[1].Seq {
		t.Fatalf("AuditEvents(before newest) = %v, %v; want the older one", older, err)
	}
	rep, err := s.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Check = %+v, %v; want all invariants to hold", rep, err)
	}
	if rep.Transfers != 3 || rep.Entries != 6 {
		t.Fatalf("Check counted %d transfers, %d entries; want 3, 6", rep.Transfers, rep.Entries)
	}
}

func testHistory(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	iss := purse(t, s, a.ID, 'Z', "USD", true, 1_000_000)
	pb := purse(t, s, b.ID, 'Z', "USD", false, 0)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var bal int64
	for i := 0; i < 25; i++ {
		bal += int64(i + 1)
		tr := &coffer.Transfer{Sender: a.ID, TransferID: fmt.Sprintf("h%d", i), From: iss.Number, To: pb.Number, Currency: "USD",
			Amount: int64(i + 1), Payee: b.ID, CreatedAt: base.Add(time.Duration(i) * time.Hour)}
		w := plainWrites(coffer.Applied{T: tr, FromAfter: -bal, ToAfter: bal})
		if i%2 == 1 {
			// Entries without a counterparty of their own (as written before
			// entries had one) show the transfer's other purse.
			for _, e := range w.Entries {
				e.Counterparty = ""
			}
		}
		write(t, s, w)
	}
	var all []*coffer.HistoryEntry
	f := coffer.HistoryFilter{Limit: 10}
	for {
		page, err := s.History(ctx, pb.Number, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].Seq
	}
	if len(all) != 25 {
		t.Fatalf("paged through %d entries, want 25", len(all))
	}
	for i, e := range all {
		want := int64(25 - i)
		if e.Amount != want || e.Counterparty != iss.Number || e.TransferID != fmt.Sprintf("h%d", want-1) ||
			e.Kind != coffer.EntryTransfer || e.Held {
			t.Fatalf("entry %d = %+v; want amount %d from %s", i, e, want, iss.Number)
		}
	}
	if all[0].BalanceAfter != bal {
		t.Fatalf("newest balance_after = %d, want %d", all[0].BalanceAfter, bal)
	}
	out, err := s.History(ctx, iss.Number, coffer.HistoryFilter{Limit: 2})
	if err != nil || len(out) != 2 || out[0].Amount != -25 || out[0].Counterparty != pb.Number ||
		out[1].Amount != -24 || out[1].Counterparty != pb.Number {
		t.Fatalf("issuer side newest = %+v, %v; want -25 and -24 to %s", out, err, pb.Number)
	}
	win, err := s.History(ctx, pb.Number, coffer.HistoryFilter{Limit: 100, Since: base.Add(5 * time.Hour), Until: base.Add(8 * time.Hour)})
	if err != nil || len(win) != 3 {
		t.Fatalf("time window gave %d entries, %v; want 3 (hours 5, 6, 7)", len(win), err)
	}
}
