package ledger_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"pgregory.net/rapid"
)

type fixture struct {
	db      testStore
	eng     *ledger.Engine
	members []string
	purses  []*coffer.Purse // purses[0] is the USD issuing purse
}

// newFixture opens a store, starts an engine and makes members
// each with one USD purse, one EUR purse for member 1, and member 0 an issuer.
func newFixture(t testing.TB, open opener, nMembers int, maxBatch int) *fixture {
	ctx := context.Background()
	db := open(t)
	eng := ledger.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), ledger.Config{MaxBatch: maxBatch})
	go eng.Run()
	f := &fixture{db: db, eng: eng}
	now := time.Now()
	for i := 0; i < nMembers; i++ {
		m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: now}
		if err := db.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		f.members = append(f.members, m.ID)
		p := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: m.ID, CreatedAt: now}
		if i == 0 {
			p.Issuer, p.Limit = true, 1_000_000
		}
		if err := db.CreatePurse(ctx, p); err != nil {
			t.Fatal(err)
		}
		f.purses = append(f.purses, p)
	}
	eur := &coffer.Purse{Number: coffer.NewPurseNumber('E'), Currency: "EUR", Owner: f.members[1], CreatedAt: now}
	if err := db.CreatePurse(ctx, eur); err != nil {
		t.Fatal(err)
	}
	f.purses = append(f.purses, eur)
	return f
}

func (f *fixture) close() {
	f.eng.Close()
	<-f.eng.Done()
	f.db.Close()
}

func (f *fixture) check(t testing.TB) {
	t.Helper()
	rep, err := f.db.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var b fmt.Stringer
		_ = b
		for _, r := range rep.Results {
			if r.Violations > 0 {
				t.Fatalf("invariant %d (%s) violated: %s", r.Number, r.Name, r.Example)
			}
		}
	}
}

// TestEngine_SequentialModel applies random transfers one at a time and
// compares every outcome and every balance with an in-memory model of the
// rules.
func TestEngine_SequentialModel(t *testing.T) { eachStore(t, testSequentialModel) }

func testSequentialModel(t *testing.T, open opener) {
	rapid.Check(t, func(rt *rapid.T) {
		f := newFixture(t, open, 4, 64)
		defer f.close()
		model := map[string]int64{}
		floor := func(p *coffer.Purse) int64 { return p.Floor() }
		type key struct{ sender, id string }
		applied := map[key]*coffer.TransferRequest{}
		n := rapid.IntRange(1, 60).Draw(rt, "n")
		for i := 0; i < n; i++ {
			from := f.purses[rapid.IntRange(0, len(f.purses)-1).Draw(rt, "from")]
			to := f.purses[rapid.IntRange(0, len(f.purses)-1).Draw(rt, "to")]
			sender := from.Owner
			if rapid.IntRange(0, 9).Draw(rt, "foreign") == 0 {
				sender = f.members[rapid.IntRange(0, len(f.members)-1).Draw(rt, "sender")]
			}
			id := fmt.Sprintf("t%d", rapid.IntRange(0, 30).Draw(rt, "id"))
			r := &coffer.TransferRequest{Sender: sender, TransferID: id, From: from.Number, To: to.Number,
				Amount: rapid.Int64Range(1, 400_000).Draw(rt, "amount")}
			res := f.eng.Submit(context.Background(), r)

			want := ""
			prev := applied[key{sender, id}]
			switch {
			case prev != nil && (prev.From != r.From || prev.To != r.To || prev.Amount != r.Amount):
				want = coffer.EIDEMPOTENCYCONFLICT
			case prev != nil:
				want = "replay"
			case from.Number == to.Number:
				want = coffer.ESAMEPURSE
			case from.Owner != sender:
				want = coffer.EFORBIDDEN
			case from.Currency != to.Currency:
				want = coffer.ECURRENCYMISMATCH
			case model[from.Number]-r.Amount < floor(from):
				want = coffer.EINSUFFICIENTFUNDS
			}
			got := coffer.ErrorCode(res.Err)
			if res.Replayed {
				got = "replay"
			}
			if got != want {
				rt.Fatalf("transfer %d %+v: got outcome %q, want %q", i, r, got, want)
			}
			if want == "" {
				model[from.Number] -= r.Amount
				model[to.Number] += r.Amount
				applied[key{sender, id}] = r
			}
		}
		for _, p := range f.purses {
			got, err := f.db.Purse(context.Background(), p.Number)
			if err != nil {
				rt.Fatal(err)
			}
			if got.Balance != model[p.Number] {
				rt.Fatalf("purse %s balance %d, want %d", p.Number, got.Balance, model[p.Number])
			}
		}
		f.check(t)
	})
}

// TestEngine_ConcurrentInvariants fires random transfers, retries and
// conflicting reuses of IDs from many goroutines at once; afterwards every
// invariant holds, every success is recorded once, and every replay returned
// the transfer first applied.
func TestEngine_ConcurrentInvariants(t *testing.T) { eachStore(t, testConcurrentInvariants) }

func testConcurrentInvariants(t *testing.T, open opener) {
	rapid.Check(t, func(rt *rapid.T) {
		f := newFixture(t, open, 6, rapid.IntRange(1, 32).Draw(rt, "maxBatch"))
		defer f.close()
		ctx := context.Background()
		// Fund everyone from the issuer first.
		for i, p := range f.purses[1 : len(f.purses)-1] {
			res := f.eng.Submit(ctx, &coffer.TransferRequest{Sender: f.members[0], TransferID: fmt.Sprintf("fund%d", i),
				From: f.purses[0].Number, To: p.Number, Amount: rapid.Int64Range(0, 5000).Draw(rt, "fund") + 1})
			if res.Err != nil {
				rt.Fatalf("funding: %v", res.Err)
			}
		}
		workers := rapid.IntRange(2, 8).Draw(rt, "workers")
		per := rapid.IntRange(1, 25).Draw(rt, "per")
		type plan struct {
			r       coffer.TransferRequest
			retries int
		}
		plans := make([][]plan, workers)
		for w := range plans {
			for j := 0; j < per; j++ {
				from := f.purses[rapid.IntRange(0, len(f.purses)-2).Draw(rt, "from")]
				to := f.purses[rapid.IntRange(0, len(f.purses)-2).Draw(rt, "to")]
				plans[w] = append(plans[w], plan{
					r: coffer.TransferRequest{Sender: from.Owner, TransferID: fmt.Sprintf("x%d", rapid.IntRange(0, 40).Draw(rt, "id")),
						From: from.Number, To: to.Number, Amount: rapid.Int64Range(1, 3000).Draw(rt, "amount")},
					retries: rapid.IntRange(0, 2).Draw(rt, "retries"),
				})
			}
		}
		var mu sync.Mutex
		successes := map[[2]string]*coffer.Transfer{}
		var wg sync.WaitGroup
		var failure string
		for w := range plans {
			wg.Add(1)
			go func(ps []plan) {
				defer wg.Done()
				for _, p := range ps {
					for k := 0; k <= p.retries; k++ {
						r := p.r
						res := f.eng.Submit(ctx, &r)
						if res.Err != nil {
							continue
						}
						key := [2]string{r.Sender, r.TransferID}
						mu.Lock()
						if prev := successes[key]; prev != nil && prev.Seq != res.Transfer.Seq {
							failure = fmt.Sprintf("%v answered with two different transfers", key)
						}
						if !res.Transfer.Matches(&r) {
							failure = fmt.Sprintf("%v success for a different body", key)
						}
						successes[key] = res.Transfer
						mu.Unlock()
					}
				}
			}(plans[w])
		}
		wg.Wait()
		if failure != "" {
			rt.Fatal(failure)
		}
		for key, tr := range successes {
			got, err := f.db.Transfer(ctx, key[0], key[1], "")
			if err != nil || got.Seq != tr.Seq || got.Amount != tr.Amount {
				rt.Fatalf("answered transfer %v not recorded as answered: %+v, %v", key, got, err)
			}
		}
		f.check(t)
	})
}

func BenchmarkEngine_Submit(b *testing.B) { eachStoreB(b, benchmarkSubmit) }

func benchmarkSubmit(b *testing.B, open opener) {
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("C=%d", c), func(b *testing.B) {
			f := newFixture(b, open, 65, 1024)
			defer f.close()
			ctx := context.Background()
			var seq sync.Mutex
			n := 0
			next := func() int { seq.Lock(); defer seq.Unlock(); n++; return n }
			b.SetParallelism((c + 1) / 2)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next()
					r := &coffer.TransferRequest{Sender: f.members[0], TransferID: fmt.Sprintf("b%d", i),
						From: f.purses[0].Number, To: f.purses[1+i%64].Number, Amount: 1}
					if res := f.eng.Submit(ctx, r); res.Err != nil {
						b.Fatal(res.Err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
