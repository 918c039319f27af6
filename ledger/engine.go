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

// learnLastStamp reads the ledger's last stamp from the store, as the
// clock's previous reading: a clock that went back while the engine was
// stopped is noticed at once. Each batch reads the stamp again (another
// process may have written since), so a failure here only delays the
// notice.
func (e *Engine) learnLastStamp() {
	var last time.Time
	err := e.store.ApplyBatch(context.Background(), func(tx coffer.LedgerTx) error {
		var err error
		last, err = tx.LastStamp(context.Background())
		return err
	})
	if err != nil {
		e.log.Warn("ledger could not read its last stamp at start", "err", err)
		return
	}
	e.last, e.lastRead = last, last
	e.read()
}

// read reads the clock (in UTC, to the millisecond, as stored), noticing
// when it reads earlier than its previous reading: each backward jump is
// logged and observed once, with its size.
func (e *Engine) read() time.Time {
	now := e.now().UTC().Truncate(time.Millisecond)
	if by := e.lastRead.Sub(now); by > 0 {
		e.log.Warn("ledger clock went back: transfers keep the ledger's last stamp until the clock catches up",
			"by", by, "clock", now, "last_stamp", e.last)
		if e.obs.ClockBack != nil {
			e.obs.ClockBack(by)
		}
	}
	e.lastRead = now
	return now
}

// stamp returns the time a batch is stamped with: the clock, but never
// earlier than the last stamp the engine knows. Stamps may repeat (the
// history orders by sequence number; equal times keep it in order)
// rather than run ahead of the clock.
func (e *Engine) stamp() time.Time {
	now := e.read()
	if now.Before(e.last) {
		return e.last
	}
	return now
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

// batchState is one batch's view of the ledger: what it loaded, what it
// changed, and what it will write. Inside an all-or-nothing group every
// change is journalled so the group can be undone.
type batchState struct {
	tx     coffer.LedgerTx
	now    time.Time
	levels Levels // nil: no level limits
	cur    Currencies

	purses   map[string]*coffer.Purse
	orig     map[string][2]int64 // committed balance and held of each loaded purse
	seen     map[[2]string]*coffer.Transfer
	bySeq    map[int64]*coffer.Transfer // earlier transfers loaded by Seq (refunds, holds)
	invoices map[string]*coffer.Invoice
	trusts   map[string]*coffer.Trust
	fees     map[string]*coffer.FeeRule // by currency; nil value: none
	applied  []coffer.Applied
	w        coffer.BatchWrites
	updated  map[*coffer.Transfer]bool
	day      string
	month    string
	limits   map[string]*limitState // by spend key; nil value: no limits
	journal  []func()
	grouping bool
}

func newBatchState(tx coffer.LedgerTx, now time.Time, levels Levels, cur Currencies) *batchState {
	b := &batchState{tx: tx, levels: levels, cur: cur, purses: map[string]*coffer.Purse{}, orig: map[string][2]int64{},
		seen: map[[2]string]*coffer.Transfer{}}
	b.setNow(now)
	return b
}

// setNow sets the batch's time and the spend periods it falls in. It is
// called before the batch decides anything.
func (b *batchState) setNow(now time.Time) {
	b.now, b.day, b.month = now, coffer.DayKey(now), coffer.MonthKey(now)
}

// undo records how to take back a change, when inside a group.
func (b *batchState) undo(fn func()) {
	if b.grouping {
		b.journal = append(b.journal, fn)
	}
}

// add changes *p by d, journalled.
func (b *batchState) add(p *int64, d int64) {
	*p += d
	b.undo(func() { *p -= d })
}

// writes gathers the batch's writes; balances are written only for purses
// whose money changed.
func (b *batchState) writes() (*coffer.BatchWrites, error) {
	w := &b.w
	for n, p := range b.purses {
		o := b.orig[n]
		if p.Balance != o[0] {
			if w.Balances == nil {
				w.Balances = map[string]int64{}
			}
			w.Balances[n] = p.Balance
		}
		if p.Held != o[1] {
			if w.Held == nil {
				w.Held = map[string]int64{}
			}
			w.Held[n] = p.Held
		}
	}
	for t := range b.updated {
		w.Updates = append(w.Updates, t)
	}
	for _, l := range b.limits {
		if l != nil && l.added > 0 {
			if err := b.tx.AddSpend(context.Background(), l.key, b.day, b.month, l.added); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// limitState is the spend within this batch of a purse (or trust) with
// limits: the counters as committed plus what this batch has applied so
// far. Because the batch holds the write lock and checks its transfers in
// order, concurrent transfers cannot together pass a limit.
type limitState struct {
	key        string
	lim        *coffer.PurseLimits
	day, month int64 // spent in the period, including this batch
	added      int64 // applied in this batch, not yet written to the counters
}

func (b *batchState) spendOf(key string, lim *coffer.PurseLimits) (*limitState, error) {
	if l, ok := b.limits[key]; ok {
		return l, nil
	}
	if b.limits == nil {
		b.limits = map[string]*limitState{}
	}
	if lim.Empty() {
		b.limits[key] = nil
		return nil, nil
	}
	l := &limitState{key: key, lim: lim}
	var err error
	if l.day, l.month, err = b.tx.PurseSpend(context.Background(), key, b.day, b.month); err != nil {
		return nil, err
	}
	b.limits[key] = l
	return l, nil
}

func (b *batchState) limitsOf(purse string) (*limitState, error) {
	if l, ok := b.limits[purse]; ok {
		return l, nil
	}
	lim, err := b.tx.PurseLimits(context.Background(), purse)
	if err != nil {
		return nil, err
	}
	return b.spendOf(purse, lim)
}

// trustLimits turns a trust's limits into the purse-limit shape.
func (b *batchState) trustLimits(t *coffer.Trust, decimals int) (*limitState, error) {
	opt := func(v int64) *int64 {
		if v <= 0 {
			return nil
		}
		return &v
	}
	return b.spendOf(t.SpendKey(), &coffer.PurseLimits{Purse: t.Purse, PerTransfer: opt(t.PerTransfer), PerDay: opt(t.PerDay), PerMonth: opt(t.PerMonth), Decimals: decimals})
}

// check refuses amount when it would pass one of the limits, saying how much
// may still leave. what names the subject in the message.
func (l *limitState) check(what string, amount int64) error {
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
		Message: fmt.Sprintf("The transfer exceeds the %s limit of %s; at most %s may leave it now.", text, what, coffer.FormatAmount(remaining, d)),
		Err:     &coffer.LimitError{Period: which, Remaining: remaining, Decimals: d}}
}

func (b *batchState) spend(l *limitState, amount int64) {
	b.add(&l.day, amount)
	b.add(&l.month, amount)
	b.add(&l.added, amount)
}

func (b *batchState) purse(n string) (*coffer.Purse, error) {
	if p, ok := b.purses[n]; ok {
		return p, nil
	}
	p, err := b.tx.Purse(context.Background(), n)
	if err != nil || p == nil {
		return nil, err
	}
	b.orig[n] = [2]int64{p.Balance, p.Held}
	b.purses[n] = p
	return p, nil
}

func (b *batchState) transferBySeq(seq int64) (*coffer.Transfer, error) {
	if t, ok := b.bySeq[seq]; ok {
		return t, nil
	}
	if b.bySeq == nil {
		b.bySeq = map[int64]*coffer.Transfer{}
	}
	t, err := b.tx.TransferBySeq(context.Background(), seq)
	if err != nil {
		return nil, err
	}
	b.bySeq[seq] = t
	return t, nil
}

func (b *batchState) invoice(id string) (*coffer.Invoice, error) {
	if inv, ok := b.invoices[id]; ok {
		return inv, nil
	}
	if b.invoices == nil {
		b.invoices = map[string]*coffer.Invoice{}
	}
	inv, err := b.tx.Invoice(context.Background(), id)
	if err != nil {
		return nil, err
	}
	b.invoices[id] = inv
	return inv, nil
}

func (b *batchState) trust(id string) (*coffer.Trust, error) {
	if t, ok := b.trusts[id]; ok {
		return t, nil
	}
	if b.trusts == nil {
		b.trusts = map[string]*coffer.Trust{}
	}
	t, err := b.tx.Trust(context.Background(), id)
	if err != nil {
		return nil, err
	}
	b.trusts[id] = t
	return t, nil
}

func (b *batchState) feeRule(currency string) (*coffer.FeeRule, error) {
	if f, ok := b.fees[currency]; ok {
		return f, nil
	}
	if b.fees == nil {
		b.fees = map[string]*coffer.FeeRule{}
	}
	f, err := b.tx.FeeRule(context.Background(), currency)
	if err != nil {
		return nil, err
	}
	b.fees[currency] = f
	return f, nil
}

// move changes a purse's available (or held) money by d and records the
// history entry.
func (b *batchState) move(p *coffer.Purse, held bool, d int64, kind string, t *coffer.Transfer, counterparty string) {
	target := &p.Balance
	if held {
		target = &p.Held
	}
	b.add(target, d)
	b.w.Entries = append(b.w.Entries, &coffer.Entry{Purse: p.Number, Transfer: t, Kind: kind, Held: held, Amount: d,
		BalanceAfter: *target, Counterparty: counterparty, CreatedAt: b.now})
}

func (b *batchState) markUpdated(t *coffer.Transfer) {
	if t.Seq == 0 {
		return // new in this batch: written whole
	}
	if b.updated == nil {
		b.updated = map[*coffer.Transfer]bool{}
	}
	if !b.updated[t] {
		b.updated[t] = true
		b.undo(func() { delete(b.updated, t) })
	}
}

func refuse(code, format string, args ...any) (Result, error) {
	return Result{Err: coffer.Errorf(code, format, args...)}, nil
}

// payment is one transfer request on its way through the batch's checks:
// the purses it touches, the transfer it becomes, and what its payment
// form and limits will change once it applies.
type payment struct {
	r        *coffer.TransferRequest
	key      [2]string // sender and transfer ID, as in batchState.seen
	from, to *coffer.Purse
	feePurse *coffer.Purse // nil: no fee
	t        *coffer.Transfer
	orig     *coffer.Transfer // the refunded transfer
	inv      *coffer.Invoice  // the invoice paid
	trustLim *limitState      // the trust's limits; nil: none
	lim      *limitState      // the sending purse's limits; nil: none
	levelLim *limitState      // the owner's level limit; nil: none
}

// passed tells whether a check step let the payment through: no refusal
// and no storage failure.
func passed(res Result, err error) bool { return err == nil && res.Err == nil }

// one applies a single request inside the batch. A refusal is returned in
// the Result; only storage failures are returned as error, and they abort
// the whole batch.
//
// The checks run in a fixed order, each step refusing with its own
// message: a replay, the request's shape and purses, the payment form's
// own rules, the fee, the money and the limits. Then the transfer applies.
func (b *batchState) one(r *coffer.TransferRequest) (Result, error) {
	p := &payment{r: r, key: [2]string{r.Sender, r.TransferID}}
	if res, err := b.replay(p); err != nil || res.Err != nil || res.Replayed {
		return res, err
	}
	if res, err := b.prepare(p); !passed(res, err) {
		return res, err
	}
	var res Result
	var err error
	switch {
	case r.RefundOf != 0:
		res, err = b.refund(p)
	case r.InvoiceID != "":
		res, err = b.payInvoice(p)
	case r.TrustID != "":
		res, err = b.underTrust(p)
	case r.Protect != nil:
		res, err = b.protect(p)
	}
	if !passed(res, err) {
		return res, err
	}
	if res, err := b.fee(p); !passed(res, err) {
		return res, err
	}
	if res, err := b.funds(p); !passed(res, err) {
		return res, err
	}
	if res, err := b.limitsFor(p); !passed(res, err) {
		return res, err
	}
	return b.commit(p), nil
}

// replay answers a transfer ID already used by the sender: the earlier
// transfer when the request is the same, a conflict otherwise. A zero
// Result means the ID is new.
func (b *batchState) replay(p *payment) (Result, error) {
	r := p.r
	prev := b.seen[p.key]
	if prev == nil {
		var err error
		if prev, err = b.tx.FindTransfer(context.Background(), r.Sender, r.TransferID); err != nil {
			return Result{}, err
		}
	}
	if prev == nil {
		return Result{}, nil
	}
	if !prev.Matches(r) {
		return refuse(coffer.EIDEMPOTENCYCONFLICT, "Transfer ID %s was already used for a different transfer.", r.TransferID)
	}
	return Result{Transfer: prev, Replayed: true}, nil
}

// prepare checks what every payment form shares (at most one form, both
// purses there and open, the transfer itself valid) and drafts the
// transfer as a plain one, which the form's own rules then change.
func (b *batchState) prepare(p *payment) (Result, error) {
	r := p.r
	forms := 0
	for _, set := range []bool{r.Protect != nil, r.InvoiceID != "", r.TrustID != "", r.RefundOf != 0} {
		if set {
			forms++
		}
	}
	if forms > 1 {
		return refuse(coffer.EINVALID, "A transfer may be protected, pay an invoice, use a trust or refund, but only one of these.")
	}
	if r.From != r.To {
		var err error
		if p.from, err = b.purse(r.From); err != nil {
			return Result{}, err
		}
		if p.to, err = b.purse(r.To); err != nil {
			return Result{}, err
		}
	}
	if err := coffer.CheckTransfer(r, p.from, p.to); err != nil {
		return Result{Err: err}, nil
	}
	for _, pu := range []*coffer.Purse{p.to, p.from} {
		if pu.Closed {
			return refuse(coffer.ECLOSED, "The account of purse %s was closed; it takes no more money.", pu.Number)
		}
	}
	p.t = &coffer.Transfer{Sender: r.Sender, TransferID: r.TransferID, From: r.From, To: r.To, Currency: p.from.Currency,
		Amount: r.Amount, Description: r.Description, Payee: p.to.Owner, CreatedAt: b.now,
		Kind: coffer.KindTransfer, Status: coffer.StatusCompleted, InvoiceID: r.InvoiceID, TrustID: r.TrustID, RefundOf: r.RefundOf}
	return Result{}, nil
}

// refund checks a refund of an earlier transfer to the sender: back the
// way it came, within the window, at most what is left of it.
func (b *batchState) refund(p *payment) (Result, error) {
	r, from := p.r, p.from
	orig, err := b.transferBySeq(r.RefundOf)
	if err != nil {
		return Result{}, err
	}
	if orig == nil || orig.Payee != r.Sender {
		return refuse(coffer.EREFUNDNOTALLOWED, "There is no transfer to you to refund.")
	}
	if r.From != orig.To || r.To != orig.From {
		return refuse(coffer.EREFUNDNOTALLOWED, "A refund goes from purse %s back to purse %s.", orig.To, orig.From)
	}
	if orig.Kind == coffer.KindRefund {
		return refuse(coffer.EREFUNDNOTALLOWED, "A refund cannot be refunded.")
	}
	if orig.Status != coffer.StatusCompleted && orig.Status != coffer.StatusReleased {
		return refuse(coffer.EREFUNDNOTALLOWED, "Only money you have received can be refunded; this transfer is %s.", orig.Status)
	}
	if b.now.Sub(orig.CreatedAt) > coffer.RefundWindow {
		return refuse(coffer.EREFUNDNOTALLOWED, "The transfer is older than 90 days and can no longer be refunded.")
	}
	if left := orig.Amount - orig.Refunded; r.Amount > left {
		return refuse(coffer.EREFUNDNOTALLOWED, "At most %s of this transfer is left to refund.", coffer.FormatAmount(left, b.decimals(from)))
	}
	p.orig = orig
	p.t.Kind = coffer.KindRefund
	return Result{}, nil
}

// payInvoice checks a payment of a pending invoice to the sender: exactly
// its amount, in its currency, to its purse.
func (b *batchState) payInvoice(p *payment) (Result, error) {
	r := p.r
	inv, err := b.invoice(r.InvoiceID)
	if err != nil {
		return Result{}, err
	}
	if inv == nil || inv.Payer != r.Sender {
		return refuse(coffer.ENOTFOUND, "There is no such invoice to you.")
	}
	if st := inv.EffectiveState(b.now); st != coffer.InvoicePending {
		return refuse(coffer.EINVOICENOTPAYABLE, "The invoice is %s and cannot be paid.", st)
	}
	if r.To != inv.Purse || r.Amount != inv.Amount || p.from.Currency != inv.Currency {
		return refuse(coffer.EINVALID, "The payment must send exactly the invoice's amount to purse %s.", inv.Purse)
	}
	p.inv = inv
	return Result{}, nil
}

// underTrust checks a merchant's debit under a trust (a pre-authorised
// payment): an active trust over the purse, paying the merchant, within
// the trust's limits.
func (b *batchState) underTrust(p *payment) (Result, error) {
	r, from := p.r, p.from
	tr, err := b.trust(r.TrustID)
	if err != nil {
		return Result{}, err
	}
	if !tr.Active() || tr.Merchant != r.Sender || tr.Purse != r.From || from.Owner != tr.Owner {
		return refuse(coffer.ETRUSTINVALID, "No active trust lets you debit purse %s.", r.From)
	}
	if p.to.Owner != tr.Merchant {
		return refuse(coffer.ETRUSTINVALID, "A debit under a trust pays into one of the merchant's own purses.")
	}
	if p.trustLim, err = b.trustLimits(tr, b.decimals(from)); err != nil {
		return Result{}, err
	}
	if p.trustLim != nil {
		if err := p.trustLim.check("trust "+tr.ID, r.Amount); err != nil {
			return Result{Err: err}, nil
		}
	}
	return Result{}, nil
}

// protect makes the transfer a protected one (by code or by time), held
// for the payee until its period ends.
func (b *batchState) protect(p *payment) (Result, error) {
	if !p.r.Protect.Until.After(b.now) {
		return refuse(coffer.EINVALID, "The protection period must end in the future.")
	}
	pr := *p.r.Protect
	pr.Attempts = 0
	p.t.Kind, p.t.Status, p.t.Protection = coffer.KindProtected, coffer.StatusHeld, &pr
	return Result{}, nil
}

// fee sets the transfer's fee and the purse it goes to: none for refunds
// or between one member's purses.
func (b *batchState) fee(p *payment) (Result, error) {
	from, to, t := p.from, p.to, p.t
	if t.Kind == coffer.KindRefund || from.Owner == to.Owner {
		return Result{}, nil
	}
	rule, err := b.feeRule(from.Currency)
	if err != nil {
		return Result{}, err
	}
	if rule == nil || rule.Purse == from.Number || rule.Purse == to.Number {
		return Result{}, nil
	}
	if t.Fee = rule.Fee(p.r.Amount); t.Fee > 0 {
		if p.feePurse, err = b.purse(rule.Purse); err != nil {
			return Result{}, err
		}
		if p.feePurse == nil || p.feePurse.Currency != from.Currency {
			return refuse(coffer.EUNAVAILABLE, "Fees for %s are misconfigured; the operator has been told.", from.Currency)
		}
		t.FeePurse = p.feePurse.Number
	}
	return Result{}, nil
}

// funds checks that the sending purse holds the amount and the fee, and
// that the receiving purses can hold what they get.
func (b *batchState) funds(p *payment) (Result, error) {
	r, from, to, t, feePurse := p.r, p.from, p.to, p.t, p.feePurse
	total := r.Amount + t.Fee
	if from.Balance-total < from.Floor() {
		if from.Issuer {
			return refuse(coffer.EINSUFFICIENTFUNDS, "The transfer would take issuing purse %s past its limit.", from.Number)
		}
		if t.Fee > 0 {
			return refuse(coffer.EINSUFFICIENTFUNDS, "Purse %s holds less than the amount and the fee of %s.", from.Number, coffer.FormatAmount(t.Fee, b.decimals(from)))
		}
		return refuse(coffer.EINSUFFICIENTFUNDS, "Purse %s holds less than the amount.", from.Number)
	}
	if to.Balance+to.Held > coffer.MaxAmount-r.Amount || (feePurse != nil && feePurse.Balance+feePurse.Held > coffer.MaxAmount-t.Fee) {
		return refuse(coffer.ELIMITEXCEEDED, "Purse %s cannot hold that much.", to.Number)
	}
	return Result{}, nil
}

// limitsFor checks the sending purse's limits, then the daily limit of
// the owner's verification level across the owner's purses (refunds are
// exempt from the latter).
func (b *batchState) limitsFor(p *payment) (Result, error) {
	r, from := p.r, p.from
	var err error
	if p.lim, err = b.limitsOf(from.Number); err != nil {
		return Result{}, err
	}
	if p.lim != nil {
		if err := p.lim.check("purse "+from.Number, r.Amount); err != nil {
			return Result{Err: err}, nil
		}
	}
	daily := r.OwnerDailyLimit
	if daily == nil && b.levels != nil {
		daily = b.levels.DailyLimit(from.OwnerLevel, &coffer.Currency{Code: from.Currency, Decimals: b.decimals(from)})
	}
	if daily == nil || p.t.Kind == coffer.KindRefund {
		return Result{}, nil
	}
	d := *daily
	if p.levelLim, err = b.spendOf(coffer.OwnerSpendKey(from.Owner, from.Currency), &coffer.PurseLimits{PerDay: &d, Decimals: b.decimals(from)}); err != nil {
		return Result{}, err
	}
	if p.levelLim != nil {
		// spendOf caches by key: the limit in force is this request's.
		p.levelLim.lim = &coffer.PurseLimits{PerDay: &d, Decimals: b.decimals(from)}
		if err := p.levelLim.check("your verification level (per day, all your "+from.Currency+" purses)", r.Amount); err != nil {
			return Result{Err: err}, nil
		}
	}
	return Result{}, nil
}

// commit applies a payment that passed every check: the spend against
// its limits, the money moves with their history, and what its form
// changes (the refunded transfer, the paid invoice). Every change is
// journalled, so a group can undo it.
func (b *batchState) commit(p *payment) Result {
	r, from, to, t, feePurse := p.r, p.from, p.to, p.t, p.feePurse
	for _, l := range []*limitState{p.lim, p.levelLim, p.trustLim} {
		if l != nil {
			b.spend(l, r.Amount)
		}
	}
	b.w.Transfers = append(b.w.Transfers, t)
	b.move(from, false, -r.Amount, coffer.EntryTransfer, t, to.Number)
	if t.Kind == coffer.KindProtected {
		b.move(to, true, r.Amount, coffer.EntryHold, t, from.Number)
	} else {
		b.move(to, false, r.Amount, coffer.EntryTransfer, t, from.Number)
	}
	if t.Fee > 0 {
		b.move(from, false, -t.Fee, coffer.EntryFee, t, feePurse.Number)
		// A protected transfer's fee is held too, so it can go back whole.
		b.move(feePurse, t.Kind == coffer.KindProtected, t.Fee, coffer.EntryFee, t, from.Number)
	}
	if orig := p.orig; orig != nil {
		b.add(&orig.Refunded, r.Amount)
		b.markUpdated(orig)
	}
	if inv := p.inv; inv != nil {
		old := *inv
		inv.State, inv.UpdatedAt = coffer.InvoicePaid, b.now
		b.w.Invoices = append(b.w.Invoices, inv)
		b.undo(func() { *inv = old })
	}
	b.applied = append(b.applied, coffer.Applied{T: t, FromAfter: from.Balance, ToAfter: to.Balance})
	key := p.key
	b.seen[key] = t
	b.undo(func() { delete(b.seen, key) })
	return Result{Transfer: t}
}

func (b *batchState) decimals(p *coffer.Purse) int {
	return b.cur.Decimals(context.Background(), p.Currency)
}

// marks are where the batch's write lists ended before a group began.
type marks [5]int

func (b *batchState) mark() marks {
	return marks{len(b.w.Transfers), len(b.w.Entries), len(b.w.Invoices), len(b.w.Events), len(b.applied)}
}

// rollback undoes every journalled change and cuts the write lists back
// to m.
func (b *batchState) rollback(m marks) {
	for i := len(b.journal) - 1; i >= 0; i-- {
		b.journal[i]()
	}
	b.journal = b.journal[:0]
	b.w.Transfers, b.w.Entries, b.w.Invoices, b.w.Events, b.applied = b.w.Transfers[:m[0]], b.w.Entries[:m[1]], b.w.Invoices[:m[2]], b.w.Events[:m[3]], b.applied[:m[4]]
}

// dryRun decides r as a group of one and always undoes it.
func (b *batchState) dryRun(r *coffer.TransferRequest) (Result, error) {
	b.grouping = true
	b.journal = b.journal[:0]
	m := b.mark()
	defer func() { b.grouping = false; b.journal = b.journal[:0] }()
	res, err := b.one(r)
	if err != nil {
		return Result{}, err
	}
	b.rollback(m)
	if res.Err != nil {
		return Result{Err: res.Err}, nil
	}
	return Result{Replayed: res.Replayed}, nil
}

// all applies a group all or nothing: the first refusal undoes the group.
func (b *batchState) all(group []*coffer.TransferRequest) ([]Result, error) {
	out := make([]Result, len(group))
	b.grouping = true
	b.journal = b.journal[:0]
	m := b.mark()
	defer func() { b.grouping = false; b.journal = b.journal[:0] }()
	failed := -1
	for i, r := range group {
		res, err := b.one(r)
		if err != nil {
			return nil, err
		}
		out[i] = res
		if res.Err != nil && failed < 0 {
			failed = i
			break
		}
	}
	if failed < 0 {
		return out, nil
	}
	b.rollback(m)
	for i := range out {
		// Earlier applied transfers (replays) stay what they are.
		if i != failed && !(i < failed && out[i].Replayed) {
			out[i] = Result{Err: coffer.Errorf(coffer.ENOTAPPLIED, "Not applied: transfer %d of the batch (%s) was refused, and the batch is all or nothing.", failed+1, group[failed].TransferID)}
		}
	}
	return out, nil
}

// hold acts on a held protected transfer.
func (b *batchState) hold(a *coffer.HoldAction) (Result, error) {
	t, err := b.transferBySeq(a.Seq)
	if err != nil {
		return Result{}, err
	}
	// Only the payee (or the scheduler) may act; anyone else learns nothing.
	if t == nil || (a.Actor != "" && a.Actor != t.Payee) || (a.Actor == "" && a.Action != coffer.HoldExpire) {
		return refuse(coffer.ENOTFOUND, "There is no such protected transfer to you.")
	}
	if t.Kind != coffer.KindProtected || t.Status != coffer.StatusHeld {
		return refuse(coffer.ENOTHELD, "The transfer is not held (it is %s).", t.Status)
	}
	p := t.Protection
	switch a.Action {
	case coffer.HoldRefuse:
		return b.settle(t, false)
	case coffer.HoldExpire:
		if b.now.Before(p.Until) {
			return refuse(coffer.ENOTHELD, "The protection period has not ended.")
		}
		// Code protection ends by going back; time protection by arriving.
		return b.settle(t, !p.ByCode)
	case coffer.HoldRelease:
		if !p.ByCode {
			return refuse(coffer.EINVALID, "This transfer is protected by time; it reaches you when its period ends.")
		}
		if !b.now.Before(p.Until) {
			return refuse(coffer.ENOTHELD, "The protection period has ended; the transfer goes back to its sender.")
		}
		if p.CheckCode(a.Code) {
			return b.settle(t, true)
		}
		p.Attempts++ // hold actions never run inside a group: no journal
		b.markUpdated(t)
		if p.Attempts >= coffer.MaxProtectAttempts {
			if _, err := b.settle(t, false); err != nil {
				return Result{}, err
			}
			return refuse(coffer.EWRONGCODE, "Wrong protection code, %d times: the transfer went back to its sender.", p.Attempts)
		}
		return refuse(coffer.EWRONGCODE, "Wrong protection code; %d attempts left.", coffer.MaxProtectAttempts-p.Attempts)
	}
	return refuse(coffer.EINVALID, "Unknown action %q.", a.Action)
}

// settle ends a held transfer: released to the payee, or returned to the
// sender with its fee.
func (b *batchState) settle(t *coffer.Transfer, release bool) (Result, error) {
	from, err := b.purse(t.From)
	if err != nil {
		return Result{}, err
	}
	to, err := b.purse(t.To)
	if err != nil {
		return Result{}, err
	}
	var fee *coffer.Purse
	if t.Fee > 0 {
		if fee, err = b.purse(t.FeePurse); err != nil {
			return Result{}, err
		}
	}
	if from == nil || to == nil || (t.Fee > 0 && fee == nil) {
		return Result{}, fmt.Errorf("ledger: purses of held transfer %d are missing", t.Seq)
	}
	kind := coffer.AuditTransferReturned
	if release {
		t.Status = coffer.StatusReleased
		kind = coffer.AuditTransferReleased
		b.move(to, true, -t.Amount, coffer.EntryRelease, t, from.Number)
		b.move(to, false, t.Amount, coffer.EntryRelease, t, from.Number)
		if fee != nil {
			b.move(fee, true, -t.Fee, coffer.EntryRelease, t, from.Number)
			b.move(fee, false, t.Fee, coffer.EntryRelease, t, from.Number)
		}
	} else {
		t.Status = coffer.StatusReturned
		b.move(to, true, -t.Amount, coffer.EntryReturn, t, from.Number)
		b.move(from, false, t.Amount, coffer.EntryReturn, t, to.Number)
		if fee != nil {
			b.move(fee, true, -t.Fee, coffer.EntryReturn, t, from.Number)
			b.move(from, false, t.Fee, coffer.EntryReturn, t, fee.Number)
		}
	}
	b.markUpdated(t)
	b.w.Events = append(b.w.Events, coffer.NewAuditEvent(b.now, kind, t.Sender, map[string]any{
		"transfer_seq": t.Seq, "transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": t.Amount, "fee": t.Fee, "currency": t.Currency}))
	c := *t
	return Result{Transfer: &c}, nil
}

// IsRetryable reports whether a transfer error may be retried with the same
// transfer ID.
func IsRetryable(err error) bool {
	return coffer.ErrorCode(err) == coffer.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded)
}
