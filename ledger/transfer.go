package ledger

import (
	"context"

	"github.com/coffer-money/coffer"
)

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
