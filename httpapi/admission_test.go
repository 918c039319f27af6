package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// heldBatches is the real store for the ledger engine, except that while
// hold is set each batch waits, before it begins, until release is closed.
type heldBatches struct {
	*sqlite.DB
	hold    atomic.Bool
	held    chan struct{} // a batch waits
	release chan struct{}
}

func (h *heldBatches) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	if h.hold.Load() {
		h.held <- struct{}{}
		<-h.release
	}
	return h.DB.ApplyBatch(ctx, fn)
}

// TestTransfer_AdmissionBounded checks that a transfer beyond the ledger's
// requests in flight is answered 503 unavailable with Retry-After while
// the engine is busy, and that nothing of it is applied; once the engine
// is free again, the same transfer applies.
func TestTransfer_AdmissionBounded(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	h := &heldBatches{DB: db, held: make(chan struct{}, 1), release: make(chan struct{})}
	// Wait only sets how soon the refusal comes: the one place stays
	// taken until release, however long the refused request waits.
	engine := ledger.New(h, log, ledger.Config{MaxInFlight: 1, Wait: 10 * time.Millisecond})
	go engine.Run()
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher})
	srv := httptest.NewServer(httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true}))
	released := false
	t.Cleanup(func() {
		if !released {
			close(h.release)
		}
		srv.Close()
		svc.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	e := &env{t: t, srv: srv, db: db, clock: &clock{}}
	iss, issUSD := e.issuer(t, "USD", 1_000_000_00)
	payee := e.register(t, "")
	to := e.newPurse(t, payee, "USD")

	// One transfer first, so that the engine has started (its start reads
	// the ledger through ApplyBatch too) before batches are held.
	e.send(t, iss, issUSD, to, "1.00")
	h.hold.Store(true)
	first := make(chan answer, 1)
	go func() {
		a, err := e.tryRequest("POST", "/v1/transfers", iss.token, transferBody{TransferID: "first", From: issUSD, To: to, Amount: "1.00"})
		if err != nil {
			t.Errorf("first transfer: %v", err)
		}
		first <- a
	}()
	<-h.held // the first transfer holds the engine's one place
	before := e.snapshot(t)
	second := transferBody{TransferID: "second", From: issUSD, To: to, Amount: "2.00"}
	a := e.request(t, "POST", "/v1/transfers", iss.token, second)
	wantProblem(t, a, http.StatusServiceUnavailable, "unavailable")
	if a.Header.Get("Retry-After") == "" {
		t.Errorf("got %s without Retry-After, want one", a)
	}

	h.hold.Store(false)
	close(h.release)
	released = true
	wantStatus(t, <-first, http.StatusCreated)
	if got := e.balance(t, payee, to); got != "2.00" {
		t.Fatalf("payee's balance after the refused transfer: got %s, want 2.00 (the first alone)", got)
	}
	if after := e.snapshot(t); after.Transfers != before.Transfers+1 {
		t.Fatalf("transfers: got %d, want %d (the first alone)", after.Transfers, before.Transfers+1)
	}
	wantStatus(t, e.request(t, "POST", "/v1/transfers", iss.token, second), http.StatusCreated)
	if got := e.balance(t, payee, to); got != "4.00" {
		t.Fatalf("payee's balance after the retry: got %s, want 4.00", got)
	}
}
