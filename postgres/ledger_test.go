package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

type ledgerFixture struct {
	db          *postgres.DB
	app         string // the store's application_name, to find its connections
	issuer, to  *coffer.Purse
	owner, dest string
}

func newLedgerFixture(t *testing.T) *ledgerFixture {
	ctx := context.Background()
	u := pgtest.URL(t)
	pu, _ := url.Parse(u)
	f := &ledgerFixture{db: openURL(t, u, postgres.Options{}), app: pu.Query().Get("application_name")}
	now := time.Now()
	a := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: now}
	b := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: now}
	for _, m := range []*coffer.Member{a, b} {
		if err := f.db.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	f.owner, f.dest = a.ID, b.ID
	f.issuer = &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: a.ID, Issuer: true, Limit: 1_000_000, CreatedAt: now}
	f.to = &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: b.ID, CreatedAt: now}
	for _, p := range []*coffer.Purse{f.issuer, f.to} {
		if err := f.db.CreatePurse(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// batch applies one transfer of amount as the engine would, calling cut
// (when not nil) after everything is decided and before the commit.
func (f *ledgerFixture) batch(id string, amount int64, cut func() error) error {
	ctx := context.Background()
	now := time.Now().UTC()
	return f.db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		r := &coffer.TransferRequest{Sender: f.owner, TransferID: id, From: f.issuer.Number, To: f.to.Number, Amount: amount}
		if err := tx.Prefetch(ctx, []*coffer.TransferRequest{r}, coffer.DayKey(now), coffer.MonthKey(now)); err != nil {
			return err
		}
		from, err := tx.Purse(ctx, f.issuer.Number)
		if err != nil {
			return err
		}
		to, err := tx.Purse(ctx, f.to.Number)
		if err != nil {
			return err
		}
		t := &coffer.Transfer{Sender: f.owner, TransferID: id, From: from.Number, To: to.Number, Currency: "USD", Amount: amount, Payee: f.dest, CreatedAt: now}
		if err := tx.Write(ctx, &coffer.BatchWrites{
			Transfers: []*coffer.Transfer{t},
			Entries: []*coffer.Entry{
				{Purse: from.Number, Transfer: t, Kind: coffer.EntryTransfer, Amount: -amount, BalanceAfter: from.Balance - amount, Counterparty: to.Number, CreatedAt: now},
				{Purse: to.Number, Transfer: t, Kind: coffer.EntryTransfer, Amount: amount, BalanceAfter: to.Balance + amount, Counterparty: from.Number, CreatedAt: now},
			},
			Balances: map[string]int64{from.Number: from.Balance - amount, to.Number: to.Balance + amount},
		}); err != nil {
			return err
		}
		if cut != nil {
			return cut()
		}
		return nil
	})
}

func (f *ledgerFixture) balance(t *testing.T, p *coffer.Purse) int64 {
	t.Helper()
	got, err := f.db.Purse(context.Background(), p.Number)
	if err != nil {
		t.Fatal(err)
	}
	return got.Balance
}

func (f *ledgerFixture) check(t *testing.T) {
	t.Helper()
	rep, err := f.db.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Violations > 0 {
			t.Fatalf("invariant %d (%s): %s", r.Number, r.Name, r.Example)
		}
	}
}

// TestDB_BatchConnectionLost cuts a batch's server connection after the
// batch has read and decided, before it commits: nothing of it may be
// applied, the error must say to retry, and the store must carry on with
// new connections.
func TestDB_BatchConnectionLost(t *testing.T) {
	ctx := context.Background()
	f := newLedgerFixture(t)
	if err := f.batch("first", 100, nil); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	err = f.batch("cut", 250, func() error {
		var n int
		err := admin.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND state LIKE 'idle in transaction%'`, f.app).Scan(&n)
		if err == nil && n != 1 {
			t.Errorf("terminated %d connections in a transaction, want the batch's one", n)
		}
		return err
	})
	if code := coffer.ErrorCode(err); code != coffer.EUNAVAILABLE {
		t.Fatalf("batch on a cut connection: got %v (code %q), want code %q", err, code, coffer.EUNAVAILABLE)
	}
	if _, err := f.db.Transfer(ctx, f.owner, "cut", ""); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the cut batch's transfer: got %v, want not found", err)
	}
	if got := f.balance(t, f.to); got != 100 {
		t.Fatalf("payee balance after the cut batch: got %d, want 100", got)
	}
	// The retry with the same transfer ID applies it once.
	if err := f.batch("cut", 250, nil); err != nil {
		t.Fatalf("retry after the cut: %v", err)
	}
	if got := f.balance(t, f.to); got != 350 {
		t.Fatalf("payee balance after the retry: got %d, want 350", got)
	}
	f.check(t)
}

// TestDB_BatchesFromTwoStores applies batches through two stores (two
// processes) on one database at once: the ledger head lock makes them take
// turns, so no balance is lost and the sequence numbers stay gapless.
func TestDB_BatchesFromTwoStores(t *testing.T) {
	f := newLedgerFixture(t)
	u := pgtest.WithParam(f.db.URL, "application_name", f.app+"_b")
	other := openURL(t, u, postgres.Options{Isolation: "serializable"})
	g := *f
	g.db = other
	const n = 60
	errc := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		go func() { errc <- f.batch(fmt.Sprintf("a%d", i), 1, nil) }()
		go func() { errc <- g.batch(fmt.Sprintf("b%d", i), 2, nil) }()
	}
	for i := 0; i < 2*n; i++ {
		if err := <-errc; err != nil {
			t.Fatalf("batch: %v", err)
		}
	}
	if got := f.balance(t, f.to); got != 3*n {
		t.Fatalf("payee balance: got %d, want %d", got, 3*n)
	}
	f.check(t)
}
