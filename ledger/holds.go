package ledger

import (
	"fmt"

	"github.com/coffer-money/coffer"
)

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
