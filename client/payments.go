package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Limits of the payment forms, as the server applies them. The client
// checks them before sending so that a mistake is caught without a round
// trip.
const (
	MinProtectCode     = 4
	MaxProtectCode     = 32
	MaxProtectDays     = 255 // protection by code
	MaxTimeProtectDays = 120 // protection by time alone
	MaxBatchTransfers  = 1000
	MaxInvoiceHours    = 720
)

// Check reports whether p asks for a protection the server accepts.
func (p *Protect) Check() error {
	switch {
	case p == nil:
		return nil
	case p.Code != "" && (len(p.Code) < MinProtectCode || len(p.Code) > MaxProtectCode):
		return fmt.Errorf("protection code must have %d to %d characters", MinProtectCode, MaxProtectCode)
	case p.Code != "" && (p.Days < 1 || p.Days > MaxProtectDays):
		return fmt.Errorf("protection by code lasts 1 to %d days, not %d", MaxProtectDays, p.Days)
	case p.Code == "" && (p.Days < 1 || p.Days > MaxTimeProtectDays):
		return fmt.Errorf("protection by time lasts 1 to %d days, not %d", MaxTimeProtectDays, p.Days)
	}
	return nil
}

// GetTransferFrom is GetTransfer for a transfer that several senders named
// with the same ID: from picks the sending purse. The payee of a transfer
// names it this way. Codes: unauthorized, not_found.
func (c *Client) GetTransferFrom(ctx context.Context, transferID, from string) (*Transfer, error) {
	if err := need("transfer ID", transferID); err != nil {
		return nil, err
	}
	var q url.Values
	if from != "" {
		q = url.Values{"from": {from}}
	}
	var t Transfer
	if _, err := c.do(ctx, http.MethodGet, "/v1/transfers/"+seg(transferID), q, nil, &t); err != nil {
		return nil, fmt.Errorf("get transfer %s: %w", transferID, err)
	}
	return &t, nil
}

// Quote is what a transfer would cost: Total = Amount + Fee, in Currency.
type Quote struct {
	Amount   string `json:"amount"`
	Fee      string `json:"fee"`
	Total    string `json:"total"`
	Currency string `json:"currency"`
}

// Quote asks what sending amount from one of the member's purses to another
// purse would cost, with the fee as the server will charge it. Nothing
// moves. Codes: unauthorized, purse_not_found, invalid_amount,
// currency_mismatch, same_purse.
func (c *Client) Quote(ctx context.Context, from, to, amount string) (*Quote, error) {
	body := struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Amount string `json:"amount"`
	}{from, to, amount}
	var q Quote
	if _, err := c.do(ctx, http.MethodPost, "/v1/transfers/quote", nil, body, &q); err != nil {
		return nil, fmt.Errorf("quote %s from %s to %s: %w", amount, from, to, err)
	}
	if q.Total == "" {
		return nil, fmt.Errorf("quote: %w", errNoBody)
	}
	return &q, nil
}

// Fee is the operator's fee on transfers in one currency: Percent of the
// amount ("0.8"), at least Min and at most Max (Max empty or "0": no
// maximum). The sender pays it on top of the amount.
type Fee struct {
	Currency string `json:"currency"`
	Percent  string `json:"percent"`
	Min      string `json:"min"`
	Max      string `json:"max"`
}

// Fees lists the fees of the currencies that have one. Codes: unauthorized.
func (c *Client) Fees(ctx context.Context) ([]Fee, error) {
	var out struct {
		Fees []Fee `json:"fees"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/fees", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list fees: %w", err)
	}
	return out.Fees, nil
}

// Held lists the protected transfers still held that the member sent and
// those waiting for the member to release them.
type Held struct {
	Sent     []Transfer `json:"sent"`
	Incoming []Transfer `json:"incoming"`
}

// HeldTransfers lists the member's protected transfers that are still
// held. Codes: unauthorized.
func (c *Client) HeldTransfers(ctx context.Context) (*Held, error) {
	var h Held
	if _, err := c.do(ctx, http.MethodGet, "/v1/transfers/held", nil, nil, &h); err != nil {
		return nil, fmt.Errorf("list held transfers: %w", err)
	}
	return &h, nil
}

// Release releases a protected transfer the member received, naming it by
// the sender's transfer ID and the purse it came from, with the code the
// sender gave. A transfer protected by time needs no code.
//
// Release retries like Send. If an earlier attempt's answer was lost and
// the transfer turns out released already, it returns it with Replayed set.
// Codes: wrong_protection_code (AttemptsLeft of the transfer tells how
// many tries remain), transfer_not_held, not_found.
func (c *Client) Release(ctx context.Context, transferID, from, code string) (*Transfer, error) {
	body := struct {
		From string `json:"from"`
		Code string `json:"code,omitempty"`
	}{from, code}
	return c.holdAction(ctx, "release", transferID, from, body, StatusReleased)
}

// Refuse sends a protected transfer the member received back to its
// sender (with the fee). It retries like Release.
// Codes: transfer_not_held, not_found.
func (c *Client) Refuse(ctx context.Context, transferID, from string) (*Transfer, error) {
	body := struct {
		From string `json:"from"`
	}{from}
	return c.holdAction(ctx, "refuse", transferID, from, body, StatusReturned)
}

func (c *Client) holdAction(ctx context.Context, action, transferID, from string, body any, done string) (*Transfer, error) {
	if err := need("transfer ID", transferID); err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	if err := need("purse", from); err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, transferID, err)
	}
	return retrying(c, ctx, transferID, func(attempt int) (*Transfer, error) {
		var t Transfer
		_, err := c.do(ctx, http.MethodPost, "/v1/transfers/"+seg(transferID)+"/"+action, nil, body, &t)
		if err == nil {
			return &t, nil
		}
		if attempt > 1 && IsCode(err, "transfer_not_held") {
			// The answer to an earlier attempt may have been lost
			// after the server acted on it.
			if cur, gerr := c.GetTransferFrom(ctx, transferID, from); gerr == nil && cur.Status == done {
				cur.Replayed = true
				return cur, nil
			}
		}
		return nil, fmt.Errorf("%s %s: %w", action, transferID, err)
	})
}

// RefundRequest is the body of POST /v1/refunds: a refund of (part of) a
// transfer the member received, back to the purse it came from.
// TransferID is the refund's own ID and makes retries safe.
type RefundRequest struct {
	TransferID  string      `json:"transfer_id"`
	Of          TransferRef `json:"of"`
	Amount      string      `json:"amount"`
	Description string      `json:"description,omitempty"`
}

// Refund refunds (part of) a transfer the member received. If
// req.TransferID is empty it picks one. It retries like Send, with the same
// refund ID, so a refund is never made twice; Replayed tells a repeat.
// Errors are *SendError. Codes: refund_not_allowed (not the payee, too
// late, or more than is left), insufficient_funds, not_found,
// idempotency_conflict.
func (c *Client) Refund(ctx context.Context, req RefundRequest) (*Transfer, error) {
	if req.TransferID == "" {
		req.TransferID = NewTransferID()
	}
	if !ValidTransferID(req.TransferID) {
		return nil, &SendError{TransferID: req.TransferID, Err: ErrInvalidTransferID}
	}
	if err := need("transfer ID", req.Of.TransferID); err != nil {
		return nil, &SendError{TransferID: req.TransferID, Err: fmt.Errorf("refund of: %w", err)}
	}
	return retrying(c, ctx, req.TransferID, func(int) (*Transfer, error) {
		var t Transfer
		status, err := c.do(ctx, http.MethodPost, "/v1/refunds", nil, req, &t)
		if err != nil {
			return nil, fmt.Errorf("refund %s: %w", req.TransferID, err)
		}
		if t.TransferID == "" {
			return nil, fmt.Errorf("refund %s: %w", req.TransferID, errNoBody)
		}
		t.Replayed = status == http.StatusOK
		return &t, nil
	})
}

// Invoice states.
const (
	InvoicePending   = "pending"
	InvoicePaid      = "paid"
	InvoiceRefused   = "refused"
	InvoiceCancelled = "cancelled"
	InvoiceExpired   = "expired"
)

// InvoiceRequest is the body of POST /v1/invoices: a merchant asks member
// Payer to pay Amount into the merchant's Purse. OrderNumber is the
// merchant's own reference, unique per merchant.
type InvoiceRequest struct {
	Payer       string `json:"payer"`
	Purse       string `json:"purse"`
	Amount      string `json:"amount"`
	Description string `json:"description"`
	OrderNumber string `json:"order_number"`
	// ExpiresInHours is how long the invoice may be paid (default 72, at
	// most 720).
	ExpiresInHours int `json:"expires_in_hours,omitempty"`
}

// Invoice is an invoice as the server reports it. TransferID is the
// payment, once paid.
type Invoice struct {
	InvoiceID   string    `json:"invoice_id"`
	Merchant    string    `json:"merchant"`
	Payer       string    `json:"payer"`
	Purse       string    `json:"purse"`
	Currency    string    `json:"currency"`
	Amount      string    `json:"amount"`
	Description string    `json:"description,omitempty"`
	OrderNumber string    `json:"order_number"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	TransferID  string    `json:"transfer_id,omitempty"`
}

// InvoicePage is one page of invoices, newest first. NextCursor is empty on
// the last page.
type InvoicePage struct {
	Invoices   []Invoice `json:"invoices"`
	NextCursor string    `json:"next_cursor"`
}

// InvoiceOptions narrows a list of invoices. Role is "payer" (invoices to
// pay) or "merchant" (invoices issued); empty means the server's default.
type InvoiceOptions struct {
	Role   string
	State  string
	Limit  int
	Cursor string
}

// CreateInvoice issues an invoice. If the answer is lost and a retry finds
// the order number taken, CreateInvoice looks for the invoice the first
// attempt made and returns it when it matches req.
// Codes: conflict (order number already used), purse_not_found,
// invalid_amount, invalid_request, not_a_contact (no such payer, or one who
// takes invoices only from contacts), rate_limited.
func (c *Client) CreateInvoice(ctx context.Context, req InvoiceRequest) (*Invoice, error) {
	if req.ExpiresInHours < 0 || req.ExpiresInHours > MaxInvoiceHours {
		return nil, fmt.Errorf("create invoice: it may be paid for 1 to %d hours, not %d", MaxInvoiceHours, req.ExpiresInHours)
	}
	inv, err := retrying(c, ctx, req.OrderNumber, func(attempt int) (*Invoice, error) {
		var inv Invoice
		_, err := c.do(ctx, http.MethodPost, "/v1/invoices", nil, req, &inv)
		if err == nil {
			if inv.InvoiceID == "" {
				return nil, errNoBody
			}
			return &inv, nil
		}
		if attempt > 1 && IsCode(err, "conflict") {
			if found := c.findInvoice(ctx, req); found != nil {
				return found, nil
			}
		}
		return nil, err
	})
	if err != nil {
		var se *SendError
		if errors.As(err, &se) {
			err = se.Err
		}
		return nil, fmt.Errorf("create invoice for order %s: %w", req.OrderNumber, err)
	}
	return inv, nil
}

// findInvoice looks among the newest pending invoices the member issued
// for one made by req.
func (c *Client) findInvoice(ctx context.Context, req InvoiceRequest) *Invoice {
	opts := InvoiceOptions{Role: "merchant", State: InvoicePending, Limit: 100}
	for range 5 {
		page, err := c.Invoices(ctx, opts)
		if err != nil {
			return nil
		}
		for i := range page.Invoices {
			inv := &page.Invoices[i]
			if inv.OrderNumber == req.OrderNumber && inv.Payer == req.Payer && inv.Purse == req.Purse &&
				inv.Description == req.Description && sameAmount(inv.Amount, req.Amount) {
				return inv
			}
		}
		if page.NextCursor == "" || page.NextCursor == opts.Cursor {
			return nil
		}
		opts.Cursor = page.NextCursor
	}
	return nil
}

// Invoices lists invoices the member issued or is asked to pay.
// Codes: unauthorized, invalid_request.
func (c *Client) Invoices(ctx context.Context, opts InvoiceOptions) (*InvoicePage, error) {
	q := url.Values{}
	if opts.Role != "" {
		q.Set("role", opts.Role)
	}
	if opts.State != "" {
		q.Set("state", opts.State)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	var page InvoicePage
	if _, err := c.do(ctx, http.MethodGet, "/v1/invoices", q, nil, &page); err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	return &page, nil
}

// Invoice returns an invoice the member issued or is asked to pay.
// Codes: unauthorized, not_found.
func (c *Client) Invoice(ctx context.Context, invoiceID string) (*Invoice, error) {
	if err := need("invoice ID", invoiceID); err != nil {
		return nil, err
	}
	var inv Invoice
	if _, err := c.do(ctx, http.MethodGet, "/v1/invoices/"+seg(invoiceID), nil, nil, &inv); err != nil {
		return nil, fmt.Errorf("get invoice %s: %w", invoiceID, err)
	}
	return &inv, nil
}

// PayInvoice pays an invoice the member was asked to pay from one of the
// member's purses. It answers like Send, including a pending answer to
// confirm with ConfirmTransfer, and retries like Send with the same
// transferID (picked when empty). Errors are *SendError.
// Codes: invoice_not_payable, insufficient_funds, currency_mismatch,
// not_found, idempotency_conflict.
func (c *Client) PayInvoice(ctx context.Context, invoiceID, transferID, from string) (*Transfer, error) {
	if transferID == "" {
		transferID = NewTransferID()
	}
	if !ValidTransferID(transferID) {
		return nil, &SendError{TransferID: transferID, Err: ErrInvalidTransferID}
	}
	if err := need("invoice ID", invoiceID); err != nil {
		return nil, &SendError{TransferID: transferID, Err: err}
	}
	body := struct {
		TransferID string `json:"transfer_id"`
		From       string `json:"from"`
	}{transferID, from}
	return retrying(c, ctx, transferID, func(int) (*Transfer, error) {
		var t Transfer
		status, err := c.do(ctx, http.MethodPost, "/v1/invoices/"+seg(invoiceID)+"/pay", nil, body, &t)
		if err != nil {
			return nil, fmt.Errorf("pay invoice %s: %w", invoiceID, err)
		}
		if t.Status == "" {
			return nil, fmt.Errorf("pay invoice %s: %w", invoiceID, errNoBody)
		}
		if t.TransferID == "" {
			t.TransferID = transferID
		}
		t.Replayed = status == http.StatusOK
		return &t, nil
	})
}

// RefuseInvoice declines an invoice the member was asked to pay.
// Codes: invoice_not_payable, not_found.
func (c *Client) RefuseInvoice(ctx context.Context, invoiceID string) (*Invoice, error) {
	return c.endInvoice(ctx, invoiceID, "refuse")
}

// CancelInvoice withdraws an invoice the member issued.
// Codes: invoice_not_payable, not_found.
func (c *Client) CancelInvoice(ctx context.Context, invoiceID string) (*Invoice, error) {
	return c.endInvoice(ctx, invoiceID, "cancel")
}

func (c *Client) endInvoice(ctx context.Context, invoiceID, action string) (*Invoice, error) {
	if err := need("invoice ID", invoiceID); err != nil {
		return nil, err
	}
	var inv Invoice
	if _, err := c.do(ctx, http.MethodPost, "/v1/invoices/"+seg(invoiceID)+"/"+action, nil, nil, &inv); err != nil {
		return nil, fmt.Errorf("%s invoice %s: %w", action, invoiceID, err)
	}
	if inv.InvoiceID == "" {
		// An answer without a body: read the invoice as it is now.
		return c.Invoice(ctx, invoiceID)
	}
	return &inv, nil
}

// TrustRequest is the body of POST /v1/trusts: the member lets Merchant
// debit Purse within the limits given (empty: no limit of that kind).
type TrustRequest struct {
	Merchant    string `json:"merchant"`
	Purse       string `json:"purse"`
	PerTransfer string `json:"per_transfer,omitempty"`
	PerDay      string `json:"per_day,omitempty"`
	PerMonth    string `json:"per_month,omitempty"`
}

// Trust lets a merchant debit one of a member's purses within limits.
type Trust struct {
	TrustID     string    `json:"trust_id"`
	Owner       string    `json:"owner,omitempty"`
	Merchant    string    `json:"merchant"`
	Purse       string    `json:"purse"`
	Currency    string    `json:"currency,omitempty"`
	PerTransfer string    `json:"per_transfer,omitempty"`
	PerDay      string    `json:"per_day,omitempty"`
	PerMonth    string    `json:"per_month,omitempty"`
	State       string    `json:"state,omitempty"` // "active" or "revoked"
	CreatedAt   time.Time `json:"created_at,omitzero"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
}

// Trusts are the trusts the member gave (as a purse owner) and holds (as a
// merchant).
type Trusts struct {
	Given []Trust `json:"given"`
	Held  []Trust `json:"held"`
}

// GrantTrust lets a merchant debit one of the member's purses. It is a
// sensitive change: a member with a second factor needs WithConfirmation,
// as the confirmation_required answer says.
// Codes: confirmation_required, purse_not_found, level_too_low (no such
// merchant, or one whose level allows no trusts), invalid_amount,
// invalid_request, rate_limited.
func (c *Client) GrantTrust(ctx context.Context, req TrustRequest) (*Trust, error) {
	var t Trust
	if _, err := c.do(ctx, http.MethodPost, "/v1/trusts", nil, req, &t); err != nil {
		return nil, fmt.Errorf("grant trust to %s: %w", req.Merchant, err)
	}
	if t.TrustID == "" {
		return nil, fmt.Errorf("grant trust to %s: %w", req.Merchant, errNoBody)
	}
	return &t, nil
}

// Trusts lists the trusts the member gave and holds. Codes: unauthorized.
func (c *Client) Trusts(ctx context.Context) (*Trusts, error) {
	var t Trusts
	if _, err := c.do(ctx, http.MethodGet, "/v1/trusts", nil, nil, &t); err != nil {
		return nil, fmt.Errorf("list trusts: %w", err)
	}
	return &t, nil
}

// RevokeTrust ends a trust the member gave or holds, at once.
// Codes: unauthorized, not_found.
func (c *Client) RevokeTrust(ctx context.Context, trustID string) error {
	if err := need("trust ID", trustID); err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/trusts/"+seg(trustID), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke trust %s: %w", trustID, err)
	}
	return nil
}

// sameAmount compares two decimal strings by value ("5" and "5.00").
func sameAmount(a, b string) bool {
	x, ok1 := parseDecimal(a)
	y, ok2 := parseDecimal(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
