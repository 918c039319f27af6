package ledger_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// heldStore is a store whose batches wait, before they begin, until
// release is closed.
type heldStore struct {
	*sqlite.DB
	held    chan struct{}
	release chan struct{}
}

func (h *heldStore) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	h.held <- struct{}{}
	<-h.release
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
	h := &heldStore{DB: db, held: make(chan struct{}, 4), release: make(chan struct{})}
	newEngine := func(wait time.Duration) *ledger.Engine {
		e := ledger.New(h, slog.New(slog.DiscardHandler), ledger.Config{MaxInFlight: 1, Wait: wait})
		go e.Run()
		return e
	}
	busyEng, ctxEng := newEngine(time.Millisecond), newEngine(time.Hour)
	t.Cleanup(func() {
		close(h.release)
		for _, e := range []*ledger.Engine{busyEng, ctxEng} {
			e.Close()
			<-e.Done()
		}
		db.Close()
	})
	for _, e := range []*ledger.Engine{busyEng, ctxEng} {
		go e.Submit(context.Background(), &coffer.TransferRequest{TransferID: "first"})
		<-h.held // the engine's one place is taken until release
	}

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
