package app

import (
	"context"

	"github.com/coffer-money/coffer"
)

// BatchItem is one transfer of a mass payment.
type BatchItem struct {
	TransferID  string
	From, To    string
	Amount      string
	Description string
}

// BatchResult is what became of one BatchItem: applied (Transfer set,
// Replayed false), applied earlier (Replayed), or refused (Err).
type BatchResult struct {
	TransferID string
	Transfer   *coffer.Transfer
	Replayed   bool
	Err        error
}

// TransferBatch applies up to coffer.MaxBatchTransfers plain transfers of
// the member: each on its own, or, with all, every one or none. Batches
// are not confirmed one transfer at a time: when the member's policy would
// ask for a code for any of them, the whole request is refused with
// ECONFIRMATIONREQUIRED, and the member signs batch requests with a key
// file instead (strong). Retries are safe per transfer ID.
// Errors (of the whole request): EINVALID, ECONFIRMATIONREQUIRED.
func (s *Service) TransferBatch(ctx context.Context, memberID string, items []BatchItem, all, strong bool) ([]BatchResult, error) {
	if len(items) == 0 || len(items) > coffer.MaxBatchTransfers {
		return nil, coffer.Errorf(coffer.EINVALID, "A batch holds 1 to %d transfers.", coffer.MaxBatchTransfers)
	}
	out := make([]BatchResult, len(items))
	seen := make(map[string]bool, len(items))
	reqs := make([]*coffer.TransferRequest, len(items))
	bad := false
	for i, it := range items {
		if seen[it.TransferID] {
			return nil, coffer.Errorf(coffer.EINVALID, "Transfer ID %q appears twice in the batch.", trimmed(it.TransferID))
		}
		seen[it.TransferID] = true
		out[i].TransferID = it.TransferID
		req, err := s.ValidateTransfer(ctx, memberID, TransferInput{TransferID: it.TransferID, From: it.From, To: it.To,
			Amount: it.Amount, Description: it.Description})
		if err == nil {
			err = s.checkContact(ctx, req) // see contacts.go
		}
		if err != nil {
			out[i].Err, bad = err, true
			continue
		}
		reqs[i] = req
	}
	if bad && all {
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = coffer.Errorf(coffer.ENOTAPPLIED, "Not applied: another transfer of the batch was refused, and the batch is all or nothing.")
			}
		}
		return out, nil
	}
	if err := s.gateBatch(ctx, memberID, reqs, strong); err != nil {
		return nil, err
	}
	var sub []*coffer.TransferRequest
	var at []int
	for i, r := range reqs {
		if r != nil {
			sub = append(sub, r)
			at = append(at, i)
		}
	}
	res := s.engine.SubmitAll(ctx, sub, all)
	for j, r := range res {
		i := at[j]
		out[i].Transfer, out[i].Replayed, out[i].Err = r.Transfer, r.Replayed, r.Err
		if r.Err != nil && ctx.Err() != nil {
			out[i].Err = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The request ended before the transfer was confirmed; retry with the same transfer ID to learn its outcome.", Err: r.Err}
		}
	}
	return out, nil
}

// gateBatch applies the confirmation policy to a batch as a whole.
func (s *Service) gateBatch(ctx context.Context, memberID string, reqs []*coffer.TransferRequest, strong bool) error {
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return err
	}
	refuse := func() error {
		return coffer.Errorf(coffer.ECONFIRMATIONREQUIRED, "Your confirmation policy asks for a one-time code for some of these transfers, and a batch cannot be confirmed by code: sign batch requests with your key file (or use your client certificate).")
	}
	if !m.any() {
		if s.cfg.Factors.RequireSecondFactor && !strong {
			return refuse()
		}
		return nil
	}
	for _, r := range reqs {
		if r == nil {
			continue
		}
		need, err := s.needsConfirmation(ctx, m, r, strong)
		if err != nil {
			return err
		}
		if !need {
			continue
		}
		// Already applied: a retry only reads the answer.
		if t, err := s.store.Transfer(ctx, memberID, r.TransferID, r.From); err == nil && t.Sender == memberID {
			continue
		} else if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return err
		}
		return refuse()
	}
	return nil
}
