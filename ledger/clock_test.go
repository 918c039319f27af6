package ledger_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/sqlite"
)

// jumps records the backward jumps an engine observes.
type jumps struct {
	mu sync.Mutex
	by []time.Duration
}

func (j *jumps) add(d time.Duration) { j.mu.Lock(); j.by = append(j.by, d); j.mu.Unlock() }

func (j *jumps) list() []time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.by)
}

// syncBuffer is a log destination the engine's goroutine and the test
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// wantInOrder fails unless every entry of the purses' histories, and
// every transfer, carries a time no earlier than the one before it in
// sequence order.
func wantInOrder(t *testing.T, db coffer.Store, purses []*coffer.Purse, transfers []*coffer.Transfer) {
	t.Helper()
	var entries []*coffer.HistoryEntry
	seen := map[int64]bool{}
	for _, p := range purses {
		h, err := db.History(context.Background(), p.Number, coffer.HistoryFilter{Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		// The history is newest first; its times must not rise.
		for i := 1; i < len(h); i++ {
			if h[i].CreatedAt.After(h[i-1].CreatedAt) {
				t.Errorf("history of %s: entry %d at %v comes after entry %d at %v", p.Number, h[i].Seq, h[i].CreatedAt, h[i-1].Seq, h[i-1].CreatedAt)
			}
		}
		for _, e := range h {
			if !seen[e.Seq] {
				seen[e.Seq] = true
				entries = append(entries, e)
			}
		}
	}
	slices.SortFunc(entries, func(a, b *coffer.HistoryEntry) int { return int(a.Seq - b.Seq) })
	for i := 1; i < len(entries); i++ {
		if entries[i].CreatedAt.Before(entries[i-1].CreatedAt) {
			t.Errorf("entry %d at %v is earlier than entry %d at %v", entries[i].Seq, entries[i].CreatedAt, entries[i-1].Seq, entries[i-1].CreatedAt)
		}
	}
	ts := slices.Clone(transfers)
	slices.SortFunc(ts, func(a, b *coffer.Transfer) int { return int(a.Seq - b.Seq) })
	for i := 1; i < len(ts); i++ {
		if ts[i].CreatedAt.Before(ts[i-1].CreatedAt) {
			t.Errorf("transfer %d at %v is earlier than transfer %d at %v", ts[i].Seq, ts[i].CreatedAt, ts[i-1].Seq, ts[i-1].CreatedAt)
		}
	}
}

// TestEngine_ClockStepsBack: the clock steps back two hours in the middle
// of a run. Every transfer and entry written after it is stamped no
// earlier than the last one before it, so the history stays in order and a
// statement from before the jump holds everything after it; the jump is
// logged and observed once, with its size.
func TestEngine_ClockStepsBack(t *testing.T) { eachStore(t, testClockStepsBack) }

func testClockStepsBack(t *testing.T, open opener) {
	var seen jumps
	logs := &syncBuffer{}
	f := newPayFixture(t, open, 3)
	// A logger the test can read, on a fresh engine over the same store.
	f.eng.Close()
	<-f.eng.Done()
	f.eng = ledger.New(f.db, slog.New(slog.NewTextHandler(logs, nil)), ledger.Config{Now: f.clock, Observer: ledger.Observer{ClockBack: seen.add}})
	go f.eng.Run()
	t.Cleanup(func() { f.eng.Close(); <-f.eng.Done() })

	var ts []*coffer.Transfer
	send := func(from, to int, amount int64) *coffer.Transfer {
		t.Helper()
		tr := f.mustSend(f.members[from], f.purses[from], f.purses[to], amount)
		ts = append(ts, tr)
		return tr
	}
	for i := 0; i < 5; i++ {
		send(i%3, (i+1)%3, 100)
		f.advance(time.Second)
	}
	byCode := f.submit(&coffer.TransferRequest{Sender: f.members[0], From: f.purses[0].Number, To: f.purses[1].Number, Amount: 700,
		Protect: protectByCode("4321", f.clock().Add(30*time.Minute))})
	byTime := f.submit(&coffer.TransferRequest{Sender: f.members[0], From: f.purses[0].Number, To: f.purses[2].Number, Amount: 800,
		Protect: &coffer.Protection{Until: f.clock().Add(10 * time.Minute)}})
	if byCode.Err != nil || byTime.Err != nil {
		t.Fatal(byCode.Err, byTime.Err)
	}
	ts = append(ts, byCode.Transfer, byTime.Transfer)
	orig := send(1, 2, 500)
	before := orig.CreatedAt // the last stamp before the jump

	f.advance(-2 * time.Hour)
	for i := 0; i < 5; i++ {
		send((i+1)%3, i%3, 50)
		f.advance(time.Second)
	}
	if got := f.eng.Act(context.Background(), &coffer.HoldAction{Actor: f.members[1], Seq: byCode.Transfer.Seq, Action: coffer.HoldRelease, Code: "4321"}); got.Err != nil {
		t.Fatalf("release after the jump: %v", got.Err)
	}
	refund := f.submit(&coffer.TransferRequest{Sender: f.members[2], From: f.purses[2].Number, To: f.purses[1].Number, Amount: 200, RefundOf: orig.Seq})
	if refund.Err != nil {
		t.Fatalf("refund after the jump: %v", refund.Err)
	}
	ts = append(ts, refund.Transfer)
	for _, tr := range ts[len(ts)-6:] {
		if !tr.CreatedAt.Equal(before) {
			t.Errorf("transfer %d after the jump stamped %v, want the last stamp before it, %v", tr.Seq, tr.CreatedAt, before)
		}
	}
	// The clock catches up: stamps follow it again.
	f.advance(2 * time.Hour)
	last := send(0, 1, 10)
	if !last.CreatedAt.Equal(f.clock()) {
		t.Errorf("after the clock caught up: stamped %v, want the clock's %v", last.CreatedAt, f.clock())
	}
	// The protection period ended by the clock: the scheduler returns it.
	f.advance(time.Hour)
	if got := f.eng.Act(context.Background(), &coffer.HoldAction{Seq: byTime.Transfer.Seq, Action: coffer.HoldExpire}); got.Err != nil {
		t.Fatalf("expiry: %v", got.Err)
	}

	purses := append([]*coffer.Purse{f.issuer}, f.purses...)
	wantInOrder(t, f.db, purses, ts)
	for _, p := range f.purses {
		h, err := f.db.History(context.Background(), p.Number, coffer.HistoryFilter{Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		since, err := f.db.History(context.Background(), p.Number, coffer.HistoryFilter{Since: before, Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		// Everything from the last entry before the jump on is in a
		// statement since its time.
		n := 0
		for _, e := range h {
			if !e.CreatedAt.Before(before) {
				n++
			}
		}
		if n == 0 || len(since) != n || since[len(since)-1].Seq != h[n-1].Seq {
			t.Errorf("history of %s since %v: got %d entries, want the newest %d of %d", p.Number, before, len(since), n, len(h))
		}
	}
	// The reading after the jump is 2 h before the one just before it.
	if got := seen.list(); len(got) != 1 || got[0] != 2*time.Hour {
		t.Errorf("observed backward jumps %v, want one of 2h0m0s", got)
	}
	if n := strings.Count(logs.String(), "clock went back"); n != 1 {
		t.Errorf("logged the jump %d times, want once:\n%s", n, logs)
	}
	f.check()
}

// TestEngine_ClockBehindStore: an engine started on a store whose last
// entry is later than its clock (the clock went back while the server was
// stopped, or another process's clock is ahead) stamps no earlier than
// that entry. A jump seen at start is observed at once; a later stamp by
// another process is followed without counting as a jump.
func TestEngine_ClockBehindStore(t *testing.T) {
	for _, s := range []struct {
		name string
		pair func(t *testing.T) (testStore, testStore) // two handles on one database, as two processes have
	}{
		{"sqlite", func(t *testing.T) (testStore, testStore) {
			dir := t.TempDir()
			var dbs [2]testStore
			for i := range dbs {
				db, err := sqlite.Open(context.Background(), dir)
				if err != nil {
					t.Fatal(err)
				}
				dbs[i] = db
			}
			return dbs[0], dbs[1]
		}},
		{"postgres", func(t *testing.T) (testStore, testStore) {
			u := pgtest.URL(t)
			var dbs [2]testStore
			for i := range dbs {
				db, err := postgres.Open(context.Background(), u, postgres.Options{})
				if err != nil {
					t.Fatal(err)
				}
				dbs[i] = db
			}
			return dbs[0], dbs[1]
		}},
	} {
		t.Run(s.name, func(t *testing.T) { testClockBehindStore(t, s.pair) })
	}
}

func testClockBehindStore(t *testing.T, pair func(t *testing.T) (testStore, testStore)) {
	ctx := context.Background()
	a, b := pair(t)
	ahead := newPayFixture(t, func(testing.TB) testStore { return a }, 2) // its clock is the ledger's
	var seen jumps
	behind := ahead.clock().Add(-3 * time.Hour)
	engB := ledger.New(b, slog.New(slog.NewTextHandler(&syncBuffer{}, nil)), ledger.Config{Now: func() time.Time { return behind }, Observer: ledger.Observer{ClockBack: seen.add}})
	go engB.Run()
	t.Cleanup(func() { engB.Close(); <-engB.Done(); b.Close() })

	sendB := func(id string) *coffer.Transfer {
		t.Helper()
		res := engB.Submit(ctx, &coffer.TransferRequest{Sender: ahead.members[1], TransferID: id, From: ahead.purses[1].Number, To: ahead.purses[0].Number, Amount: 10})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		return res.Transfer
	}
	first := sendB("behind-1")
	if last := ahead.clock(); !first.CreatedAt.Equal(last) {
		t.Errorf("first transfer of the engine behind: stamped %v, want the ledger's last stamp %v", first.CreatedAt, last)
	}
	if got := seen.list(); len(got) != 1 || got[0] != 3*time.Hour {
		t.Errorf("at start: observed backward jumps %v, want one of 3h0m0s", got)
	}
	// The other process stamps later again: followed, not a jump.
	ahead.advance(time.Minute)
	tr := ahead.mustSend(ahead.members[0], ahead.purses[0], ahead.purses[1], 20)
	second := sendB("behind-2")
	if !second.CreatedAt.Equal(tr.CreatedAt) {
		t.Errorf("after the other engine's transfer at %v: stamped %v, want the same", tr.CreatedAt, second.CreatedAt)
	}
	if got := seen.list(); len(got) != 1 {
		t.Errorf("observed backward jumps %v, want only the one at start", got)
	}
	wantInOrder(t, a, []*coffer.Purse{ahead.issuer, ahead.purses[0], ahead.purses[1]}, nil)
}
