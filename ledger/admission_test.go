package ledger_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// heldStore is a store whose batches wait, while hold is set, before they
// begin, until release is closed.
type heldStore struct {
	*sqlite.DB
	hold    atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (h *heldStore) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	if h.hold.Load() {
		select {
		case h.held <- struct{}{}:
		default:
		}
		<-h.release
	}
	return h.DB.ApplyBatch(ctx, fn)
}

// TestEngine_Admission checks that a request beyond MaxInFlight is
// answered ErrBusy once Wait is over, and the caller's own context error
// when that ends first.
func TestEngine_Admission(t *testing.T) {
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var engines []*ledger.Engine
	t.Cleanup(func() {
		close(release)
		for _, e := range engines {
			e.Close()
			<-e.Done()
		}
		db.Close()
	})
	// newEngine returns an engine whose one place is taken, by a request
	// whose batch waits until the test ends.
	newEngine := func(wait time.Duration) *ledger.Engine {
		h := &heldStore{DB: db, held: make(chan struct{}, 1), release: release}
		e := ledger.New(h, slog.New(slog.DiscardHandler), ledger.Config{MaxInFlight: 1, Wait: wait})
		go e.Run()
		engines = append(engines, e)
		e.Submit(context.Background(), &coffer.TransferRequest{TransferID: "warm-up"}) // past the engine's start
		h.hold.Store(true)
		go e.Submit(context.Background(), &coffer.TransferRequest{TransferID: "first"})
		<-h.held // the batch of "first", the only request: it holds the place
		return e
	}
	busyEng, ctxEng := newEngine(time.Millisecond), newEngine(time.Hour)

	res := busyEng.Submit(context.Background(), &coffer.TransferRequest{TransferID: "second"})
	if res.Err != ledger.ErrBusy {
		t.Errorf("beyond the requests in flight: got %v, want ErrBusy", res.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = ctxEng.Submit(ctx, &coffer.TransferRequest{TransferID: "second"})
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("caller gone while waiting for admission: got %v, want %v", res.Err, context.Canceled)
	}
	out := busyEng.SubmitAll(context.Background(), []*coffer.TransferRequest{{TransferID: "a"}, {TransferID: "b"}}, false)
	for i, r := range out {
		if r.Err != ledger.ErrBusy {
			t.Errorf("SubmitAll, transfer %d: got %v, want ErrBusy", i, r.Err)
		}
	}
}
