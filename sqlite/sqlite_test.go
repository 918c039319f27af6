package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/storetest"
)

func open(t *testing.T) coffer.Store {
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDB_Contract(t *testing.T) { storetest.Run(t, open) }

func TestDB_RefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+dir+"/"+sqlite.FileName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "newer") && !strings.Contains(err.Error(), "knows only") {
		t.Fatalf("Open on a newer schema: got %v, want a refusal naming the versions", err)
	}
}

func TestDB_ReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}
	if err := db.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.MemberByLogin(ctx, m.ID); err != nil {
		t.Fatalf("member lost across reopen: %v", err)
	}
}

// TestDB_CheckDetectsDamage damages a ledger in each way an invariant
// forbids and expects Check to name that invariant.
func TestDB_CheckDetectsDamage(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) (*sqlite.DB, *sql.DB) {
		dir := t.TempDir()
		db, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		a := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}
		b := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}
		for _, m := range []*coffer.Member{a, b} {
			if err := db.CreateMember(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		iss := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: a.ID, Issuer: true, Limit: 10000}
		pb := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: b.ID}
		for _, p := range []*coffer.Purse{iss, pb} {
			if err := db.CreatePurse(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.AppendAudit(ctx, coffer.NewAuditEvent(time.Now(), coffer.AuditMemberRegistered, a.ID, nil)); err != nil {
			t.Fatal(err)
		}
		fee := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: a.ID}
		if err := db.CreatePurse(ctx, fee); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		// t1: a plain transfer; t2: protected with a fee, still held; t3: a
		// refund of part of t1.
		t1 := &coffer.Transfer{Sender: a.ID, TransferID: "t1", From: iss.Number, To: pb.Number, Currency: "USD", Amount: 700, Payee: b.ID, CreatedAt: now,
			Kind: coffer.KindTransfer, Status: coffer.StatusCompleted, Refunded: 100}
		t2 := &coffer.Transfer{Sender: b.ID, TransferID: "t2", From: pb.Number, To: iss.Number, Currency: "USD", Amount: 300, Payee: a.ID, CreatedAt: now,
			Kind: coffer.KindProtected, Status: coffer.StatusHeld, Fee: 5, FeePurse: fee.Number,
			Protection: &coffer.Protection{Until: now.Add(time.Hour)}}
		t3 := &coffer.Transfer{Sender: b.ID, TransferID: "t3", From: pb.Number, To: iss.Number, Currency: "USD", Amount: 100, Payee: a.ID, CreatedAt: now,
			Kind: coffer.KindRefund, Status: coffer.StatusCompleted, RefundOf: 1}
		e := func(t *coffer.Transfer, purse, kind string, held bool, amount, after int64) *coffer.Entry {
			return &coffer.Entry{Purse: purse, Transfer: t, Kind: kind, Held: held, Amount: amount, BalanceAfter: after, CreatedAt: now}
		}
		w := &coffer.BatchWrites{
			Transfers: []*coffer.Transfer{t1, t2, t3},
			Entries: []*coffer.Entry{
				e(t1, iss.Number, coffer.EntryTransfer, false, -700, -700),
				e(t1, pb.Number, coffer.EntryTransfer, false, 700, 700),
				e(t2, pb.Number, coffer.EntryTransfer, false, -300, 400),
				e(t2, iss.Number, coffer.EntryHold, true, 300, 300),
				e(t2, pb.Number, coffer.EntryFee, false, -5, 395),
				e(t2, fee.Number, coffer.EntryFee, true, 5, 5), // held with the protected transfer
				e(t3, pb.Number, coffer.EntryTransfer, false, -100, 295),
				e(t3, iss.Number, coffer.EntryTransfer, false, 100, -600),
			},
			Balances: map[string]int64{iss.Number: -600, pb.Number: 295},
			Held:     map[string]int64{iss.Number: 300, fee.Number: 5},
		}
		err = db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error { return tx.Write(ctx, w) })
		if err != nil {
			t.Fatal(err)
		}
		rep, err := db.Check(ctx)
		if err != nil || !rep.OK() {
			t.Fatalf("undamaged ledger: Check = %+v, %v; want OK", rep, err)
		}
		raw, err := sql.Open("sqlite", "file:"+db.Path+"?_pragma=foreign_keys(0)&_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return db, raw
	}
	cases := []struct {
		name   string
		damage string
		want   []int
	}{
		{"balance changed", `UPDATE purses SET balance = balance + 1 WHERE issuer = 0 AND balance > 100`, []int{1, 6}},
		{"both balances changed", `UPDATE purses SET balance = balance + CASE issuer WHEN 1 THEN -1 ELSE 1 END WHERE balance > 100 OR issuer = 1`, []int{6}},
		{"held changed", `UPDATE purses SET held = held + 1 WHERE issuer = 1`, []int{1, 6}},
		{"held moved to the balance", `UPDATE purses SET held = held - 1, balance = balance + 1 WHERE issuer = 1`, []int{6}},
		{"held below zero", `UPDATE purses SET held = -1 WHERE issuer = 0`, nil}, // CHECK (held >= 0)
		{"entry deleted", `DELETE FROM entries WHERE seq = (SELECT MAX(seq) FROM entries)`, []int{3, 6}},
		{"fee entry deleted", `DELETE FROM entries WHERE kind = 'fee' AND amount > 0`, []int{3, 6}},
		{"held fee made available", `UPDATE entries SET held = 0 WHERE kind = 'fee' AND amount > 0`, []int{3, 6}},
		{"entry kind unknown", `UPDATE entries SET kind = 'gift' WHERE kind = 'hold'`, []int{3}},
		{"hold entry made available", `UPDATE entries SET held = 0 WHERE kind = 'hold'`, []int{3, 6}},
		{"protected transfer completed", `UPDATE transfers SET status = 'completed' WHERE kind = 'protected'`, []int{3}},
		{"fee raised", `UPDATE transfers SET fee = fee + 1 WHERE fee > 0`, []int{3}},
		{"refunded beyond its refunds", `UPDATE transfers SET refunded = refunded + 1 WHERE refunded > 0`, []int{3}},
		{"refunded beyond its amount", `UPDATE transfers SET refunded = amount + 1 WHERE refunded > 0`, []int{3}},
		{"refund unrecorded", `UPDATE transfers SET refunded = 0`, []int{3}},
		{"balance_after wrong", `UPDATE entries SET balance_after = balance_after + 1 WHERE kind = 'hold'`, []int{6}},
		{"transfer duplicated", `INSERT INTO transfers (seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at) SELECT seq + 100, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at FROM transfers`, nil}, // UNIQUE (sender, transfer_id)
		{"overdraft", `UPDATE purses SET lim = 0, issuer = 0 WHERE issuer = 1`, nil},
		{"audit altered", `UPDATE audit_events SET detail = '{"forged":true}' WHERE seq = 1`, []int{8}},
		{"audit deleted", `DELETE FROM audit_events WHERE seq = 1`, []int{8}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, raw := build(t)
			if _, err := raw.Exec(c.damage); err != nil {
				if c.want == nil {
					return // the schema itself refuses this damage
				}
				t.Fatal(err)
			}
			if c.want == nil {
				t.Fatalf("damage %q was accepted by the schema", c.damage)
			}
			rep, err := db.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			failed := map[int]bool{}
			for _, r := range rep.Results {
				if r.Violations > 0 {
					failed[r.Number] = true
				}
			}
			for _, n := range c.want {
				if !failed[n] {
					t.Errorf("got failing invariants %v, want %d among them", failed, n)
				}
			}
		})
	}
}

// TestDB_PurseCacheSeesOtherConnections checks that the ledger's purse cache
// notices a change committed through another handle on the same file (as
// `cofferd admin` does on a running server).
func TestDB_PurseCacheSeesOtherConnections(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}
	if err := db.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	p := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: m.ID}
	if err := db.CreatePurse(ctx, p); err != nil {
		t.Fatal(err)
	}
	read := func() *coffer.Purse {
		var got *coffer.Purse
		if err := db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
			var err error
			got, err = tx.Purse(ctx, p.Number)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(); got.Issuer {
		t.Fatalf("fresh purse is an issuer")
	}
	other, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.SetIssuer(ctx, p.Number, 5000); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if got := read(); !got.Issuer || got.Limit != 5000 {
		t.Fatalf("after another process made it an issuer: got issuer=%v limit=%d, want true 5000", got.Issuer, got.Limit)
	}
	if err := db.SetIssuer(ctx, p.Number, 7000); err != nil {
		t.Fatal(err)
	}
	if got := read(); got.Limit != 7000 {
		t.Fatalf("after SetIssuer on the same handle: got limit %d, want 7000", got.Limit)
	}
}

// TestDB_FilesPrivate checks that the database and its WAL are readable by
// their owner only.
func TestDB_FilesPrivate(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateMember(context.Background(), &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group or others", name, perm)
		}
	}
}

// TestDB_Close checks that a closed store answers every call with
// EUNAVAILABLE (the server is shutting down), not an internal error, and
// that closing it again is harmless.
func TestDB_Close(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"CreateMember":  db.CreateMember(ctx, &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}),
		"MemberByLogin": func() error { _, err := db.MemberByLogin(ctx, "x"); return err }(),
		"Purses":        func() error { _, err := db.Purses(ctx, "x"); return err }(),
		"ApplyBatch":    db.ApplyBatch(ctx, func(coffer.LedgerTx) error { return nil }),
	}
	for name, err := range calls {
		if code := coffer.ErrorCode(err); code != coffer.EUNAVAILABLE {
			t.Errorf("%s after Close: got %q (%v), want %q", name, code, err, coffer.EUNAVAILABLE)
		}
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}
