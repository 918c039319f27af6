package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/sqlite/sqlitetest"
	"github.com/coffer-money/coffer/sqlstore"
)

// corruptLedger writes one transfer ("resend-me", 700 from an issuing purse
// to b) and its history into a new store, closes it and returns its file
// and the transfer as written.
func corruptLedger(t *testing.T) (string, *coffer.Transfer) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
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
	now := time.Now()
	tr := &coffer.Transfer{Sender: a.ID, TransferID: "resend-me", From: iss.Number, To: pb.Number, Currency: "USD", Amount: 700, Payee: b.ID, CreatedAt: now}
	if err := db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error { return tx.Write(ctx, writeOf(tr, -700, 700)) }); err != nil {
		t.Fatal(err)
	}
	if rep, err := db.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("undamaged ledger: Check = %+v, %v; want OK", rep, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return db.Path, tr
}

// writeOf is the batch that applies tr with the balances after it.
func writeOf(tr *coffer.Transfer, fromAfter, toAfter int64) *coffer.BatchWrites {
	e := func(purse string, amount, after int64) *coffer.Entry {
		return &coffer.Entry{Purse: purse, Transfer: tr, Kind: coffer.EntryTransfer, Amount: amount, BalanceAfter: after, CreatedAt: tr.CreatedAt}
	}
	return &coffer.BatchWrites{
		Transfers: []*coffer.Transfer{tr},
		Entries:   []*coffer.Entry{e(tr.From, -tr.Amount, fromAfter), e(tr.To, tr.Amount, toAfter)},
		Balances:  map[string]int64{tr.From: fromAfter, tr.To: toAfter},
	}
}

func reopen(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.OpenFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// integrityProblems returns every problem the integrity results name.
func integrityProblems(res []coffer.IntegrityResult) string {
	var b strings.Builder
	for _, r := range res {
		for _, p := range r.Problems {
			b.WriteString(r.Name + ": " + p + "\n")
		}
	}
	return b.String()
}

// TestDB_CheckFindsDamagedUniqueIndex changes one byte of the key of the
// (sender, transfer ID) index entry of a transfer: the index then cannot
// find the transfer, so the database would take its ID a second time.
// The integrity check the server runs before serving names the index, and
// Check, whose invariant 4 reads the table, finds the duplicate a store
// opened past that check lets in.
func TestDB_CheckFindsDamagedUniqueIndex(t *testing.T) {
	ctx := context.Background()
	path, tr := corruptLedger(t)
	const index = "sqlite_autoindex_transfers_1"
	sqlitetest.ChangeKey(t, path, sqlitetest.RootPage(t, path, index), []byte(tr.TransferID), 'X')
	db := reopen(t, path)

	res, err := db.Integrity(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := integrityProblems(res); !strings.Contains(got, index) || !strings.Contains(got, "cannot find") {
		t.Fatalf("Integrity found %q, want a row the index %s cannot find", got, index)
	}
	rep, err := db.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(integrityProblems(rep.Integrity), index) {
		t.Fatalf("Check = %+v, want the damaged index %s named", rep, index)
	}

	// What the refusal to serve prevents: the damaged index lets the same
	// (sender, transfer ID) in a second time...
	again := *tr
	again.Seq = 0
	if err := db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error { return tx.Write(ctx, writeOf(&again, -1400, 1400)) }); err != nil {
		t.Fatalf("second write of the same transfer ID: %v (the damaged index was expected to let it in)", err)
	}
	// ...and Check, reading the table in full, finds the duplicate.
	rep, err = db.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Number == 4 {
			if r.Violations != 1 || !strings.Contains(r.Example, tr.TransferID) {
				t.Fatalf("invariant 4 = %+v, want the duplicate %s named", r, tr.TransferID)
			}
			return
		}
	}
	t.Fatal("Check reported no invariant 4")
}

// TestDB_CheckFindsChangedHistoryRecord changes the amount of a history
// entry in place in the file, below SQLite: the pages stay well formed, so
// only the invariants can tell, and Check names the entry.
func TestDB_CheckFindsChangedHistoryRecord(t *testing.T) {
	ctx := context.Background()
	path, _ := corruptLedger(t)
	// entries: seq (the rowid), purse, transfer_seq, amount, ...
	sqlitetest.SetColumn(t, path, sqlitetest.RootPage(t, path, "entries"), 1, 3, -701)
	db := reopen(t, path)
	rep, err := db.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rep.Results {
		if r.Number == 6 && r.Violations > 0 && strings.Contains(r.Example, "entry 1 ") {
			found = true
		}
	}
	if !found {
		t.Fatalf("Check = %+v, want invariant 6 failing on entry 1", rep.Results)
	}
}

// TestDB_ZeroedPage zeroes the root page of the history: the integrity
// check names the page, Check reports rather than fails, and a write that
// meets the page is a permanent internal error, never "try again".
func TestDB_ZeroedPage(t *testing.T) {
	ctx := context.Background()
	path, tr := corruptLedger(t)
	page := sqlitetest.RootPage(t, path, "entries")
	sqlitetest.ZeroPage(t, path, page)
	db := reopen(t, path)

	res, err := db.Integrity(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := integrityProblems(res); !strings.Contains(got, fmt.Sprintf("page %d:", page.Number)) {
		t.Fatalf("Integrity found %q, want the damaged page named", got)
	}
	full, err := db.CheckFull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if full.OK() || full.Integrity[0].Name != "PRAGMA integrity_check" || full.Integrity[0].OK() {
		t.Fatalf("CheckFull = %+v, want integrity_check failing", full.Integrity)
	}

	var told []error
	db.OnDamage(func(err error) { told = append(told, err) })
	for i := range 2 {
		again := *tr
		again.Seq, again.TransferID = 0, fmt.Sprintf("after-damage-%d", i)
		err = db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error { return tx.Write(ctx, writeOf(&again, -1400, 1400)) })
		if err == nil {
			t.Fatal("a write into the zeroed page succeeded")
		}
		if code := coffer.ErrorCode(err); code != coffer.EINTERNAL || !sqlstore.IsDamaged(err) {
			t.Fatalf("write into the zeroed page: %v (code %s), want the permanent damaged-database error", err, code)
		}
	}
	if len(told) != 1 || !strings.Contains(told[0].Error(), "malformed") {
		t.Fatalf("OnDamage was told %v, want the damage once", told)
	}
}

// TestEngine_DamagedDatabaseIsPermanent submits a transfer through the
// ledger engine to a store whose history page is zeroed: the answer is a
// permanent internal error, not "retry with the same transfer ID".
func TestEngine_DamagedDatabaseIsPermanent(t *testing.T) {
	ctx := context.Background()
	path, tr := corruptLedger(t)
	sqlitetest.ZeroPage(t, path, sqlitetest.RootPage(t, path, "entries"))
	db := reopen(t, path)
	e := ledger.New(db, slog.New(slog.DiscardHandler), ledger.Config{})
	go e.Run()
	defer e.Close()
	res := e.Submit(ctx, &coffer.TransferRequest{Sender: tr.Sender, TransferID: "after-damage", From: tr.From, To: tr.To, Amount: 1})
	if code := coffer.ErrorCode(res.Err); code != coffer.EINTERNAL || ledger.IsRetryable(res.Err) || !sqlstore.IsDamaged(res.Err) {
		t.Fatalf("Submit on a damaged database = %v (code %s), want a permanent internal error", res.Err, code)
	}
}
