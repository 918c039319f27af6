package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
)

// limitFixture is an issuer funding a payer whose purse gets limits, with
// an engine on a clock the test moves.
type limitFixture struct {
	db                   testStore
	eng                  *ledger.Engine
	now                  atomic.Int64 // unix ms
	issuer, payer, payee *coffer.Purse
}

func newLimitFixture(t *testing.T, open opener, start time.Time) *limitFixture {
	ctx := context.Background()
	db := open(t)
	f := &limitFixture{db: db}
	f.now.Store(start.UnixMilli())
	f.eng = ledger.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), ledger.Config{Now: f.clock})
	go f.eng.Run()
	t.Cleanup(func() { f.eng.Close(); <-f.eng.Done(); db.Close() })
	mk := func(issuer bool) *coffer.Purse {
		m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: start}
		if err := db.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		p := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: m.ID, Issuer: issuer, CreatedAt: start}
		if issuer {
			p.Limit = 1 << 40
		}
		if err := db.CreatePurse(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.issuer, f.payer, f.payee = mk(true), mk(false), mk(false)
	f.send(t, f.issuer, f.payer, 1_000_000, "")
	return f
}

func (f *limitFixture) clock() time.Time { return time.UnixMilli(f.now.Load()) }

var limitSeq atomic.Int64

func (f *limitFixture) send(t *testing.T, from, to *coffer.Purse, amount int64, wantCode string) ledger.Result {
	t.Helper()
	res := f.eng.Submit(context.Background(), &coffer.TransferRequest{Sender: from.Owner,
		TransferID: fmt.Sprintf("t%d", limitSeq.Add(1)), From: from.Number, To: to.Number, Amount: amount})
	if got := coffer.ErrorCode(res.Err); got != wantCode {
		t.Fatalf("transfer of %d: got code %q (%v), want %q", amount, got, res.Err, wantCode)
	}
	return res
}

func (f *limitFixture) setLimits(t *testing.T, perTransfer, perDay, perMonth *int64) {
	t.Helper()
	l := &coffer.PurseLimits{Purse: f.payer.Number, PerTransfer: perTransfer, PerDay: perDay, PerMonth: perMonth}
	if err := f.db.SetPurseLimits(context.Background(), l, f.clock()); err != nil {
		t.Fatal(err)
	}
}

func ptr(v int64) *int64 { return &v }

func TestEngine_LimitEdges(t *testing.T) { eachStore(t, testLimitEdges) }

func testLimitEdges(t *testing.T, open opener) {
	// Each subtest in a year of its own: on PostgreSQL they share one
	// ledger, whose time never runs back.
	year := 2026
	next := func() time.Time {
		year++
		return time.Date(year, 3, 31, 12, 0, 0, 0, time.UTC)
	}
	t.Run("PerTransfer", func(t *testing.T) {
		start := next()
		f := newLimitFixture(t, open, start)
		f.setLimits(t, ptr(5000), nil, nil)
		f.send(t, f.payer, f.payee, 5000, "")
		res := f.send(t, f.payer, f.payee, 5001, coffer.ELIMITEXCEEDED)
		var le *coffer.LimitError
		if !errors.As(res.Err, &le) || le.Remaining != 5000 || le.Period != "transfer" {
			t.Fatalf("got %v, want a per-transfer LimitError with 5000 remaining", res.Err)
		}
	})
	t.Run("PerDayCountsEarlierSpend", func(t *testing.T) {
		start := next()
		f := newLimitFixture(t, open, start)
		f.send(t, f.payer, f.payee, 3000, "") // before the limit: still counts
		f.setLimits(t, nil, ptr(10000), nil)
		f.send(t, f.payer, f.payee, 6999, "")
		res := f.send(t, f.payer, f.payee, 2, coffer.ELIMITEXCEEDED)
		var le *coffer.LimitError
		if !errors.As(res.Err, &le) || le.Remaining != 1 || le.Period != "day" {
			t.Fatalf("got %v, want a daily LimitError with 1 remaining", res.Err)
		}
		f.send(t, f.payer, f.payee, 1, "") // exactly at the limit
		f.send(t, f.payer, f.payee, 1, coffer.ELIMITEXCEEDED)
		// Incoming money does not free the limit.
		f.send(t, f.payee, f.payer, 500, "")
		f.send(t, f.payer, f.payee, 1, coffer.ELIMITEXCEEDED)
		// The next UTC day starts afresh.
		f.now.Store(start.Add(12 * time.Hour).UnixMilli())
		f.send(t, f.payer, f.payee, 10000, "")
		f.send(t, f.payer, f.payee, 1, coffer.ELIMITEXCEEDED)
	})
	t.Run("PerMonthAcrossDays", func(t *testing.T) {
		start := next()
		f := newLimitFixture(t, open, start.Add(-24*time.Hour)) // 30 March
		f.setLimits(t, nil, nil, ptr(20000))
		f.send(t, f.payer, f.payee, 15000, "")
		f.now.Store(start.UnixMilli()) // 31 March: same month
		f.send(t, f.payer, f.payee, 5001, coffer.ELIMITEXCEEDED)
		f.send(t, f.payer, f.payee, 5000, "")
		f.now.Store(start.Add(24 * time.Hour).UnixMilli()) // 1 April
		f.send(t, f.payer, f.payee, 20000, "")
	})
	t.Run("LoweredAtOnceAndRemoved", func(t *testing.T) {
		start := next()
		f := newLimitFixture(t, open, start)
		f.setLimits(t, nil, ptr(100000), nil)
		f.send(t, f.payer, f.payee, 4000, "")
		f.setLimits(t, nil, ptr(4000), nil)
		f.send(t, f.payer, f.payee, 1, coffer.ELIMITEXCEEDED)
		f.setLimits(t, nil, nil, nil)
		f.send(t, f.payer, f.payee, 50000, "")
		f.setLimits(t, nil, ptr(54001), nil) // re-seeded from the history
		f.send(t, f.payer, f.payee, 2, coffer.ELIMITEXCEEDED)
		f.send(t, f.payer, f.payee, 1, "")
	})
}

// Many transfers racing for one daily limit: what is applied never passes
// it, and the refusals are exactly the rest.
func TestEngine_LimitConcurrent(t *testing.T) { eachStore(t, testLimitConcurrent) }

func testLimitConcurrent(t *testing.T, open opener) {
	f := newLimitFixture(t, open, time.Now())
	const limit, amount, n = 10_000, 300, 200
	f.setLimits(t, nil, ptr(limit), nil)
	var wg sync.WaitGroup
	var applied, refused atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := f.eng.Submit(context.Background(), &coffer.TransferRequest{Sender: f.payer.Owner,
				TransferID: fmt.Sprintf("c%d", limitSeq.Add(1)), From: f.payer.Number, To: f.payee.Number, Amount: amount})
			switch coffer.ErrorCode(res.Err) {
			case "":
				applied.Add(amount)
			case coffer.ELIMITEXCEEDED:
				refused.Add(1)
			default:
				t.Errorf("unexpected result %v", res.Err)
			}
		}()
	}
	wg.Wait()
	if applied.Load() != limit/amount*amount || refused.Load() != n-limit/amount {
		t.Fatalf("applied %d in %d transfers, refused %d; want %d applied and %d refused",
			applied.Load(), applied.Load()/amount, refused.Load(), limit/amount*amount, n-limit/amount)
	}
	day, _, err := f.db.PurseSpend(context.Background(), f.payer.Number, f.clock())
	if err != nil || day != applied.Load() {
		t.Fatalf("PurseSpend = %d, %v; want %d", day, err, applied.Load())
	}
	rep, err := f.db.Check(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("check: %+v, %v", rep, err)
	}
}

// BenchmarkEngine_Limited measures transfers from purses that all have
// limits (set high enough never to refuse), against the same without.
func BenchmarkEngine_Limited(b *testing.B) { eachStoreB(b, benchmarkLimited) }

func benchmarkLimited(b *testing.B, open opener) {
	for _, limited := range []bool{false, true} {
		b.Run(fmt.Sprintf("limits=%v", limited), func(b *testing.B) {
			f := newFixture(b, open, 65, 1024)
			defer f.close()
			ctx := context.Background()
			for i := 1; i < 65; i++ {
				if r := f.eng.Submit(ctx, &coffer.TransferRequest{Sender: f.members[0], TransferID: fmt.Sprintf("fund%d", i), From: f.purses[0].Number, To: f.purses[i].Number, Amount: 10_000}); r.Err != nil {
					b.Fatal(r.Err)
				}
				if limited {
					big := int64(1) << 40
					if err := f.db.SetPurseLimits(ctx, &coffer.PurseLimits{Purse: f.purses[i].Number, PerTransfer: &big, PerDay: &big, PerMonth: &big}, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			}
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					from := 1 + int(n%64)
					to := 1 + int((n+1)%64)
					r := f.eng.Submit(ctx, &coffer.TransferRequest{Sender: f.members[from], TransferID: fmt.Sprintf("b%d", n), From: f.purses[from].Number, To: f.purses[to].Number, Amount: 1})
					if r.Err != nil {
						b.Error(r.Err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
