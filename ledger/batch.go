package ledger

import (
	"context"
	"time"

	"github.com/coffer-money/coffer"
)

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
