package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Transfer statuses.
const (
	// StatusApplied: both balances have moved; the transfer is final.
	StatusApplied = "applied"
	// StatusPendingConfirmation: the server waits for a one-time code;
	// answer it with ConfirmTransfer.
	StatusPendingConfirmation = "pending_confirmation"
	// StatusHeld: a protected transfer waits for its payee to release it
	// (with the code, or when the protection period ends).
	StatusHeld = "held"
	// StatusReleased: a protected transfer reached its payee.
	StatusReleased = "released"
	// StatusReturned: a protected transfer went back to its sender
	// (refused, expired, or too many wrong codes).
	StatusReturned = "returned"
)

// Kinds of transfer (Transfer.Kind).
const (
	KindTransfer  = "transfer"  // plain, also an invoice payment or a trust debit
	KindProtected = "protected" // held for the payee until released
	KindRefund    = "refund"    // returns (part of) an earlier transfer
)

// Protect asks for a protected transfer: the money waits, held, in the
// payee's purse. With Code (4 to 32 characters, which the sender tells the
// payee) the payee releases it by entering the code within Days (1 to 255);
// without, it is released by itself after Days (1 to 120). Until then the
// payee may refuse it, and when a code was not entered in time it goes back.
type Protect struct {
	Code string `json:"code,omitempty"`
	Days int    `json:"days"`
}

// TransferRef names a transfer from the payee's side: the sender's
// transfer ID and the purse it came from.
type TransferRef struct {
	TransferID string `json:"transfer_id"`
	From       string `json:"from"`
}

// Protection is how a protected transfer is held.
type Protection struct {
	ByCode       bool      `json:"by_code"`
	Until        time.Time `json:"until,omitzero"`
	AttemptsLeft int       `json:"attempts_left,omitempty"`
}

// TransferRequest is the body of POST /v1/transfers. TransferID is chosen by
// the sender and makes retries safe: the server applies one (sender,
// transfer ID) at most once.
type TransferRequest struct {
	TransferID  string `json:"transfer_id"`
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      string `json:"amount"`
	Description string `json:"description,omitempty"`

	// At most one of the payment forms below.

	// Protect makes it a protected transfer.
	Protect *Protect `json:"protect,omitempty"`
	// InvoiceID pays this invoice (see also PayInvoice).
	InvoiceID string `json:"invoice_id,omitempty"`
	// TrustID makes it a merchant's debit under this trust: From is then
	// the member's purse that gave the trust, To the merchant's purse.
	TrustID string `json:"trust_id,omitempty"`
}

// Transfer is a transfer as the server reports it. When Status is
// StatusPendingConfirmation, ConfirmationID and Method tell how to confirm.
type Transfer struct {
	TransferID  string    `json:"transfer_id"`
	From        string    `json:"from,omitempty"`
	To          string    `json:"to,omitempty"`
	Amount      string    `json:"amount,omitempty"`
	Currency    string    `json:"currency,omitempty"`
	Description string    `json:"description,omitempty"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at,omitzero"`

	// Kind is KindTransfer, KindProtected or KindRefund.
	Kind string `json:"kind,omitempty"`
	// Fee is what the sender paid on top of Amount ("0.00" when none).
	// A pending answer carries the fee the transfer will cost.
	Fee       string       `json:"fee,omitempty"`
	InvoiceID string       `json:"invoice_id,omitempty"`
	TrustID   string       `json:"trust_id,omitempty"`
	RefundOf  *TransferRef `json:"refund_of,omitempty"`
	// Refunded is how much of this transfer was refunded so far.
	Refunded   string      `json:"refunded,omitempty"`
	Protection *Protection `json:"protection,omitempty"`

	ConfirmationID string `json:"confirmation_id,omitempty"`
	Method         string `json:"method,omitempty"`
	// Challenge is the OCRA challenge for Method "ocra": it names the payee
	// purse and amount; a code generator answers it ('coffer otp answer').
	Challenge string `json:"challenge,omitempty"`

	// Replayed is true when the server had already applied this transfer
	// ID with the same body and answered with the first result (200
	// instead of 201). It is not part of the server's JSON.
	Replayed bool `json:"-"`
}

// NewTransferID returns a fresh random transfer ID: 26 characters of
// base32 carrying 128 bits from crypto/rand.
func NewTransferID() string { return rand.Text() }

// ValidTransferID reports whether id is a transfer ID the server accepts:
// 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.
func ValidTransferID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9',
			b == '.', b == '_', b == ':', b == '-':
		default:
			return false
		}
	}
	return true
}

// ErrInvalidTransferID is returned for a transfer ID the server would refuse.
var ErrInvalidTransferID = errors.New("invalid transfer ID: want 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")

// Transfer sends one transfer request, once. req.TransferID must be set. Most
// callers want Send, which also picks an ID and retries safely.
// Codes: invalid_request, invalid_amount, insufficient_funds,
// currency_mismatch, same_purse, purse_not_found, forbidden,
// idempotency_conflict, limit_exceeded, unauthorized, rate_limited.
func (c *Client) Transfer(ctx context.Context, req TransferRequest) (*Transfer, error) {
	if !ValidTransferID(req.TransferID) {
		return nil, fmt.Errorf("transfer %q: %w", req.TransferID, ErrInvalidTransferID)
	}
	var t Transfer
	status, err := c.do(ctx, http.MethodPost, "/v1/transfers", nil, req, &t)
	if err != nil {
		return nil, fmt.Errorf("transfer %s: %w", req.TransferID, err)
	}
	if t.Status == "" {
		return nil, fmt.Errorf("transfer %s: %w", req.TransferID, errNoBody)
	}
	if t.TransferID == "" {
		// A pending answer may carry just the status and how to confirm.
		t.TransferID = req.TransferID
	}
	t.Replayed = status == http.StatusOK
	return &t, nil
}

// ConfirmTransfer answers a pending transfer's confirmation with a one-time
// code and returns the applied transfer. Codes: confirmation_failed (wrong
// code), confirmation_void (expired, or too many wrong codes), not_found,
// insufficient_funds, rate_limited.
func (c *Client) ConfirmTransfer(ctx context.Context, transferID, code string) (*Transfer, error) {
	if err := need("transfer ID", transferID); err != nil {
		return nil, fmt.Errorf("confirm transfer: %w", err)
	}
	var t Transfer
	body := struct {
		Code string `json:"code"`
	}{code}
	if _, err := c.do(ctx, http.MethodPost, "/v1/transfers/"+seg(transferID)+"/confirm", nil, body, &t); err != nil {
		return nil, fmt.Errorf("confirm transfer %s: %w", transferID, err)
	}
	return &t, nil
}

// GetTransfer returns a transfer the member sent or received.
// Codes: unauthorized, not_found.
func (c *Client) GetTransfer(ctx context.Context, transferID string) (*Transfer, error) {
	if err := need("transfer ID", transferID); err != nil {
		return nil, err
	}
	var t Transfer
	if _, err := c.do(ctx, http.MethodGet, "/v1/transfers/"+seg(transferID), nil, nil, &t); err != nil {
		return nil, fmt.Errorf("get transfer %s: %w", transferID, err)
	}
	return &t, nil
}

// SendError is the error of a Send that got no final answer or a refusal.
// TransferID lets the caller retry later with the same ID without risk of
// paying twice.
type SendError struct {
	TransferID string
	// Attempts is how many requests were made.
	Attempts int
	// Err is the last attempt's error (a *Error for a refusal) or the
	// context's error joined with it.
	Err error
}

func (e *SendError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("transfer %s, after %d attempts: %v", e.TransferID, e.Attempts, e.Err)
	}
	return fmt.Sprintf("transfer %s: %v", e.TransferID, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Send makes a transfer and retries it until the server gives a final
// answer. If req.TransferID is empty, Send picks one with NewTransferID.
//
// On network failures (refused or reset connections, timeouts, a cut-off
// answer) and on 5xx and 429 answers it sends the very same body with the
// same transfer ID again, waiting longer each time (see WithRetry). That is
// safe because the server applies a (sender, transfer ID) at most once and
// answers a repeat with the first result. A 4xx problem is final and is
// never retried. Send stops when ctx is done.
//
// Errors are *SendError, wrapping a *Error when the server refused.
func (c *Client) Send(ctx context.Context, req TransferRequest) (*Transfer, error) {
	if req.TransferID == "" {
		req.TransferID = NewTransferID()
	}
	if !ValidTransferID(req.TransferID) {
		return nil, &SendError{TransferID: req.TransferID, Err: ErrInvalidTransferID}
	}
	return retrying(c, ctx, req.TransferID, func(int) (*Transfer, error) { return c.Transfer(ctx, req) })
}

// retrying calls try until it succeeds, fails for good, runs out of
// attempts or ctx is done, waiting between attempts as Send does. It is for
// requests the server applies at most once per transfer ID, so that sending
// one again is safe. try gets the attempt number (1 for the first). Errors
// are *SendError naming id.
func retrying[T any](c *Client, ctx context.Context, id string, try func(attempt int) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		v, err := try(attempt)
		if err == nil {
			return v, nil
		}
		if !retryable(ctx, err) || attempt >= c.attempts {
			return zero, &SendError{TransferID: id, Attempts: attempt, Err: unwrapOp(err)}
		}
		if serr := c.sleep(ctx, c.backoff(attempt, err)); serr != nil {
			return zero, &SendError{TransferID: id, Attempts: attempt, Err: errors.Join(serr, unwrapOp(err))}
		}
	}
}

// backoff returns the wait after the given failed attempt: exponential with
// jitter, but at least what a Retry-After header asked for (up to a minute).
func (c *Client) backoff(attempt int, err error) time.Duration {
	d := c.minBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	if d > 0 {
		// Full jitter on the upper half keeps many clients from
		// retrying in lockstep after an outage.
		d = d/2 + mathrand.N(d/2+1)
	}
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > d {
		d = min(e.RetryAfter, time.Minute)
	}
	return d
}

// retryable reports whether a failed transfer request may be sent again.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	return false
}

// unwrapOp drops Transfer's "transfer ID:" prefix, which SendError repeats.
func unwrapOp(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		if inner := u.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
