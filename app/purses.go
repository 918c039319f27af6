package app

import (
	"context"

	"github.com/coffer-money/coffer"
)

// Currencies lists the currencies. Errors: none expected.
func (s *Service) Currencies(ctx context.Context) ([]*coffer.Currency, error) {
	return s.store.Currencies(ctx)
}

// Currency finds a currency by code. Errors: ECURRENCYNOTFOUND.
func (s *Service) Currency(ctx context.Context, code string) (*coffer.Currency, error) {
	return s.cur.ByCode(ctx, code)
}

// CurrencyOfPurse returns the currency a purse number's letter stands for.
// Errors: EPURSENOTFOUND.
func (s *Service) CurrencyOfPurse(ctx context.Context, number string) (*coffer.Currency, error) {
	return s.cur.OfPurse(ctx, number)
}

// CreatePurse opens a new purse for the member. Errors: ECURRENCYNOTFOUND.
func (s *Service) CreatePurse(ctx context.Context, memberID, currency string) (*coffer.Purse, error) {
	c, err := s.Currency(ctx, currency)
	if err != nil {
		return nil, err
	}
	p := &coffer.Purse{Currency: c.Code, Owner: memberID, CreatedAt: s.now()}
	for attempt := 0; ; attempt++ {
		p.Number = coffer.NewPurseNumber(c.Letter)
		err := s.store.CreatePurse(ctx, p)
		if coffer.ErrorCode(err) == coffer.ECONFLICT && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.audit(ctx, coffer.AuditPurseCreated, memberID, map[string]any{"purse": p.Number, "currency": p.Currency})
		return p, nil
	}
}

// Purses lists the member's purses.
func (s *Service) Purses(ctx context.Context, memberID string) ([]*coffer.Purse, error) {
	return s.store.Purses(ctx, memberID)
}

// Purse returns one of the member's own purses. Another member's purse is
// answered exactly like a purse that does not exist, so balances never
// leak. Errors: EPURSENOTFOUND.
func (s *Service) Purse(ctx context.Context, memberID, number string) (*coffer.Purse, error) {
	if !coffer.ValidPurseNumber(number) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "%q is not a purse number (a letter and 12 digits).", number)
	}
	p, err := s.store.Purse(ctx, number)
	if coffer.ErrorCode(err) == coffer.EPURSENOTFOUND || (err == nil && p.Owner != memberID) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "You have no purse %s.", number)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Owner is the public payee check: the member ID owning a purse.
// Errors: EPURSENOTFOUND.
func (s *Service) Owner(ctx context.Context, number string) (string, error) {
	if !coffer.ValidPurseNumber(number) {
		return "", coffer.Errorf(coffer.EPURSENOTFOUND, "%q is not a purse number (a letter and 12 digits).", number)
	}
	p, err := s.store.Purse(ctx, number)
	if err != nil {
		return "", err
	}
	return p.Owner, nil
}

// errNoPurse is the payee check's one answer for a purse that does not
// exist and for one that takes no more money (its owner closed the
// account), so the check cannot tell closed accounts from unknown ones.
var errNoPurse = coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")

// LookupOwner is the payee check as a member asks it: the member ID owning
// a purse that can be paid. Each check spends one of viewer's lookups of
// other members (see lookup); checking one's own purse is free.
// Errors: EPURSENOTFOUND, ERATELIMITED.
func (s *Service) LookupOwner(ctx context.Context, viewer, number string) (string, error) {
	if !coffer.ValidPurseNumber(number) {
		return "", coffer.Errorf(coffer.EPURSENOTFOUND, "%q is not a purse number (a letter and 12 digits).", number)
	}
	p, err := s.store.Purse(ctx, number)
	if err == nil && p.Owner == viewer {
		return viewer, nil
	}
	if err := s.lookup(viewer); err != nil {
		return "", err
	}
	if coffer.ErrorCode(err) == coffer.EPURSENOTFOUND || (err == nil && p.Closed) {
		return "", errNoPurse
	} else if err != nil {
		return "", err
	}
	return p.Owner, nil
}

// MaxHistoryPage is the largest page of history.
const MaxHistoryPage = 500

// History returns a page of one of the member's purses, newest first.
// Errors: EPURSENOTFOUND, EINVALID.
func (s *Service) History(ctx context.Context, memberID, number string, f coffer.HistoryFilter) ([]*coffer.HistoryEntry, error) {
	if _, err := s.Purse(ctx, memberID, number); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > MaxHistoryPage {
		return nil, coffer.Errorf(coffer.EINVALID, "limit must be between 1 and %d.", MaxHistoryPage)
	}
	return s.store.History(ctx, number, f)
}

// TransferInput is a transfer as the sender writes it.
type TransferInput struct {
	TransferID  string
	From, To    string
	Amount      string
	Description string
	// Strong is true when the request was authenticated by a key-file
	// signature or a client certificate: such transfers are exempt from
	// confirmation unless the member's policy says ConfirmSigned.
	Strong bool
	// Resend asks for a new SMS code for a pending transfer.
	Resend bool

	// At most one payment form (see payments.go).
	Protect   *ProtectInput // a protected transfer
	InvoiceID string        // pays this invoice of the member's
	TrustID   string        // a merchant's debit of From under this trust
	refundOf  int64         // set by Refund: the Seq of the refunded transfer
}

// Transfer validates a transfer and applies it through the ledger engine.
// replayed is true when the same transfer ID had already applied it.
// Errors: EINVALID, EINVALIDAMOUNT, EPURSENOTFOUND, EFORBIDDEN,
// ECURRENCYMISMATCH, EINSUFFICIENTFUNDS, EIDEMPOTENCYCONFLICT,
// ELIMITEXCEEDED, EUNAVAILABLE, ECONFIRMATIONREQUIRED (carrying *Pending
// when the transfer waits for confirmation; see confirm.go).
func (s *Service) Transfer(ctx context.Context, memberID string, in TransferInput) (t *coffer.Transfer, replayed bool, err error) {
	req, err := s.ValidateTransfer(ctx, memberID, in)
	if err == nil {
		err = s.checkContact(ctx, req) // see contacts.go
	}
	if err != nil {
		return nil, false, err
	}
	if req.TrustID != "" {
		// The trust lets the merchant take money, not send it elsewhere.
		to, err := s.store.Purse(ctx, req.To)
		if err != nil && coffer.ErrorCode(err) != coffer.EPURSENOTFOUND {
			return nil, false, err
		}
		if to == nil || to.Owner != memberID {
			return nil, false, coffer.Errorf(coffer.EFORBIDDEN, "A debit under a trust pays into one of your own purses.")
		}
	}
	code := ""
	if in.Protect != nil {
		code = in.Protect.Code
	}
	// Confirmation policy: may answer ECONFIRMATIONREQUIRED carrying the
	// pending transfer (*Pending); see confirm.go.
	if err := s.gateTransfer(ctx, req, in.Strong, in.Resend, code); err != nil {
		return nil, false, err
	}
	t, replayed, err = s.submit(ctx, req)
	if err != nil && ctx.Err() == nil {
		s.endRefusedConfirmation(ctx, req, err)
	}
	return t, replayed, err
}

// submit hands a checked request to the engine.
func (s *Service) submit(ctx context.Context, req *coffer.TransferRequest) (*coffer.Transfer, bool, error) {
	res := s.engine.Submit(ctx, req)
	if res.Err != nil && ctx.Err() != nil {
		return nil, false, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The request ended before the transfer was confirmed; retry with the same transfer ID to learn its outcome.", Err: res.Err}
	}
	return res.Transfer, res.Replayed, res.Err
}

// ValidateTransfer checks a transfer's shape and turns it into a ledger
// request. It reads no balances: the engine does that in order.
func (s *Service) ValidateTransfer(ctx context.Context, memberID string, in TransferInput) (*coffer.TransferRequest, error) {
	if !coffer.ValidTransferID(in.TransferID) {
		return nil, coffer.Errorf(coffer.EINVALID, "transfer_id must be 1 to 64 characters of letters, digits and . _ : -")
	}
	if err := coffer.ValidateDescription(in.Description); err != nil {
		return nil, err
	}
	cur, err := s.CurrencyOfPurse(ctx, in.From)
	if err != nil {
		return nil, err
	}
	if !coffer.ValidPurseNumber(in.To) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "%q is not a purse number (a letter and 12 digits).", in.To)
	}
	amount, err := coffer.ParseAmount(in.Amount, cur.Decimals)
	if err != nil {
		return nil, err
	}
	req := &coffer.TransferRequest{Sender: memberID, TransferID: in.TransferID, From: in.From, To: in.To,
		Amount: amount, Description: in.Description, InvoiceID: in.InvoiceID, TrustID: in.TrustID, RefundOf: in.refundOf}
	forms := 0
	for _, set := range []bool{in.Protect != nil, in.InvoiceID != "", in.TrustID != "", in.refundOf != 0} {
		if set {
			forms++
		}
	}
	if forms > 1 {
		return nil, coffer.Errorf(coffer.EINVALID, "A transfer may be protected, pay an invoice or use a trust, but only one of these.")
	}
	if in.InvoiceID != "" && !validPaymentID(invoicePrefix, in.InvoiceID) {
		return nil, errNoInvoice
	}
	if in.TrustID != "" && !validPaymentID(trustPrefix, in.TrustID) {
		return nil, coffer.Errorf(coffer.ETRUSTINVALID, "No active trust lets you debit purse %s.", in.From)
	}
	if in.Protect != nil {
		if req.Protect, err = s.protection(in.Protect); err != nil {
			return nil, err
		}
	}
	// The daily limit of the verification level (see levels.go).
	if err := s.applyLevel(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}

// GetTransfer returns a transfer the member sent or received; from, when
// set, names the sending purse, to tell apart transfers of different senders
// that chose the same transfer ID.
// Errors: ENOTFOUND.
func (s *Service) GetTransfer(ctx context.Context, memberID, transferID, from string) (*coffer.Transfer, error) {
	if !coffer.ValidTransferID(transferID) || (from != "" && !coffer.ValidPurseNumber(from)) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "No such transfer.")
	}
	t, err := s.store.Transfer(ctx, memberID, transferID, from)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "No such transfer.")
	}
	return t, err
}

// Decimals returns the decimals of a currency code, for formatting.
func (s *Service) Decimals(ctx context.Context, code string) int {
	return s.cur.Decimals(ctx, code)
}
