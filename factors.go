package coffer

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
)

// Error codes of confirmations (second factors).
const (
	// ECONFIRMATIONREQUIRED: the action needs a confirmation by an
	// enrolled factor; the answer names the confirmation to answer.
	ECONFIRMATIONREQUIRED = "confirmation_required"
	// ECONFIRMATIONFAILED: the code does not confirm; it never says which
	// factor was tried or why.
	ECONFIRMATIONFAILED = "confirmation_failed"
	// ECONFIRMATIONVOID: too many wrong codes, or the confirmation expired
	// or was used; start over.
	ECONFIRMATIONVOID = "confirmation_void"
)

// Audit event kinds of second factors and confirmations.
const (
	AuditFactorEnrolled     = "factor.enrolled"
	AuditFactorRemoved      = "factor.removed"
	AuditRecoveryCodesNew   = "factor.recovery_codes"
	AuditRecoveryCodeUsed   = "factor.recovery_code_used"
	AuditConfirmationVoid   = "confirmation.void"
	AuditConfirmationPolicy = "confirmation.policy_changed"
	AuditLoginChallenged    = "login.challenged"
	AuditTransferPending    = "transfer.pending"
	// AuditCodesLocked: too many wrong one-time codes; code entry is
	// locked for the member until the time the event names.
	AuditCodesLocked = "codes.locked"
)

// Factor kinds.
const (
	// FactorPhone is a verified phone number that receives SMS codes.
	FactorPhone = "phone"
	// FactorGenerator is a code generator: one seed answers TOTP codes for
	// logins and OCRA challenges bound to a payment.
	FactorGenerator = "generator"
)

// Confirmation methods, as the API names them.
const (
	MethodSMS      = "sms"
	MethodTOTP     = "totp"
	MethodOCRA     = "ocra"
	MethodRecovery = "recovery_code"
)

// Confirmation purposes.
const (
	PurposeLogin    = "login"
	PurposeTransfer = "transfer"
	PurposeAction   = "action"
)

// Confirmation states.
const (
	ConfirmPending = "pending"
	ConfirmDone    = "done"
	ConfirmVoid    = "void"
	ConfirmExpired = "expired"
)

// Limits of confirmations.
const (
	// MaxConfirmAttempts is how many wrong codes void a confirmation.
	MaxConfirmAttempts = 5
	// ConfirmationTTL is how long a confirmation (and an SMS code) lives.
	ConfirmationTTL = 5 * time.Minute
	// RecoveryCodeCount is how many recovery codes one set holds.
	RecoveryCodeCount = 10
)

// Factor is one enrolled second factor of a member. Secret is the
// generator seed sealed with the server's key; it is never stored or
// logged in the clear.
type Factor struct {
	MemberID   string
	Kind       string // FactorPhone or FactorGenerator
	Phone      string // E.164, for FactorPhone
	Secret     []byte // sealed seed, for FactorGenerator
	Verified   bool   // false until the member proved possession
	LastStep   int64  // the last accepted TOTP time step
	CreatedAt  time.Time
	VerifiedAt time.Time
}

// RecoveryCode is one single-use recovery code, stored hashed.
type RecoveryCode struct {
	ID       int64
	MemberID string
	Salt     []byte
	Hash     []byte
	UsedAt   time.Time // zero: unused
}

// Confirmation is a pending second proof: for a login (challenge), a
// transfer (pending transfer) or a sensitive action (step-up). A code sent
// by SMS is kept only as a salted hash.
type Confirmation struct {
	ID        string
	MemberID  string
	Purpose   string // PurposeLogin, PurposeTransfer or PurposeAction
	Ref       string // the transfer ID or the action; "" for a login
	Body      string // JSON the purpose needs later: the transfer, the login's IP
	Method    string // the method offered first
	Challenge string // the OCRA challenge, when a generator is enrolled
	Salt      []byte
	CodeHash  []byte // hash of the SMS code; nil when none was sent
	Attempts  int
	State     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Live reports whether c may still be answered at now.
func (c *Confirmation) Live(now time.Time) bool {
	return c.State == ConfirmPending && now.Before(c.ExpiresAt)
}

// Transfer confirmation policies.
const (
	TransfersAlways   = "always"
	TransfersAbove    = "above"
	TransfersNewPayee = "new_payee"
	TransfersNever    = "never"
)

// Login confirmation policies.
const (
	LoginPassword     = "password"
	LoginSecondFactor = "second_factor"
)

// ConfirmationPolicy is when a member is asked for a second factor.
type ConfirmationPolicy struct {
	Login     string `json:"login"`
	Transfers string `json:"transfers"`
	// Threshold is the amount, in the transfer's currency, above which
	// TransfersAbove asks for confirmation ("100.00").
	Threshold    string   `json:"threshold,omitempty"`
	ExemptPayees []string `json:"exempt_payees"`
	// ConfirmSigned also asks for confirmation of transfers authenticated
	// by a key-file signature or a client certificate, which are exempt
	// by default: both already prove possession of a key.
	ConfirmSigned bool `json:"confirm_signed"`
}

// DefaultPolicy is the safe default once a factor is enrolled.
func DefaultPolicy() *ConfirmationPolicy {
	return &ConfirmationPolicy{Login: LoginSecondFactor, Transfers: TransfersAlways, ExemptPayees: []string{}}
}

// NewConfirmationID returns a fresh random confirmation ID.
func NewConfirmationID() string { return "cnf_" + strings.ToLower(rand.Text()) }

// AttemptLock is a lock set on a key of attempts (a member's code entry
// from some addresses, say) after too many within a window. Strikes
// counts the locks in a row: each lasts longer than the one before.
type AttemptLock struct {
	Until   time.Time
	Strikes int
}

// FactorStore persists second factors, confirmations and the
// confirmation policy. Every method is one database transaction; an audit
// event given to a method commits with its change or not at all.
type FactorStore interface {
	// Factors lists a member's factors, verified or not.
	Factors(ctx context.Context, memberID string) ([]*Factor, error)
	// PutFactor inserts or replaces the member's factor of f.Kind and
	// appends ev.
	PutFactor(ctx context.Context, f *Factor, ev *AuditEvent) error
	// DeleteFactor removes the member's factor of a kind and appends ev.
	// Errors: ENOTFOUND.
	DeleteFactor(ctx context.Context, memberID, kind string, ev *AuditEvent) error
	// AdvanceStep records step as the last accepted TOTP step of the
	// member's generator. It reports false, changing nothing, when step is
	// not later than the one recorded: the code was used already.
	AdvanceStep(ctx context.Context, memberID string, step int64) (bool, error)

	// SetRecoveryCodes replaces the member's recovery codes and appends ev.
	SetRecoveryCodes(ctx context.Context, memberID string, codes []*RecoveryCode, ev *AuditEvent) error
	// RecoveryCodes lists the member's unused recovery codes.
	RecoveryCodes(ctx context.Context, memberID string) ([]*RecoveryCode, error)
	// UseRecoveryCode marks an unused code used; false when it was used.
	UseRecoveryCode(ctx context.Context, memberID string, id int64, at time.Time, ev *AuditEvent) (bool, error)

	// CreateConfirmation inserts c. Errors: ECONFLICT when the member has
	// a pending confirmation of the same purpose and ref.
	CreateConfirmation(ctx context.Context, c *Confirmation) error
	// Confirmation returns one by ID. Errors: ENOTFOUND.
	Confirmation(ctx context.Context, id string) (*Confirmation, error)
	// ConfirmationByRef returns the member's newest confirmation of a
	// purpose and ref, in any state. Errors: ENOTFOUND.
	ConfirmationByRef(ctx context.Context, memberID, purpose, ref string) (*Confirmation, error)
	// FailConfirmation counts a wrong code on a pending confirmation; at
	// max wrong codes it becomes void and ev is appended. It returns the
	// confirmation as it is afterwards. Errors: ENOTFOUND.
	FailConfirmation(ctx context.Context, id string, max int, ev *AuditEvent) (*Confirmation, error)
	// FinishConfirmation moves a pending confirmation to state; false when
	// it was not pending (someone else finished it first).
	FinishConfirmation(ctx context.Context, id, state string) (bool, error)
	// ResendConfirmation replaces the SMS code hash and expiry of a pending
	// confirmation; false when it is not pending.
	ResendConfirmation(ctx context.Context, id string, salt, hash []byte, expires time.Time) (bool, error)

	// VoidConfirmation moves a pending or done confirmation to void, so
	// that it confirms nothing more; false when it was neither.
	VoidConfirmation(ctx context.Context, id string) (bool, error)

	// AddAttempt records an attempt under key at at, forgets the key's
	// attempts before since, and returns how many are recorded at or after
	// since, this one included. Concurrent calls for one key are counted
	// one after another, so each sees a different count.
	AddAttempt(ctx context.Context, key string, at, since time.Time) (int, error)
	// RemoveAttempt takes back one attempt recorded under key at at.
	RemoveAttempt(ctx context.Context, key string, at time.Time) error
	// AttemptLock returns the lock of key; the zero AttemptLock when there
	// never was one.
	AttemptLock(ctx context.Context, key string) (AttemptLock, error)
	// SetAttemptLock stores the lock of key and appends ev.
	SetAttemptLock(ctx context.Context, key string, l AttemptLock, ev *AuditEvent) error

	// PaidBefore reports whether the member ever sent a transfer to purse.
	PaidBefore(ctx context.Context, memberID, purse string) (bool, error)

	// Policy returns the member's confirmation policy, nil when the member
	// never set one.
	Policy(ctx context.Context, memberID string) (*ConfirmationPolicy, error)
	// SetPolicy stores the member's policy and appends ev.
	SetPolicy(ctx context.Context, memberID string, p *ConfirmationPolicy, ev *AuditEvent) error
}
