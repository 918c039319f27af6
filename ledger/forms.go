package ledger

import "github.com/coffer-money/coffer"

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
