package ledger

import (
	"context"
	"fmt"

	"github.com/coffer-money/coffer"
)

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
