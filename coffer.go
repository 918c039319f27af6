package coffer

import (
	"context"
	"time"
)

// Currency is a unit of account. Amounts in it are integers of minor units;
// Decimals says how many of them make one major unit.
type Currency struct {
	Code     string // ISO-like code, e.g. "USD"
	Letter   byte   // purse-number prefix, e.g. 'Z'
	Decimals int
}

// Member is a participant. The password hash is a PHC string and never
// leaves the server.
type Member struct {
	ID           string
	Email        string
	Phone        string
	PasswordHash string
	CreatedAt    time.Time
}

// Purse holds money in one currency. An issuing purse may go negative down
// to -Limit; its negative balance is the money in circulation.
type Purse struct {
	Number    string
	Currency  string
	Owner     string // member ID; never disclosed except as a payee check
	Balance   int64  // available money
	Held      int64  // money of protected transfers waiting for this purse's owner to release them
	Issuer    bool
	Limit     int64
	CreatedAt time.Time
	Closed    bool // the owner closed their account: the purse takes no more money
	// OwnerLevel is the owner's verification level as the ledger batch
	// read it (LedgerTx.Purse fills it; other reads may leave it "").
	OwnerLevel string
}

// Floor is the lowest balance the purse may reach.
func (p *Purse) Floor() int64 {
	if p.Issuer {
		return -p.Limit
	}
	return 0
}

// TransferRequest is what a sender asks for. Amount is in minor units of the
// currency of From.
type TransferRequest struct {
	Sender      string // member ID of the authenticated sender
	TransferID  string
	From, To    string
	Amount      int64
	Description string

	// At most one of the following payment forms.
	Protect   *Protection // a protected transfer (Until is the end of the period)
	InvoiceID string      // pays this invoice (the payer's)
	TrustID   string      // a merchant's debit under this trust: From is the member's purse
	RefundOf  int64       // refunds (part of) this transfer, which the sender received

	// OwnerDailyLimit, when set, bounds what may leave purses of From's
	// owner in From's currency per UTC day, across all their purses: the
	// limit of the owner's verification level, read when the request was
	// made.
	OwnerDailyLimit *int64
}

// OwnerSpendKey names the spend counters of a member's outgoing money in
// one currency, for the daily limit of their verification level.
func OwnerSpendKey(memberID, currency string) string { return "member:" + memberID + ":" + currency }

// ProtectDays is the length of a protection period in whole days, as the
// sender asked for it.
func ProtectDays(from, until time.Time) int {
	return int((until.Sub(from) + 12*time.Hour) / (24 * time.Hour))
}

// Transfer is an applied transfer.
type Transfer struct {
	Seq         int64 // position in the ledger; internal
	Sender      string
	TransferID  string
	From, To    string
	Currency    string
	Amount      int64
	Description string
	Payee       string // member ID owning To; internal, used for authorization
	CreatedAt   time.Time

	Kind       string // KindTransfer, KindProtected or KindRefund
	Status     string // StatusCompleted, or a protected transfer's StatusHeld/Released/Returned
	Fee        int64  // paid by the sender on top of Amount into FeePurse
	FeePurse   string
	InvoiceID  string
	TrustID    string
	RefundOf   int64       // Seq of the transfer this refunds
	Refunded   int64       // total refunded of this transfer so far
	Protection *Protection // for KindProtected
}

// Matches reports whether r asks for exactly what t did, which decides
// between a safe retry and an idempotency conflict.
func (t *Transfer) Matches(r *TransferRequest) bool {
	if t.From != r.From || t.To != r.To || t.Amount != r.Amount || t.Description != r.Description ||
		t.InvoiceID != r.InvoiceID || t.TrustID != r.TrustID || t.RefundOf != r.RefundOf {
		return false
	}
	if (t.Protection == nil) != (r.Protect == nil) {
		return false
	}
	if p := t.Protection; p != nil {
		// The code is stored salted, so a retry is told by kind and period.
		return p.ByCode == r.Protect.ByCode && ProtectDays(t.CreatedAt, p.Until) == ProtectDays(t.CreatedAt, r.Protect.Until)
	}
	return true
}

// Applied is a transfer the engine has accepted, with the balances of both
// purses right after it.
type Applied struct {
	T                  *Transfer
	FromAfter, ToAfter int64
}

// HistoryEntry is one line of a purse's statement.
type HistoryEntry struct {
	Seq          int64
	Purse        string
	TransferID   string
	Counterparty string
	Amount       int64  // signed: negative when money left the purse
	Kind         string // EntryTransfer, EntryFee, EntryHold, EntryRelease, EntryReturn
	Held         bool   // the entry moves held money; BalanceAfter is then the held amount
	BalanceAfter int64
	Description  string
	CreatedAt    time.Time
}

// HistoryFilter selects a page of a purse's history, newest first.
type HistoryFilter struct {
	Before int64 // only entries with Seq < Before; 0 means from the newest
	Since  time.Time
	Until  time.Time
	Limit  int
}

// Session is a logged-in member's bearer token, stored only as a hash.
type Session struct {
	ID         string
	MemberID   string
	TokenHash  []byte
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// LedgerTx is the view of one batch transaction that the ledger engine works
// through. Everything done through it commits or rolls back together.
type LedgerTx interface {
	// FindTransfer returns the transfer recorded for (sender, transferID),
	// or nil when there is none.
	FindTransfer(ctx context.Context, sender, transferID string) (*Transfer, error)
	// TransferBySeq returns a transfer by its position in the ledger, with
	// its Protection and Refunded, or nil.
	TransferBySeq(ctx context.Context, seq int64) (*Transfer, error)
	// Purse returns the purse with its current committed balance and held
	// money and its owner's verification level, or nil.
	Purse(ctx context.Context, number string) (*Purse, error)
	// PurseLimits returns a purse's outgoing limits as committed, nil when
	// it has none; cheap for a purse without limits.
	PurseLimits(ctx context.Context, number string) (*PurseLimits, error)
	// PurseSpend returns the spend counters under key (a purse number, or a
	// Trust.SpendKey) for the UTC day and month named by day and month
	// (DayKey, MonthKey).
	PurseSpend(ctx context.Context, key, day, month string) (daySpent, monthSpent int64, err error)
	// AddSpend adds amount to both counters of key.
	AddSpend(ctx context.Context, key, day, month string, amount int64) error
	// Invoice returns an invoice, or nil. A store that lets other
	// transactions run beside the batch locks it until the batch ends.
	Invoice(ctx context.Context, id string) (*Invoice, error)
	// Trust returns a trust, or nil; locked like Invoice.
	Trust(ctx context.Context, id string) (*Trust, error)
	// FeeRule returns a currency's fee rule, nil when there is none.
	FeeRule(ctx context.Context, currency string) (*FeeRule, error)
	// Write records what the batch decided, using as few statements as
	// the store can: the new transfers (setting each Seq) each with a
	// transfer.applied audit event, then the entries (setting each Seq), the
	// updated transfers and invoices, the other events, and the balances.
	Write(ctx context.Context, w *BatchWrites) error
	// LastStamp returns the time the ledger's last entry was stamped
	// with, as committed before this batch by any process (zero for an
	// empty ledger). The engine stamps no batch earlier, so history stays
	// in order when a clock steps back. A store may answer it from the
	// round trip that begins the batch.
	LastStamp(ctx context.Context) (time.Time, error)
	// Prefetch loads, in as few round trips as the store can, what a
	// batch of requests is going to ask for (their earlier transfers,
	// their purses, limits and spend); the methods above then answer from
	// what it loaded. The engine calls it once at the start of each batch.
	// A store whose reads are cheap (an embedded database) may load
	// nothing.
	Prefetch(ctx context.Context, reqs []*TransferRequest, day, month string) error
}

// ErrLimitBelowIssued is SetIssuer's answer to a limit below the money
// the purse has already issued (its negative balance).
var ErrLimitBelowIssued = &Error{Code: EINVALID, Message: "The limit is below the money already issued from this purse."}

// LedgerStore is what the ledger engine needs of a store: one durable
// transaction per batch.
type LedgerStore interface {
	// ApplyBatch runs fn inside one write transaction and commits it
	// durably. When fn returns an error nothing is committed.
	ApplyBatch(ctx context.Context, fn func(LedgerTx) error) error
}

// KeyPinner records the fingerprint of a key that every process on one
// database must share (the secrets key, the documents key), the first time
// a process starts, and refuses a process whose key has another
// fingerprint. Errors: a plain error naming both fingerprints.
type KeyPinner interface {
	PinKey(ctx context.Context, name, fingerprint string) error
}

// NonceStore remembers a request-signature nonce until expires and
// reports whether it was new, so a signed request replayed after a restart,
// or to another process sharing the database, is refused as it is by the
// process that saw it first.
type NonceStore interface {
	UseNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (bool, error)
}

// Store is the whole contract of a store: everything both stores offer,
// and what the storage contract suite (storetest) checks. Every method is
// one database transaction. Methods return *Error with the listed codes
// for expected failures and wrapped errors for anything else. Consumers
// that need only a part take the smaller interface (LedgerStore,
// OIDCStore, ...).
type Store interface {
	LedgerStore
	PaymentStore
	IdentityStore
	KeyStore
	NonceStore
	CertStore
	FactorStore
	SettingsStore
	WebhookStore
	OIDCStore

	// CreateMember inserts a member. Errors: ECONFLICT when the ID, e-mail
	// or phone is taken (Message says which of e-mail/phone).
	CreateMember(ctx context.Context, m *Member) error
	// MemberByLogin finds a member by ID, e-mail or phone. Errors: ENOTFOUND.
	MemberByLogin(ctx context.Context, login string) (*Member, error)
	// SetPasswordHash replaces a member's password hash.
	SetPasswordHash(ctx context.Context, memberID, hash string) error

	CreateSession(ctx context.Context, s *Session) error
	// SessionByTokenHash returns a live or expired session. Errors: ENOTFOUND.
	SessionByTokenHash(ctx context.Context, hash []byte) (*Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	Sessions(ctx context.Context, memberID string) ([]*Session, error)
	// DeleteSession removes one of the member's sessions. Errors: ENOTFOUND.
	DeleteSession(ctx context.Context, memberID, id string) error

	Currencies(ctx context.Context) ([]*Currency, error)
	// CreateCurrency errors: ECONFLICT.
	CreateCurrency(ctx context.Context, c *Currency) error

	// CreatePurse inserts a purse. Errors: ECONFLICT on a number collision.
	CreatePurse(ctx context.Context, p *Purse) error
	// Purse errors: EPURSENOTFOUND.
	Purse(ctx context.Context, number string) (*Purse, error)
	Purses(ctx context.Context, memberID string) ([]*Purse, error)
	// SetIssuer makes an existing purse an issuing purse with a limit.
	// Errors: EPURSENOTFOUND; ErrLimitBelowIssued.
	SetIssuer(ctx context.Context, number string, limit int64) error

	// Transfer returns an applied transfer visible to memberID as sender or
	// payee: the member's own transfer with that ID first, else the newest
	// one paid to them; from, when not "", picks the one sent from that
	// purse (transfer IDs are unique per sender only). Errors: ENOTFOUND.
	Transfer(ctx context.Context, memberID, transferID, from string) (*Transfer, error)
	History(ctx context.Context, purse string, f HistoryFilter) ([]*HistoryEntry, error)

	// AppendAudit adds events to the hash-chained audit log, in order.
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// AuditEvents returns a member's audit events, newest first, with Seq
	// below before (0: from the newest).
	AuditEvents(ctx context.Context, memberID string, before int64, limit int) ([]*AuditEvent, error)

	// Check verifies the ledger invariants on committed data.
	Check(ctx context.Context) (*CheckReport, error)
}
