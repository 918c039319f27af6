package app

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
)

// Bounds of an invoice's life.
const (
	DefaultInvoiceHours = 72
	MaxInvoiceHours     = 720
	MaxInvoicePage      = 100
)

// errNoInvoice is the one answer for an invoice that does not exist and one
// the member may not see, so IDs of others' invoices cannot be probed.
var errNoInvoice = coffer.Errorf(coffer.ENOTFOUND, "There is no such invoice.")

// InvoiceInput is a new invoice as the merchant writes it.
type InvoiceInput struct {
	Payer          string // member ID
	Purse          string // the merchant's purse to be paid into
	Amount         string
	Description    string
	OrderNumber    string
	ExpiresInHours int // 0: DefaultInvoiceHours
}

func validateOrderNumber(s string) error {
	if s == "" || len(s) > coffer.MaxOrderNumberBytes || !utf8.ValidString(s) {
		return coffer.Errorf(coffer.EINVALID, "order_number must be 1 to %d bytes of text.", coffer.MaxOrderNumberBytes)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return coffer.Errorf(coffer.EINVALID, "order_number must contain printable characters only.")
		}
	}
	return nil
}

// CreateInvoice issues an invoice from the merchant to a payer. Each
// merchant may issue Config.InvoicesPerHour invoices an hour.
// Errors: EINVALID, EINVALIDAMOUNT, EPURSENOTFOUND, ENOTACONTACT (no such
// payer, or one who accepts invoices only from contacts), ECONFLICT (order number used), ERATELIMITED, ELEVELTOOLOW (the
// merchant's verification level does not allow invoices).
func (s *Service) CreateInvoice(ctx context.Context, merchant string, in InvoiceInput) (*coffer.Invoice, error) {
	if !coffer.ValidMemberID(in.Payer) {
		return nil, coffer.Errorf(coffer.EINVALID, "payer must be a 12-digit member ID.")
	}
	if in.Payer == merchant {
		return nil, coffer.Errorf(coffer.EINVALID, "You cannot invoice yourself.")
	}
	if err := validateOrderNumber(in.OrderNumber); err != nil {
		return nil, err
	}
	if err := s.requireMerchant(ctx, merchant, "issuing invoices"); err != nil {
		return nil, err
	}
	if err := coffer.ValidateDescription(in.Description); err != nil {
		return nil, err
	}
	hours := in.ExpiresInHours
	if hours == 0 {
		hours = DefaultInvoiceHours
	}
	if hours < 1 || hours > MaxInvoiceHours {
		return nil, coffer.Errorf(coffer.EINVALID, "expires_in_hours must be from 1 to %d.", MaxInvoiceHours)
	}
	p, err := s.Purse(ctx, merchant, in.Purse)
	if err != nil {
		return nil, err
	}
	cur, err := s.Currency(ctx, p.Currency)
	if err != nil {
		return nil, err
	}
	amount, err := coffer.ParseAmount(in.Amount, cur.Decimals)
	if err != nil {
		return nil, err
	}
	if err := s.checkInvoiceContact(ctx, merchant, in.Payer); err != nil { // see contacts.go
		return nil, err
	}
	now := s.now().Truncate(time.Millisecond)
	if ok, wait := s.invoiceRate.allow(merchant, s.cfg.InvoicesPerHour, time.Hour, now); !ok {
		return nil, &coffer.Error{Code: coffer.ERATELIMITED, Message: "You have issued too many invoices in the last hour; try again later.", Err: &RateLimitError{RetryAfter: wait}}
	}
	inv := &coffer.Invoice{Merchant: merchant, Payer: in.Payer, Purse: p.Number, Currency: p.Currency, Amount: amount,
		Description: in.Description, OrderNumber: in.OrderNumber, State: coffer.InvoicePending,
		CreatedAt: now, ExpiresAt: now.Add(time.Duration(hours) * time.Hour), UpdatedAt: now}
	for attempt := 0; ; attempt++ {
		inv.ID = newPaymentID(invoicePrefix)
		err := s.store.CreateInvoice(ctx, inv)
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			// The ID is 128 random bits: a conflict is the order number.
			if _, err := s.store.Invoice(ctx, inv.ID); err == nil && attempt < 3 {
				continue
			}
			return nil, coffer.Errorf(coffer.ECONFLICT, "You have already issued an invoice with order number %q.", in.OrderNumber)
		}
		if err != nil {
			return nil, err
		}
		break
	}
	s.audit(ctx, coffer.AuditInvoiceCreated, merchant, map[string]any{"invoice_id": inv.ID, "payer": inv.Payer,
		"purse": inv.Purse, "amount": inv.Amount, "currency": inv.Currency, "order_number": inv.OrderNumber})
	return inv, nil
}

// Invoice returns an invoice its merchant or payer may see, with expiry
// applied. Errors: ENOTFOUND.
func (s *Service) Invoice(ctx context.Context, memberID, id string) (*coffer.Invoice, error) {
	if !validPaymentID(invoicePrefix, id) {
		return nil, errNoInvoice
	}
	inv, err := s.store.Invoice(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && inv.Merchant != memberID && inv.Payer != memberID) {
		return nil, errNoInvoice
	}
	if err != nil {
		return nil, err
	}
	s.expireInvoice(ctx, inv)
	return inv, nil
}

// expireInvoice records the expiry of a pending invoice past its time, so
// that what a member reads and what is stored agree.
func (s *Service) expireInvoice(ctx context.Context, inv *coffer.Invoice) {
	now := s.now()
	if inv.EffectiveState(now) != coffer.InvoiceExpired || inv.State == coffer.InvoiceExpired {
		return
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditInvoiceEnded, inv.Merchant, map[string]any{"invoice_id": inv.ID, "state": coffer.InvoiceExpired})
	if _, err := s.store.EndInvoice(ctx, inv.ID, coffer.InvoiceExpired, now, ev); err != nil {
		s.log.Warn("expire invoice", "invoice", inv.ID, "err", err)
	}
	inv.State = coffer.InvoiceExpired
}

// InvoiceList selects invoices of a member.
type InvoiceList struct {
	Role   string // "payer" (default) or "merchant"
	State  string // "" for every state
	Before time.Time
	Limit  int // 0: 50
}

// Invoices lists the member's invoices as payer or merchant, newest first.
// The second result is the number of rows read, for paging: a page is full
// when it equals the limit. Errors: EINVALID.
func (s *Service) Invoices(ctx context.Context, memberID string, l InvoiceList) ([]*coffer.Invoice, int, error) {
	f := coffer.InvoiceFilter{State: l.State, Before: l.Before, Limit: l.Limit}
	switch l.Role {
	case "", "payer":
		f.Payer = memberID
	case "merchant":
		f.Merchant = memberID
	default:
		return nil, 0, coffer.Errorf(coffer.EINVALID, "role must be payer or merchant.")
	}
	switch l.State {
	case "", coffer.InvoicePending, coffer.InvoicePaid, coffer.InvoiceRefused, coffer.InvoiceCancelled, coffer.InvoiceExpired:
	default:
		return nil, 0, coffer.Errorf(coffer.EINVALID, "state must be pending, paid, refused, cancelled or expired.")
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > MaxInvoicePage {
		return nil, 0, coffer.Errorf(coffer.EINVALID, "limit must be between 1 and %d.", MaxInvoicePage)
	}
	list, err := s.store.Invoices(ctx, f)
	if errors.Is(err, coffer.ErrNoInvoiceParty) {
		return nil, 0, coffer.Errorf(coffer.EINVALID, "A merchant or a payer is required.")
	}
	if err != nil {
		return nil, 0, err
	}
	out := list[:0:0]
	for _, inv := range list {
		s.expireInvoice(ctx, inv)
		if l.State == "" || inv.State == l.State {
			out = append(out, inv)
		}
	}
	return out, len(list), nil
}

// PayInvoice pays one of the member's invoices from one of their purses,
// as a transfer with the given transfer ID: confirmation and retries work
// as for Transfer. Errors: ENOTFOUND, EINVOICENOTPAYABLE and those of
// Transfer.
func (s *Service) PayInvoice(ctx context.Context, memberID, invoiceID string, in TransferInput) (*coffer.Transfer, bool, error) {
	inv, err := s.Invoice(ctx, memberID, invoiceID)
	if err != nil {
		return nil, false, err
	}
	if inv.Payer != memberID {
		return nil, false, coffer.Errorf(coffer.EFORBIDDEN, "Only the payer can pay an invoice.")
	}
	cur, err := s.Currency(ctx, inv.Currency)
	if err != nil {
		return nil, false, err
	}
	if st := inv.EffectiveState(s.now()); st != coffer.InvoicePending {
		// A retry of the payment that paid it answers with that payment.
		t, err := s.store.Transfer(ctx, memberID, in.TransferID, in.From)
		if err != nil || t.Sender != memberID || t.InvoiceID != inv.ID || !coffer.ValidTransferID(in.TransferID) {
			return nil, false, coffer.Errorf(coffer.EINVOICENOTPAYABLE, "The invoice is %s and cannot be paid.", st)
		}
	}
	in.To, in.Amount, in.Description = inv.Purse, coffer.FormatAmount(inv.Amount, cur.Decimals), inv.Description
	in.InvoiceID, in.Protect, in.TrustID, in.refundOf = inv.ID, nil, "", 0
	return s.Transfer(ctx, memberID, in)
}

// RefuseInvoice is the payer declining an invoice; CancelInvoice is the
// merchant withdrawing it. Errors: ENOTFOUND, EFORBIDDEN,
// EINVOICENOTPAYABLE.
func (s *Service) RefuseInvoice(ctx context.Context, memberID, id string) (*coffer.Invoice, error) {
	return s.endInvoice(ctx, memberID, id, coffer.InvoiceRefused)
}

// CancelInvoice: see RefuseInvoice.
func (s *Service) CancelInvoice(ctx context.Context, memberID, id string) (*coffer.Invoice, error) {
	return s.endInvoice(ctx, memberID, id, coffer.InvoiceCancelled)
}

func (s *Service) endInvoice(ctx context.Context, memberID, id, state string) (*coffer.Invoice, error) {
	inv, err := s.Invoice(ctx, memberID, id)
	if err != nil {
		return nil, err
	}
	if state == coffer.InvoiceRefused && inv.Payer != memberID {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "Only the payer can refuse an invoice; the merchant cancels it.")
	}
	if state == coffer.InvoiceCancelled && inv.Merchant != memberID {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "Only the merchant can cancel an invoice; the payer refuses it.")
	}
	if inv.State != coffer.InvoicePending {
		return nil, coffer.Errorf(coffer.EINVOICENOTPAYABLE, "The invoice is already %s.", inv.State)
	}
	now := s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(now, coffer.AuditInvoiceEnded, memberID, map[string]any{"invoice_id": inv.ID, "state": state})
	ok, err := s.store.EndInvoice(ctx, inv.ID, state, now, ev)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Paid or ended by someone else a moment ago.
		if inv, err = s.Invoice(ctx, memberID, id); err != nil {
			return nil, err
		}
		return nil, coffer.Errorf(coffer.EINVOICENOTPAYABLE, "The invoice is already %s.", inv.State)
	}
	inv.State, inv.UpdatedAt = state, now
	return inv, nil
}

// trimmed keeps error texts that quote input short.
func trimmed(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}

// InvoicePayment returns the transfer that paid an invoice, nil when it is
// unpaid.
func (s *Service) InvoicePayment(ctx context.Context, inv *coffer.Invoice) (*coffer.Transfer, error) {
	if inv.TransferSeq == 0 {
		return nil, nil
	}
	return s.store.TransferBySeq(ctx, inv.TransferSeq)
}
