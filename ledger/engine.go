// Package ledger is coffer's ledger engine: it takes transfers from many
// concurrent requests, checks them in order against current balances and
// commits each batch in one durable transaction (group commit).
package ledger

import (
	"context"
	"errors"
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

// request is one unit of work for the engine: a transfer, an action on a
// held transfer, or a group of transfers applied all or nothing.
type request struct {
	req   *coffer.TransferRequest
	check *coffer.TransferRequest // decided, then undone: see Check
	act   *coffer.HoldAction
	group []*coffer.TransferRequest
	done  chan []Result
}

// Observer receives engine events, for metrics. All methods may be nil.
type Observer struct {
	Batch   func(size int, d time.Duration)
	Outcome func(code string) // "" for applied
	// ClockBack is told of each backward jump of the clock, by how much.
	ClockBack func(by time.Duration)
}

// Levels gives the daily limit of each verification level; *coffer.Levels
// is one.
type Levels interface {
	// DailyLimit returns what may leave all of a member's purses in cur
	// per UTC day, in minor units, for the level name stored for the
	// member; nil when there is no limit.
	DailyLimit(level string, cur *coffer.Currency) *int64
}

// Currencies gives the decimals of a currency (2 for one it does not
// know). It is called inside the batch, so it must be quick, and safe for
// concurrent use.
type Currencies interface {
	Decimals(ctx context.Context, code string) int
}

// Engine serialises every transfer of one store. Create it with New and
// start it with Run.
type Engine struct {
	store    coffer.LedgerStore
	log      *slog.Logger
	now      func() time.Time
	obs      Observer
	maxBatch int
	levels   Levels     // nil: no level limits
	cur      Currencies // never nil
	in       chan request
	slots    chan struct{} // one per request admitted and not yet answered; nil: no bound
	wait     time.Duration // longest wait for admission; 0: the caller's context alone

	mu      sync.RWMutex
	closed  bool
	stopped chan struct{}

	// The ledger's time never runs back (see stamp). Only Run's
	// goroutine uses these.
	last     time.Time // the latest stamp committed, by this engine or read from the store
	lastRead time.Time // the clock's previous reading; at start, the store's last stamp

	onApplied atomic.Pointer[func([]coffer.Applied)]
}

// OnApplied sets a function called with each committed batch's newly
// applied transfers, on the engine's goroutine: it must not block (hand the
// work to a goroutine of its own through a bounded queue).
func (e *Engine) OnApplied(fn func([]coffer.Applied)) { e.onApplied.Store(&fn) }

// Config holds the engine's tunables.
type Config struct {
	MaxBatch int // largest batch; default 1024
	// Now is the wall clock the engine stamps transfers with; default
	// time.Now. A reading earlier than the ledger's last stamp (the clock
	// stepped back, or another process's clock is ahead) stamps with the
	// last stamp instead; a backward jump is logged and observed.
	Now      func() time.Time
	Observer Observer
	// Levels are the verification levels. The engine applies the daily
	// limit of each owner's level to what leaves all of the owner's purses
	// in a currency per UTC day, unless the request carries its own
	// (TransferRequest.OwnerDailyLimit). It reads the owner's level in its
	// batch, so a lowered level holds from the next batch on. Nil: no
	// level limits.
	Levels Levels
	// Currencies gives each currency's decimals, for amounts in messages
	// and the levels' limits; nil: 2 for every currency.
	Currencies Currencies
	// MaxInFlight bounds the requests (Submit, Act, Check, SubmitAll
	// calls) admitted and not yet answered; 0: no bound. A request waits
	// at most Wait for its place and for room in the engine's queue, and
	// is answered ErrBusy beyond it, with nothing applied.
	MaxInFlight int
	// Wait is the longest a request waits for admission; 0: as long as its
	// context allows. Once admitted, a request waits for its batch as
	// long as its context allows.
	Wait time.Duration
}

// twoDecimals is the Currencies of an engine configured without one.
type twoDecimals struct{}

func (twoDecimals) Decimals(context.Context, string) int { return 2 }

// New returns an engine over store.
func New(store coffer.LedgerStore, log *slog.Logger, cfg Config) *Engine {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Currencies == nil {
		cfg.Currencies = twoDecimals{}
	}
	e := &Engine{store: store, log: log, now: cfg.Now, obs: cfg.Observer, maxBatch: cfg.MaxBatch, levels: cfg.Levels, cur: cfg.Currencies,
		in: make(chan request, cfg.MaxBatch*4), stopped: make(chan struct{}), wait: max(cfg.Wait, 0)}
	if cfg.MaxInFlight > 0 {
		e.slots = make(chan struct{}, cfg.MaxInFlight)
	}
	return e
}

// ErrStopped is returned for transfers submitted after Close.
var ErrStopped = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server is shutting down; retry with the same transfer ID."}

// ErrBusy is returned for a request not admitted within Config.Wait: the
// engine has Config.MaxInFlight requests already, or its queue is full.
// Nothing of the request was applied.
var ErrBusy = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The ledger is busy; retry shortly with the same transfer ID."}

// Submit hands a validated request to the engine and waits for its result.
// The answer comes only after the batch holding it is committed. If ctx ends
// first the transfer may still be applied; a retry with the same transfer ID
// tells.
func (e *Engine) Submit(ctx context.Context, r *coffer.TransferRequest) Result {
	return e.do(ctx, request{req: r}, 1)[0]
}

// Act applies an action on a held protected transfer (release by code,
// refusal by the payee, expiry by the scheduler). The result carries the
// transfer as it is afterwards. A wrong code is counted even though the
// action fails.
func (e *Engine) Act(ctx context.Context, a *coffer.HoldAction) Result {
	return e.do(ctx, request{act: a}, 1)[0]
}

// Check decides a transfer as the engine would apply it now, in its batch
// order with every balance, limit and state it checks, and then undoes it:
// nothing is written. A refusal comes back in Result.Err; a nil error
// means it would apply (or is a replay) at this moment. It is asked before
// a transfer waits for the member's confirmation, so no code is sent for a
// transfer the ledger would refuse anyway.
func (e *Engine) Check(ctx context.Context, r *coffer.TransferRequest) Result {
	return e.do(ctx, request{check: r}, 1)[0]
}

// SubmitAll applies up to coffer.MaxBatchTransfers transfers. Each is
// applied or refused on its own, or, with all, either every one is applied
// or none (the refused ones carry their reason, the others ENOTAPPLIED).
// Retries are safe per transfer ID, as with Submit.
func (e *Engine) SubmitAll(ctx context.Context, rs []*coffer.TransferRequest, all bool) []Result {
	if len(rs) == 0 {
		return nil
	}
	if all {
		return e.do(ctx, request{group: rs}, len(rs))
	}
	// Each on its own: queued back to back, so they share batches.
	out := make([]Result, len(rs))
	actx, release, err := e.admit(ctx)
	if err != nil {
		for i := range out {
			out[i] = Result{Err: err}
		}
		return out
	}
	defer release()
	dones := make([]chan []Result, len(rs))
	for i, r := range rs {
		dones[i] = make(chan []Result, 1)
		if err := e.enqueue(ctx, actx, request{req: r, done: dones[i]}); err != nil {
			for j := i; j < len(rs); j++ {
				out[j] = Result{Err: err}
			}
			dones = dones[:i]
			break
		}
	}
	for i, d := range dones {
		select {
		case res := <-d:
			out[i] = res[0]
		case <-ctx.Done():
			out[i] = Result{Err: ctx.Err()}
		}
	}
	return out
}

// admit takes a place among the requests in flight, waiting at most
// e.wait. It returns the context that bounds the rest of the admission
// (the wait for room in the queue: see enqueue) and the function that
// gives the place back, to call once the request is answered.
func (e *Engine) admit(ctx context.Context) (context.Context, func(), error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if e.wait > 0 {
		actx, cancel = context.WithTimeout(ctx, e.wait)
	}
	if e.slots == nil {
		return actx, cancel, nil
	}
	select {
	case e.slots <- struct{}{}:
		return actx, func() { cancel(); <-e.slots }, nil
	default:
	}
	select {
	case e.slots <- struct{}{}:
		return actx, func() { cancel(); <-e.slots }, nil
	case <-actx.Done():
		cancel()
		return nil, nil, busy(ctx, actx)
	}
}

// busy is the error for an admission that actx ended: the caller's own
// context's error when that ended it, else ErrBusy.
func busy(ctx, actx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrBusy
}

// enqueue queues r, waiting for room as long as actx (admit's) allows.
func (e *Engine) enqueue(ctx, actx context.Context, r request) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrStopped
	}
	select {
	case e.in <- r:
		return nil
	default:
	}
	select {
	case e.in <- r:
		return nil
	case <-actx.Done():
		return busy(ctx, actx)
	}
}

func (e *Engine) do(ctx context.Context, r request, n int) []Result {
	fail := func(err error) []Result {
		out := make([]Result, n)
		for i := range out {
			out[i] = Result{Err: err}
		}
		return out
	}
	actx, release, err := e.admit(ctx)
	if err != nil {
		return fail(err)
	}
	defer release()
	r.done = make(chan []Result, 1)
	if err := e.enqueue(ctx, actx, r); err != nil {
		return fail(err)
	}
	select {
	case res := <-r.done:
		return res
	case <-ctx.Done():
		return fail(ctx.Err())
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
	e.learnLastStamp()
	batch := make([]request, 0, e.maxBatch)
	for {
		r, ok := <-e.in
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		size := r.size()
	fill:
		for size < e.maxBatch {
			select {
			case r, ok := <-e.in:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				size += r.size()
			default:
				break fill
			}
		}
		e.apply(batch)
	}
}

func (r *request) size() int {
	if r.group != nil {
		return len(r.group)
	}
	return 1
}

func (e *Engine) apply(batch []request) {
	start := time.Now()
	out := make([][]Result, len(batch))
	// A commit can fail for reasons outside the batch (disk full, a lost
	// database connection). Nothing was applied then; every member of the
	// batch gets an error it can retry with the same ID.
	var applied []coffer.Applied
	var used time.Time // the stamp the committed batch carries
	stamp := e.stamp()
	err := e.store.ApplyBatch(context.Background(), func(tx coffer.LedgerTx) error {
		b := newBatchState(tx, stamp, e.levels, e.cur)
		var reqs []*coffer.TransferRequest
		for _, r := range batch {
			if r.req != nil {
				reqs = append(reqs, r.req)
			}
			if r.check != nil {
				reqs = append(reqs, r.check)
			}
			reqs = append(reqs, r.group...)
		}
		if err := tx.Prefetch(context.Background(), reqs, b.day, b.month); err != nil {
			return err
		}
		// Asked after Prefetch, which a store may answer in the same
		// round trip. Another process may have stamped later than this
		// engine knows.
		committed, err := tx.LastStamp(context.Background())
		if err != nil {
			return err
		}
		if committed.After(b.now) {
			b.setNow(committed)
		}
		for i, r := range batch {
			var err error
			switch {
			case r.req != nil:
				var res Result
				res, err = b.one(r.req)
				out[i] = []Result{res}
			case r.act != nil:
				var res Result
				res, err = b.hold(r.act)
				out[i] = []Result{res}
			case r.check != nil:
				var res Result
				res, err = b.dryRun(r.check)
				out[i] = []Result{res}
			default:
				out[i], err = b.all(r.group)
			}
			if err != nil {
				return err
			}
		}
		applied, used = b.applied, b.now
		w, err := b.writes()
		if err != nil {
			return err
		}
		return tx.Write(context.Background(), w)
	})
	if err != nil {
		e.log.Error("ledger batch failed", "size", len(batch), "err", err)
		ae := &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The transfer was not confirmed (it may still be applied); retry with the same transfer ID, which applies it at most once.", Op: "ledger.apply", Err: err}
		var se *coffer.Error
		if errors.As(err, &se) && se.Code == coffer.EINTERNAL {
			// The store calls the fault permanent (a damaged database):
			// "retry" would be answered the same way forever.
			ae = &coffer.Error{Code: coffer.EINTERNAL, Message: "The transfer was not applied.", Op: "ledger.apply", Err: err}
		}
		for i, r := range batch {
			out[i] = make([]Result, r.size())
			for j := range out[i] {
				out[i][j] = Result{Err: ae}
			}
		}
	}
	if err == nil && used.After(e.last) {
		e.last = used
	}
	if e.obs.Batch != nil {
		e.obs.Batch(len(batch), time.Since(start))
	}
	if fn := e.onApplied.Load(); fn != nil && err == nil && len(applied) > 0 {
		(*fn)(applied)
	}
	for i, r := range batch {
		if e.obs.Outcome != nil {
			for _, res := range out[i] {
				code := coffer.ErrorCode(res.Err)
				if res.Replayed {
					code = "replayed"
				}
				e.obs.Outcome(code)
			}
		}
		r.done <- out[i]
	}
}

// IsRetryable reports whether a transfer error may be retried with the same
// transfer ID.
func IsRetryable(err error) bool {
	return coffer.ErrorCode(err) == coffer.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded)
}
