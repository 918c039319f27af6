package coffer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Webhook event types: what a member's endpoint may subscribe to.
const (
	EventTransferIncoming = "transfer.incoming" // money (or held money) arrived in one of the member's purses
	EventInvoicePaid      = "invoice.paid"      // an invoice the member issued was paid
	EventTransferReleased = "transfer.released" // a protected transfer the member sent or received was released to the payee
	EventTransferReturned = "transfer.returned" // a protected transfer the member sent or received went back to the sender
	EventRefundIncoming   = "refund.incoming"   // a refund arrived in one of the member's purses
	EventCheckoutPaid     = "checkout.paid"     // a hosted checkout order of the member (a merchant) was paid
)

// WebhookEventTypes lists every event type, in the order the API documents them.
var WebhookEventTypes = []string{EventTransferIncoming, EventInvoicePaid, EventTransferReleased,
	EventTransferReturned, EventRefundIncoming, EventCheckoutPaid}

// ValidWebhookEvent reports whether s names an event type.
func ValidWebhookEvent(s string) bool {
	for _, t := range WebhookEventTypes {
		if t == s {
			return true
		}
	}
	return false
}

// Webhook signing schemes.
const (
	SigningHMAC    = "hmac"    // HMAC-SHA256 with a secret shown to the member once
	SigningEd25519 = "ed25519" // Ed25519 with the server's webhook key
)

// Outbox states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // retried for a day without success; no more attempts
)

// Webhook is an endpoint a member registered to be told of events.
type Webhook struct {
	ID           string
	MemberID     string
	URL          string
	Events       []string
	Signing      string // SigningHMAC or SigningEd25519
	SealedSecret []byte // the HMAC secret, sealed by the application; nil for Ed25519
	CreatedAt    time.Time
}

// Subscribes reports whether the endpoint wants events of type t.
func (w *Webhook) Subscribes(t string) bool {
	for _, e := range w.Events {
		if e == t {
			return true
		}
	}
	return false
}

// WebhookEventsColumn is how a store keeps an endpoint's event list: the
// types between commas, with a comma at each end, so that the ledger batch
// matches a type with one substring test.
func WebhookEventsColumn(events []string) string { return "," + strings.Join(events, ",") + "," }

// ParseWebhookEventsColumn reverses WebhookEventsColumn.
func ParseWebhookEventsColumn(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Delivery is one event for one endpoint in the outbox, with what happened
// to it so far.
type Delivery struct {
	ID          int64 // outbox row; internal
	WebhookID   string
	EventID     string // the same on every attempt and duplicate
	Type        string
	MemberID    string
	TransferSeq int64  // the transfer the event is about
	InvoiceID   string // the invoice, for invoice.paid and checkout.paid
	Status      string // the transfer's status when the event happened
	CreatedAt   time.Time
	State       string // DeliveryPending, DeliveryDelivered, DeliveryFailed
	NextAt      time.Time
	Attempts    []*DeliveryAttempt
}

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	At         time.Time
	StatusCode int    // 0 when no answer came
	Error      string // "" on a 2xx answer
	Duration   time.Duration
}

// Checkout is a hosted-checkout order, recorded with the invoice that pays
// it, so that the invoice's payment also raises checkout.paid.
type Checkout struct {
	InvoiceID   string
	Merchant    string
	OrderNumber string
	ResultURL   string
	CreatedAt   time.Time
}

// The facts a WebhookStore reports as errors, each with its code and the
// message a member may see.
var (
	// ErrTooManyWebhooks: the member already has the most endpoints allowed.
	ErrTooManyWebhooks = &Error{Code: ELIMITEXCEEDED, Message: "Too many webhooks."}
	// ErrNoWebhook: the member has no endpoint of that ID.
	ErrNoWebhook = &Error{Code: ENOTFOUND, Message: "There is no such webhook."}
	// ErrNoDelivery: the outbox has no delivery of that ID.
	ErrNoDelivery = &Error{Code: ENOTFOUND, Message: "There is no such delivery."}
	// ErrNoCheckoutSecret: the merchant has not set a checkout secret.
	ErrNoCheckoutSecret = &Error{Code: ENOTFOUND, Message: "No checkout secret is set."}
)

// WebhookStore is the persistence of webhook endpoints, the outbox the ledger
// batch fills (LedgerTx.Write adds the batch's events for the subscribed
// endpoints in the same transaction), hosted-checkout orders, checkout
// secrets and the checkout request nonces. Errors as for Store.
type WebhookStore interface {
	// CreateWebhook inserts an endpoint and its audit event (nil: none)
	// unless the member already has max endpoints. The count and the
	// insert are one transaction, so concurrent requests, from any
	// process, cannot together exceed max. Errors: ErrTooManyWebhooks
	// (ELIMITEXCEEDED), ECONFLICT (the ID is taken).
	CreateWebhook(ctx context.Context, w *Webhook, max int, ev *AuditEvent) error
	// Webhooks lists a member's endpoints, oldest first.
	Webhooks(ctx context.Context, memberID string) ([]*Webhook, error)
	// Webhook returns one endpoint. Errors: ENOTFOUND.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// DeleteWebhook removes a member's endpoint with its outbox and
	// attempts. Errors: ErrNoWebhook (ENOTFOUND: none of the member's).
	DeleteWebhook(ctx context.Context, memberID, id string) error
	// Deliveries lists an endpoint's deliveries, newest first, with ID
	// below before (0: from the newest), each with its attempts.
	Deliveries(ctx context.Context, webhookID string, before int64, limit int) ([]*Delivery, error)
	// ClaimDeliveries returns up to limit pending deliveries due at now
	// and moves each one's NextAt to lease, so that no other worker takes
	// it meanwhile; several processes may claim at once without sharing a
	// delivery.
	ClaimDeliveries(ctx context.Context, now, lease time.Time, limit int) ([]*Delivery, error)
	// RecordAttempt adds an attempt to a delivery and sets its state and
	// the time of its next attempt. Errors: ErrNoDelivery (ENOTFOUND).
	RecordAttempt(ctx context.Context, deliveryID int64, a *DeliveryAttempt, state string, next time.Time) error
	// PendingDeliveries counts the outbox's pending deliveries and returns
	// the creation time of the oldest (zero when there is none), for the
	// operator's metrics.
	PendingDeliveries(ctx context.Context) (n int64, oldest time.Time, err error)

	// CreateCheckout records a checkout order. Errors: ECONFLICT when the
	// invoice already has one.
	CreateCheckout(ctx context.Context, c *Checkout) error
	// Checkout returns the checkout order paid by an invoice. Errors: ENOTFOUND.
	Checkout(ctx context.Context, invoiceID string) (*Checkout, error)
	// SetCheckoutSecret sets (replacing) a merchant's sealed checkout secret.
	SetCheckoutSecret(ctx context.Context, memberID string, sealed []byte, at time.Time) error
	// CheckoutSecret returns a merchant's sealed checkout secret.
	// Errors: ErrNoCheckoutSecret (ENOTFOUND).
	CheckoutSecret(ctx context.Context, memberID string) ([]byte, error)
	// UseCheckoutNonce remembers a merchant's request nonce until expires
	// and reports whether it was new; it forgets nonces expired at now.
	UseCheckoutNonce(ctx context.Context, merchant, nonce string, now, expires time.Time) (bool, error)
}

// OutboxCandidate is an event a ledger batch raised for a member; the store
// keeps it for each endpoint of that member subscribed to its type, and for
// checkout.paid only when the invoice is a checkout's.
type OutboxCandidate struct {
	EventID     string
	Type        string
	MemberID    string
	TransferSeq int64
	InvoiceID   string
	Status      string
	CreatedAt   time.Time
}

// OutboxCandidates returns the events of a batch, after the store has set
// the Seq of its new transfers: incoming transfers and refunds for the
// payee, paid invoices (and checkouts) for the merchant, released and
// returned protected transfers for both sides. Event IDs share one random
// prefix per batch, so raising them costs no randomness per event.
func OutboxCandidates(w *BatchWrites, at time.Time) []OutboxCandidate {
	n := len(w.Transfers)
	if n == 0 && len(w.Entries) == 0 {
		return nil
	}
	var b [12]byte
	rand.Read(b[:])
	prefix := "evt_" + base64.RawURLEncoding.EncodeToString(b[:]) + "_"
	out := make([]OutboxCandidate, 0, n+1)
	add := func(typ, member string, t *Transfer, invoice string) {
		if member == "" {
			return
		}
		out = append(out, OutboxCandidate{EventID: prefix + strconv.Itoa(len(out)), Type: typ, MemberID: member,
			TransferSeq: t.Seq, InvoiceID: invoice, Status: statusOf(t), CreatedAt: at})
	}
	for _, t := range w.Transfers {
		if t.Kind == KindRefund {
			add(EventRefundIncoming, t.Payee, t, "")
			continue
		}
		add(EventTransferIncoming, t.Payee, t, "")
		if t.InvoiceID != "" {
			add(EventInvoicePaid, t.Payee, t, t.InvoiceID)
			add(EventCheckoutPaid, t.Payee, t, t.InvoiceID)
		}
	}
	var seen map[int64]bool
	for _, e := range w.Entries {
		if (e.Kind != EntryRelease && e.Kind != EntryReturn) || e.Transfer == nil || seen[e.Transfer.Seq] {
			continue
		}
		if seen == nil {
			seen = map[int64]bool{}
		}
		t := e.Transfer
		seen[t.Seq] = true
		typ := EventTransferReleased
		if e.Kind == EntryReturn {
			typ = EventTransferReturned
		}
		add(typ, t.Payee, t, "")
		if t.Sender != t.Payee {
			add(typ, t.Sender, t, "")
		}
	}
	return out
}

// BatchTime is when a batch's events happened: the time of its last new
// transfer or entry (the engine's clock), else def, else now.
func BatchTime(w *BatchWrites, def time.Time) time.Time {
	at := def
	if n := len(w.Transfers); n > 0 {
		at = w.Transfers[n-1].CreatedAt
	} else if n := len(w.Entries); n > 0 {
		at = w.Entries[n-1].CreatedAt
	}
	if at.IsZero() {
		at = time.Now()
	}
	return at
}

func statusOf(t *Transfer) string {
	if t.Status == "" {
		return StatusCompleted
	}
	return t.Status
}
