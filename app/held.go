package app

import (
	"context"

	"github.com/coffer-money/coffer"
)

var errNoHeld = coffer.Errorf(coffer.ENOTFOUND, "There is no such protected transfer to you.")

// HeldTransfers lists the protected transfers still held that the member
// sent and that wait for them, newest first.
func (s *Service) HeldTransfers(ctx context.Context, memberID string) (sent, incoming []*coffer.Transfer, err error) {
	list, err := s.store.HeldTransfers(ctx, memberID)
	if err != nil {
		return nil, nil, err
	}
	sent, incoming = []*coffer.Transfer{}, []*coffer.Transfer{}
	for _, t := range list {
		if t.Sender == memberID {
			sent = append(sent, t)
		}
		if t.Payee == memberID {
			incoming = append(incoming, t)
		}
	}
	return sent, incoming, nil
}

// heldFor finds a protected transfer paid to the member, named by the
// sender's transfer ID and sending purse. Anyone but the payee is told it
// does not exist.
func (s *Service) heldFor(ctx context.Context, memberID, transferID, from string) (*coffer.Transfer, error) {
	if !coffer.ValidTransferID(transferID) || !coffer.ValidPurseNumber(from) {
		return nil, errNoHeld
	}
	t, err := s.store.Transfer(ctx, memberID, transferID, from)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && (t.Payee != memberID || t.From != from)) {
		return nil, errNoHeld
	}
	if err != nil {
		return nil, err
	}
	if t.Kind != coffer.KindProtected {
		return nil, coffer.Errorf(coffer.ENOTHELD, "The transfer is not protected.")
	}
	return t, nil
}

// ReleaseTransfer is the payee entering the protection code of a transfer
// held for them: the right code moves the money to their available
// balance; each wrong one is counted, and after coffer.MaxProtectAttempts
// the transfer goes back to its sender with its fee.
// Errors: ENOTFOUND, ENOTHELD, EWRONGCODE, EINVALID (protected by time).
func (s *Service) ReleaseTransfer(ctx context.Context, memberID, transferID, from, code string) (*coffer.Transfer, error) {
	if code == "" || len(code) > 4*MaxProtectCode {
		return nil, coffer.Errorf(coffer.EINVALID, "code is required.")
	}
	return s.act(ctx, memberID, transferID, from, coffer.HoldRelease, code)
}

// RefuseTransfer is the payee sending a held transfer back to its sender,
// fee included. Errors: ENOTFOUND, ENOTHELD.
func (s *Service) RefuseTransfer(ctx context.Context, memberID, transferID, from string) (*coffer.Transfer, error) {
	return s.act(ctx, memberID, transferID, from, coffer.HoldRefuse, "")
}

func (s *Service) act(ctx context.Context, memberID, transferID, from, action, code string) (*coffer.Transfer, error) {
	t, err := s.heldFor(ctx, memberID, transferID, from)
	if err != nil {
		return nil, err
	}
	var slot *codeSlot
	if action == coffer.HoldRelease {
		// Protection codes are typed codes too: they share the payee's
		// budget, so a payee cannot guess across many held transfers.
		if slot, err = s.codeAttempt(ctx, memberID, false); err != nil {
			return nil, err
		}
	}
	// The ledger's answer is awaited even when the client goes away, so
	// that a wrong code is always counted in the budget.
	res := s.engine.Act(context.WithoutCancel(ctx), &coffer.HoldAction{Actor: memberID, Seq: t.Seq, Action: action, Code: code})
	if slot != nil {
		if coffer.ErrorCode(res.Err) == coffer.EWRONGCODE {
			if err := slot.failed(context.WithoutCancel(ctx), "release"); err != nil {
				return res.Transfer, err
			}
		} else {
			slot.release(ctx)
		}
	}
	if res.Err != nil && ctx.Err() != nil {
		return nil, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The request ended before the ledger answered; look the transfer up to learn its state.", Err: res.Err}
	}
	return res.Transfer, res.Err
}

// RefundInput is a refund as the payee of the original transfer writes it.
type RefundInput struct {
	TransferID   string // the refund's own, chosen like any transfer ID
	OfTransferID string // the original, as its sender named it
	OfFrom       string // the original's sending purse
	Amount       string
	Description  string
	Strong       bool
	Resend       bool
}

// Refund sends (part of) a transfer the member received back to the purse
// it came from, without a fee, within coffer.RefundWindow; refunds of one
// transfer never add up to more than it. Retries are safe as for Transfer.
// Errors: ENOTFOUND, EREFUNDNOTALLOWED and those of Transfer.
func (s *Service) Refund(ctx context.Context, memberID string, in RefundInput) (*coffer.Transfer, bool, error) {
	if !coffer.ValidTransferID(in.OfTransferID) || !coffer.ValidPurseNumber(in.OfFrom) {
		return nil, false, coffer.Errorf(coffer.ENOTFOUND, "There is no such transfer to you.")
	}
	orig, err := s.store.Transfer(ctx, memberID, in.OfTransferID, in.OfFrom)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && (orig.Payee != memberID || orig.From != in.OfFrom)) {
		return nil, false, coffer.Errorf(coffer.ENOTFOUND, "There is no such transfer to you.")
	}
	if err != nil {
		return nil, false, err
	}
	return s.Transfer(ctx, memberID, TransferInput{TransferID: in.TransferID, From: orig.To, To: orig.From,
		Amount: in.Amount, Description: in.Description, Strong: in.Strong, Resend: in.Resend, refundOf: orig.Seq})
}

// RefundOrigin returns the transfer a refund refunds, for showing it.
// Errors: ENOTFOUND.
func (s *Service) RefundOrigin(ctx context.Context, t *coffer.Transfer) (*coffer.Transfer, error) {
	if t.RefundOf == 0 {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "Not a refund.")
	}
	return s.store.TransferBySeq(ctx, t.RefundOf)
}
