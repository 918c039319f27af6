// Package ledger is coffer's ledger engine: it takes transfers from many
// concurrent requests, checks them in order against current balances and
// commits each batch in one durable transaction (group commit).
package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-money/coffer"
)

// Result is what a submitted transfer came to.
type Result struct {
	Transfer *coffer.Transfer
	Replayed bool // true when an earlier identical request had applied it
	Err      error
}

type request struct {
	req  *coffer.TransferRequest
	done chan Result
}

// Observer receives engine events, for metrics. All methods may be nil.
type Observer struct {
	Batch   func(size int, d time.Duration)
	Outcome func(code string) // "" for applied
}

// Engine serialises every transfer of one store. Create it with New and
// start it with Run.
type Engine struct {
	store    coffer.Store
	log      *slog.Logger
	now      func() time.Time
	obs      Observer
	maxBatch int
	in       chan request

	mu      sync.RWMutex
	closed  bool
	stopped chan struct{}

	onApplied atomic.Pointer[func([]coffer.Applied)]
}

// OnApplied sets a function called with each committed batch's newly
// applied transfers, on the engine's goroutine: it must not block (hand the
// work to a goroutine of its own through a bounded queue).
func (e *Engine) OnApplied(fn func([]coffer.Applied)) { e.onApplied.Store(&fn) }

// Config holds the engine's tunables.
type Config struct {
	MaxBatch int              // largest batch; default 1024
	Now      func() time.Time // clock; default time.Now
	Observer Observer
}

// New returns an engine over store.
func New(store coffer.Store, log *slog.Logger, cfg Config) *Engine {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{store: store, log: log, now: cfg.Now, obs: cfg.Observer, maxBatch: cfg.MaxBatch,
		in: make(chan request, cfg.MaxBatch*4), stopped: make(chan struct{})}
}

// ErrStopped is returned for transfers submitted after Close.
var ErrStopped = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server is shutting down; retry with the same transfer ID."}

// Submit hands a validated request to the engine and waits for its result.
// The answer comes only after the batch holding it is committed. If ctx ends
// first the transfer may still be applied; a retry with the same transfer ID
// tells.
func (e *Engine) Submit(ctx context.Context, r *coffer.TransferRequest) Result {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return Result{Err: ErrStopped}
	}
	done := make(chan Result, 1)
	select {
	case e.in <- request{req: r, done: done}:
	case <-ctx.Done():
		e.mu.RUnlock()
		return Result{Err: ctx.Err()}
	}
	e.mu.RUnlock()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return Result{Err: ctx.Err()}
	}
}

// Close stops accepting transfers; Run returns once the queued ones are
// committed.
func (e *Engine) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.in)
	}
	e.mu.Unlock()
}

// Done is closed when Run has returned.
func (e *Engine) Done() <-chan struct{} { return e.stopped }

// Run applies batches until Close. It must run in exactly one goroutine per
// store.
func (e *Engine) Run() {
	defer close(e.stopped)
	batch := make([]request, 0, e.maxBatch)
	for {
		r, ok := <-e.in
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < e.maxBatch {
			select {
			case r, ok := <-e.in:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		e.apply(batch)
	}
}

type pending struct {
	r   request
	res Result
}

func (e *Engine) apply(batch []request) {
	start := time.Now()
	out := make([]Result, len(batch))
	// A commit can fail for reasons outside the batch (disk full, another
	// process holding the lock too long). Nothing was applied then; every
	// member of the batch gets an error it can retry with the same ID.
	var applied []coffer.Applied
	err := e.store.ApplyBatch(context.Background(), func(tx coffer.LedgerTx) error {
		b := batchState{tx: tx, purses: map[string]*coffer.Purse{}, seen: map[[2]string]*coffer.Transfer{}, now: e.now().UTC().Truncate(time.Millisecond)}
		b.day, b.month = coffer.DayKey(b.now), coffer.MonthKey(b.now)
		if p, ok := tx.(coffer.LedgerPrefetcher); ok {
			reqs := make([]*coffer.TransferRequest, len(batch))
			for i, r := range batch {
				reqs[i] = r.req
			}
			if err := p.Prefetch(context.Background(), reqs, b.day, b.month); err != nil {
				return err
			}
		}
		for i, r := range batch {
			res, err := b.one(r.req)
			if err != nil {
				return err
			}
			out[i] = res
		}
		applied = b.applied
		if len(b.applied) > 0 {
			if err := tx.Insert(context.Background(), b.applied); err != nil {
				return err
			}
		}
		for n, l := range b.limits {
			if l != nil && l.added > 0 {
				if err := tx.AddSpend(context.Background(), n, b.day, b.month, l.added); err != nil {
					return err
				}
			}
		}
		for n, p := range b.purses {
			if p.Balance != b.orig[n] {
				if err := tx.SetBalance(context.Background(), n, p.Balance); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		e.log.Error("ledger batch failed", "size", len(batch), "err", err)
		ae := &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The transfer could not be committed; retry with the same transfer ID.", Op: "ledger.apply", Err: err}
		for i := range out {
			out[i] = Result{Err: ae}
		}
	}
	if e.obs.Batch != nil {
		e.obs.Batch(len(batch), time.Since(start))
	}
	if fn := e.onApplied.Load(); fn != nil && err == nil && len(applied) > 0 {
		(*fn)(applied)
	}
	for i, r := range batch {
		if e.obs.Outcome != nil {
			code := coffer.ErrorCode(out[i].Err)
			if out[i].Replayed {
				code = "replayed"
			}
			e.obs.Outcome(code)
		}
		r.done <- out[i]
	}
}

type batchState struct {
	tx      coffer.LedgerTx
	purses  map[string]*coffer.Purse
	orig    map[string]int64
	seen    map[[2]string]*coffer.Transfer
	now     time.Time
	applied []coffer.Applied

	day, month string                 // spend periods of now
	limits     map[string]*limitState // by purse; nil value: no limits
}

// limitState is a limited purse's spend within this batch: the counters as
// committed plus what this batch has applied so far. Because the batch holds
// the write lock and checks its transfers in order, concurrent transfers
// cannot together pass a limit.
type limitState struct {
	lim        *coffer.PurseLimits
	day, month int64 // spent in the period, including this batch
	added      int64 // applied in this batch, not yet written to the counters
}

func (b *batchState) limitsOf(n string) (*limitState, error) {
	if l, ok := b.limits[n]; ok {
		return l, nil
	}
	if b.limits == nil {
		b.limits = map[string]*limitState{}
	}
	lim, err := b.tx.PurseLimits(context.Background(), n)
	if err != nil {
		return nil, err
	}
	if lim.Empty() {
		b.limits[n] = nil
		return nil, nil
	}
	l := &limitState{lim: lim}
	if l.day, l.month, err = b.tx.PurseSpend(context.Background(), n, b.day, b.month); err != nil {
		return nil, err
	}
	b.limits[n] = l
	return l, nil
}

// check refuses amount when it would pass one of the limits, saying how much
// may still leave the purse.
func (l *limitState) check(purse string, amount int64) error {
	remaining := int64(coffer.MaxAmount)
	which := ""
	consider := func(period string, limit *int64, spent int64) {
		if limit == nil {
			return
		}
		left := max(*limit-spent, 0)
		if amount > left && which == "" {
			which = period
		}
		remaining = min(remaining, left)
	}
	consider("transfer", l.lim.PerTransfer, 0)
	consider("day", l.lim.PerDay, l.day)
	consider("month", l.lim.PerMonth, l.month)
	if which == "" {
		return nil
	}
	d := l.lim.Decimals
	text := map[string]string{"transfer": "per-transfer", "day": "daily", "month": "monthly"}[which]
	return &coffer.Error{Code: coffer.ELIMITEXCEEDED,
		Message: fmt.Sprintf("The transfer exceeds the %s limit of purse %s; at most %s may leave it now.", text, purse, coffer.FormatAmount(remaining, d)),
		Err:     &coffer.LimitError{Period: which, Remaining: remaining, Decimals: d}}
}

func (b *batchState) purse(n string) (*coffer.Purse, error) {
	if p, ok := b.purses[n]; ok {
		return p, nil
	}
	p, err := b.tx.Purse(context.Background(), n)
	if err != nil || p == nil {
		return nil, err
	}
	if b.orig == nil {
		b.orig = map[string]int64{}
	}
	b.orig[n] = p.Balance
	b.purses[n] = p
	return p, nil
}

// one applies a single request inside the batch. A refusal is returned in
// the Result; only storage failures are returned as error, and they abort
// the whole batch.
func (b *batchState) one(r *coffer.TransferRequest) (Result, error) {
	ctx := context.Background()
	key := [2]string{r.Sender, r.TransferID}
	prev := b.seen[key]
	if prev == nil {
		var err error
		if prev, err = b.tx.FindTransfer(ctx, r.Sender, r.TransferID); err != nil {
			return Result{}, err
		}
	}
	if prev != nil {
		if !prev.Matches(r) {
			return Result{Err: coffer.Errorf(coffer.EIDEMPOTENCYCONFLICT, "Transfer ID %s was already used for a different transfer.", r.TransferID)}, nil
		}
		return Result{Transfer: prev, Replayed: true}, nil
	}
	refuse := func(code, format string, args ...any) (Result, error) {
		return Result{Err: coffer.Errorf(code, format, args...)}, nil
	}
	var from, to *coffer.Purse
	if r.From != r.To {
		var err error
		if from, err = b.purse(r.From); err != nil {
			return Result{}, err
		}
		if to, err = b.purse(r.To); err != nil {
			return Result{}, err
		}
	}
	if err := coffer.CheckTransfer(r, from, to); err != nil {
		return Result{Err: err}, nil
	}
	if from.Balance-r.Amount < from.Floor() {
		if from.Issuer {
			return refuse(coffer.EINSUFFICIENTFUNDS, "The transfer would take issuing purse %s past its limit.", from.Number)
		}
		return refuse(coffer.EINSUFFICIENTFUNDS, "Purse %s holds less than the amount.", from.Number)
	}
	if to.Balance > coffer.MaxAmount-r.Amount {
		return refuse(coffer.ELIMITEXCEEDED, "Purse %s cannot hold that much.", to.Number)
	}
	lim, err := b.limitsOf(from.Number)
	if err != nil {
		return Result{}, err
	}
	if lim != nil {
		if err := lim.check(from.Number, r.Amount); err != nil {
			return Result{Err: err}, nil
		}
		lim.day += r.Amount
		lim.month += r.Amount
		lim.added += r.Amount
	}
	t := &coffer.Transfer{Sender: r.Sender, TransferID: r.TransferID, From: r.From, To: r.To,
		Currency: from.Currency, Amount: r.Amount, Description: r.Description, Payee: to.Owner, CreatedAt: b.now}
	b.applied = append(b.applied, coffer.Applied{T: t, FromAfter: from.Balance - r.Amount, ToAfter: to.Balance + r.Amount})
	from.Balance -= r.Amount
	to.Balance += r.Amount
	b.seen[key] = t
	return Result{Transfer: t}, nil
}

// IsRetryable reports whether a transfer error may be retried with the same
// transfer ID.
func IsRetryable(err error) bool {
	return coffer.ErrorCode(err) == coffer.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded)
}
