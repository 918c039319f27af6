package coffer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"time"
)

// Kinds of transfer.
const (
	KindTransfer  = "transfer"  // a plain transfer (also an invoice payment or a trust debit)
	KindProtected = "protected" // held for the payee until released
	KindRefund    = "refund"    // returns (part of) an earlier transfer to the purse it came from
)

// Status of a transfer. Only protected transfers pass through held.
const (
	StatusCompleted = "completed"
	StatusHeld      = "held"     // protected: the money sits in the payee's purse as held
	StatusReleased  = "released" // protected: released to the payee (code entered, or time protection ended)
	StatusReturned  = "returned" // protected: back with the sender (refused, expired, or too many wrong codes)
)

// Kinds of history entry. Every entry belongs to one transfer; the entries
// of a transfer add up to zero.
const (
	EntryTransfer = "transfer" // the amount leaving the sender's purse and arriving in the payee's (available)
	EntryFee      = "fee"      // the fee leaving the sender's purse and arriving in the fee purse
	EntryHold     = "hold"     // a protected transfer's amount arriving in the payee's held money
	EntryRelease  = "release"  // held money becoming available to the payee (two entries: held −, available +)
	EntryReturn   = "return"   // held money (and the fee) going back to the sender
)

// Limits of the payment forms.
const (
	MaxProtectDays      = 255 // protection by code
	MaxTimeProtectDays  = 120 // protection by time alone
	MaxProtectAttempts  = 8   // wrong codes before a protected transfer goes back
	RefundWindow        = 90 * 24 * time.Hour
	MaxBatchTransfers   = 1000
	MaxOrderNumberBytes = 64
)

// Protection is how a protected transfer is held.
type Protection struct {
	ByCode   bool      // released by the code; false: released to the payee when Until passes
	CodeSalt []byte    // with CodeHash: HMAC-SHA256(salt, code); nil when not ByCode
	CodeHash []byte    //
	Until    time.Time // end of the period
	Attempts int       // wrong codes entered so far
}

// HashProtectionCode returns a fresh salt and the code's hash.
func HashProtectionCode(code string) (salt, hash []byte) {
	salt = make([]byte, 16)
	rand.Read(salt)
	return salt, protectionMAC(salt, code)
}

// CheckCode compares code with the stored hash in constant time.
func (p *Protection) CheckCode(code string) bool {
	return p != nil && p.ByCode && hmac.Equal(protectionMAC(p.CodeSalt, code), p.CodeHash)
}

func protectionMAC(salt []byte, code string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("coffer protection code\x00" + code))
	return m.Sum(nil)
}

// FeeRule is the operator's fee for transfers in one currency: PPM parts
// per million of the amount (8000 = 0.8 %), rounded half up to a whole
// minor unit, then raised to Min and lowered to Max (Max 0: no maximum),
// paid by the sender into Purse in the same commit as the transfer.
type FeeRule struct {
	Currency  string
	PPM       int64
	Min, Max  int64
	Purse     string
	UpdatedAt time.Time
}

// Fee returns the fee on amount. Transfers between purses of one member,
// refunds and transfers into or out of the fee purse are free; the caller
// decides that.
func (f *FeeRule) Fee(amount int64) int64 {
	if f == nil || amount <= 0 {
		return 0
	}
	// amount ≤ MaxAmount (< 2^53) and PPM ≤ 1e6: split to stay in int64.
	q, r := amount/1_000_000, amount%1_000_000
	fee := q*f.PPM + (r*f.PPM+500_000)/1_000_000
	if fee < f.Min {
		fee = f.Min
	}
	if f.Max > 0 && fee > f.Max {
		fee = f.Max
	}
	return fee
}

// Invoice states.
const (
	InvoicePending   = "pending"
	InvoicePaid      = "paid"
	InvoiceRefused   = "refused"
	InvoiceCancelled = "cancelled"
	InvoiceExpired   = "expired"
)

// Invoice is a merchant's request for payment from one member.
type Invoice struct {
	ID          string
	Merchant    string // member ID issuing it
	Payer       string // member ID asked to pay
	Purse       string // the merchant's purse to pay into
	Currency    string
	Amount      int64
	Description string
	OrderNumber string // the merchant's own, unique per merchant
	State       string
	TransferSeq int64 // the payment, once paid
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UpdatedAt   time.Time
}

// EffectiveState is the state with expiry applied at now.
func (i *Invoice) EffectiveState(now time.Time) string {
	if i.State == InvoicePending && !now.Before(i.ExpiresAt) {
		return InvoiceExpired
	}
	return i.State
}

// InvoiceFilter selects invoices, newest first.
type InvoiceFilter struct {
	Merchant string // one of Merchant and Payer is set
	Payer    string
	State    string // "" for all
	Before   time.Time
	Limit    int
}

// Trust lets a merchant debit one of a member's purses within limits.
type Trust struct {
	ID          string
	Owner       string // the member whose purse it is
	Merchant    string
	Purse       string
	PerTransfer int64 // 0: no limit of this kind
	PerDay      int64
	PerMonth    int64
	CreatedAt   time.Time
	RevokedAt   time.Time
}

// Active reports whether the trust may be used.
func (t *Trust) Active() bool { return t != nil && t.RevokedAt.IsZero() }

// SpendKey is the name of a trust's spend counters (they share the purse
// spend counters, keyed by this instead of a purse number).
func (t *Trust) SpendKey() string { return "trust:" + t.ID }

// Entry is one line of a purse's history as the ledger writes it.
type Entry struct {
	Seq          int64
	Purse        string
	Transfer     *Transfer // the transfer it belongs to; its Seq is set by the store when new
	Kind         string    // EntryTransfer, EntryFee, …
	Held         bool      // moves the purse's held money, not its available balance
	Amount       int64     // signed
	BalanceAfter int64     // of the money it moves (held or available)
	Counterparty string    // the other purse
	CreatedAt    time.Time
}

// BatchWrites is everything one ledger batch decided, written by the store
// in its transaction (LedgerTx.Write).
type BatchWrites struct {
	Transfers []*Transfer   // new transfers in order; the store sets each Seq
	Entries   []*Entry      // new history entries in order; the store sets each Seq
	Updates   []*Transfer   // earlier transfers whose Status, Refunded or Protection.Attempts changed
	Invoices  []*Invoice    // invoices paid in this batch (State, TransferSeq, UpdatedAt)
	Events    []*AuditEvent // audit events beyond the transfer.applied ones the store adds per new transfer
	Balances  map[string]int64
	Held      map[string]int64 // held money of purses whose held amount changed
}

// HoldAction acts on a held protected transfer.
type HoldAction struct {
	Actor  string // member ID; "" for the scheduler
	Seq    int64  // the protected transfer
	Action string // HoldRelease, HoldRefuse, HoldExpire
	Code   string // for HoldRelease of a transfer protected by code
}

// Hold actions.
const (
	HoldRelease = "release" // the payee enters the code
	HoldRefuse  = "refuse"  // the payee sends it back
	HoldExpire  = "expire"  // the scheduler: the period has ended
)

// PaymentStore is the persistence of the payment forms outside the ledger
// batch. Errors as for Store.
type PaymentStore interface {
	// CreateInvoice errors: ECONFLICT when the merchant already used the
	// order number.
	CreateInvoice(ctx context.Context, inv *Invoice) error
	// Invoice errors: ENOTFOUND.
	Invoice(ctx context.Context, id string) (*Invoice, error)
	// InvoiceByOrder returns a merchant's invoice by its order number (the
	// hosted checkout's "already paid" lookup). Errors: ENOTFOUND.
	InvoiceByOrder(ctx context.Context, merchant, order string) (*Invoice, error)
	// Invoices errors: EINVALID wrapping ErrNoInvoiceParty when the filter
	// names neither a merchant nor a payer.
	Invoices(ctx context.Context, f InvoiceFilter) ([]*Invoice, error)
	// ExpiredInvoices returns up to limit pending invoices whose expiry is
	// at or before now, oldest expiry first.
	ExpiredInvoices(ctx context.Context, now time.Time, limit int) ([]string, error)
	// EndInvoice moves a pending invoice to state (refused, cancelled,
	// expired) and reports whether it was pending.
	EndInvoice(ctx context.Context, id, state string, at time.Time, ev *AuditEvent) (bool, error)

	CreateTrust(ctx context.Context, t *Trust, ev *AuditEvent) error
	// Trust errors: ENOTFOUND.
	Trust(ctx context.Context, id string) (*Trust, error)
	// Trusts lists the trusts a member gave (as owner) or holds (as
	// merchant), newest first.
	Trusts(ctx context.Context, memberID string) ([]*Trust, error)
	// RevokeTrust revokes an active trust; false when it was not active.
	RevokeTrust(ctx context.Context, id string, at time.Time, ev *AuditEvent) (bool, error)
	// TrustSpend returns a trust's spend in the day and month of at.
	TrustSpend(ctx context.Context, t *Trust, at time.Time) (day, month int64, err error)

	FeeRules(ctx context.Context) ([]*FeeRule, error)
	// SetFeeRule creates or replaces a currency's rule; DeleteFeeRule
	// removes it (false when there was none). SetFeeRule errors: EINVALID
	// wrapping ErrFeeRuleRange when a value is outside what the store keeps.
	SetFeeRule(ctx context.Context, f *FeeRule, ev *AuditEvent) error
	DeleteFeeRule(ctx context.Context, currency string, ev *AuditEvent) (bool, error)

	// TransferBySeq errors: ENOTFOUND.
	TransferBySeq(ctx context.Context, seq int64) (*Transfer, error)
	// HeldTransfers lists protected transfers still held that a member sent
	// or receives, newest first.
	HeldTransfers(ctx context.Context, memberID string) ([]*Transfer, error)
	// HeldDue returns up to limit held transfers whose period ended at or
	// before now, oldest first.
	HeldDue(ctx context.Context, now time.Time, limit int) ([]int64, error)
	// Refunds lists the refunds of a transfer, oldest first.
	Refunds(ctx context.Context, seq int64) ([]*Transfer, error)
	// BalanceAt returns a purse's available and held money just before at
	// (from its history), for statements.
	BalanceAt(ctx context.Context, purse string, at time.Time) (available, held int64, err error)
}

// Facts a PaymentStore reports inside its errors; the service words them.
var (
	// ErrNoInvoiceParty: an invoice filter names neither a merchant nor a
	// payer.
	ErrNoInvoiceParty = errors.New("coffer: an invoice filter needs a merchant or a payer")
	// ErrFeeRuleRange: a fee rule's percentage, minimum or maximum is out of
	// range.
	ErrFeeRuleRange = errors.New("coffer: the fee rule is out of range")
)

// Error codes of the payment forms.
const (
	EINVOICENOTPAYABLE = "invoice_not_payable" // paid, refused, cancelled or expired
	EREFUNDNOTALLOWED  = "refund_not_allowed"  // not the payee, too late, or more than is left
	ENOTHELD           = "transfer_not_held"   // the protected transfer is no longer held
	EWRONGCODE         = "wrong_protection_code"
	ETRUSTINVALID      = "trust_invalid" // no such trust for this merchant and purse, or revoked
	ENOTAPPLIED        = "not_applied"   // an all-or-nothing batch in which another transfer was refused
)

// Audit event kinds of the payment forms.
const (
	AuditTransferReleased = "transfer.released" // a protected transfer reached its payee
	AuditTransferReturned = "transfer.returned" // a protected transfer went back to its sender
	AuditInvoiceCreated   = "invoice.created"
	AuditInvoiceEnded     = "invoice.ended" // refused, cancelled or expired
	AuditTrustCreated     = "trust.created"
	AuditTrustRevoked     = "trust.revoked"
	AuditFeeRuleSet       = "admin.fee_rule_set"
	AuditFeeRuleDeleted   = "admin.fee_rule_deleted"
)
