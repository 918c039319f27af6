package app

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/otp"
)

// SMSSender sends a text message to a phone number. The sms package has
// the adapters.
type SMSSender interface {
	Send(ctx context.Context, to, text string) error
}

// FactorConfig configures second factors.
type FactorConfig struct {
	// Key seals generator seeds at rest (AES-256-GCM). When nil a random
	// key lives in memory only, which suits tests: seeds do not survive a
	// restart.
	Key []byte
	// SMS sends codes; nil means phones cannot receive codes.
	SMS SMSSender
	// RequireSecondFactor refuses session-authenticated transfers by
	// members who have no second factor yet.
	RequireSecondFactor bool
	// Issuer names the service in authenticator apps; default "coffer".
	Issuer string
	// SMSLimits bound the SMS sent per member, number, client address and
	// day; see smslimit.go.
	SMSLimits SMSLimits
	// SMSObserver, when set, is told of each SMS: SMSSent, SMSFailed or
	// the limit that refused it (SMSLimitMember and so on), for metrics.
	SMSObserver func(outcome string)
}

// OCRASuite is the suite of transfer confirmations: the challenge is the
// payee purse, amount, currency and a per-confirmation number, so an
// answer confirms exactly one payment.
const OCRASuite = "OCRA-1:HOTP-SHA256-8:QA64"

// factorState caches whether a member has a second factor and their
// policy, so that bootstrap members' transfers cost no extra read. Changes
// made through this process take effect at once; others within the TTL.
type factorState struct {
	once  sync.Once
	aead  cipher.AEAD
	suite *otp.Suite

	mu    sync.Mutex
	cache map[string]*memberFactors

	sms smsLimiter // see smslimit.go
}

const factorCacheTTL = 5 * time.Second

type memberFactors struct {
	at        time.Time
	phone     *coffer.Factor // verified only
	generator *coffer.Factor // verified only
	policy    *coffer.ConfirmationPolicy
}

func (m *memberFactors) any() bool { return m.phone != nil || m.generator != nil }

func (s *Service) factorInit() *factorState {
	f := &s.fac
	f.once.Do(func() {
		key := s.cfg.Factors.Key
		if len(key) != 32 {
			key = make([]byte, 32)
			rand.Read(key)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			panic(err) // 32-byte keys always work
		}
		f.aead, _ = cipher.NewGCM(block)
		f.suite, _ = otp.ParseSuite(OCRASuite)
		f.cache = map[string]*memberFactors{}
	})
	return f
}

// seal encrypts a seed bound to its member.
func (s *Service) seal(memberID string, seed []byte) []byte {
	f := s.factorInit()
	nonce := make([]byte, f.aead.NonceSize())
	rand.Read(nonce)
	return f.aead.Seal(nonce, nonce, seed, []byte("coffer generator "+memberID))
}

func (s *Service) unseal(memberID string, sealed []byte) ([]byte, error) {
	f := s.factorInit()
	n := f.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed seed too short")
	}
	seed, err := f.aead.Open(nil, sealed[:n], sealed[n:], []byte("coffer generator "+memberID))
	if err != nil {
		return nil, fmt.Errorf("unseal generator seed: %w", err)
	}
	return seed, nil
}

func (s *Service) forgetFactors(memberID string) {
	f := s.factorInit()
	f.mu.Lock()
	delete(f.cache, memberID)
	f.mu.Unlock()
}

// memberFactors returns the member's verified factors and policy.
func (s *Service) memberFactors(ctx context.Context, memberID string) (*memberFactors, error) {
	f := s.factorInit()
	now := time.Now()
	f.mu.Lock()
	m := f.cache[memberID]
	f.mu.Unlock()
	if m != nil && now.Sub(m.at) < factorCacheTTL {
		return m, nil
	}
	list, err := s.store.Factors(ctx, memberID)
	if err != nil {
		return nil, err
	}
	m = &memberFactors{at: now}
	for _, x := range list {
		if !x.Verified {
			continue
		}
		switch x.Kind {
		case coffer.FactorPhone:
			m.phone = x
		case coffer.FactorGenerator:
			m.generator = x
		}
	}
	if m.policy, err = s.store.Policy(ctx, memberID); err != nil {
		return nil, err
	}
	if m.policy == nil {
		m.policy = coffer.DefaultPolicy()
	}
	f.mu.Lock()
	if len(f.cache) > 100000 {
		clear(f.cache)
	}
	f.cache[memberID] = m
	f.mu.Unlock()
	return m, nil
}

// methods lists the ways a member can answer a confirmation of purpose.
func (m *memberFactors) methods(purpose string, recovery bool) []string {
	var out []string
	if m.generator != nil {
		if purpose == coffer.PurposeTransfer {
			out = append(out, coffer.MethodOCRA)
		} else {
			out = append(out, coffer.MethodTOTP)
		}
	}
	if m.phone != nil {
		out = append(out, coffer.MethodSMS)
	}
	if recovery {
		out = append(out, coffer.MethodRecovery)
	}
	return out
}

// saltedHash is the stored form of a short-lived code.
func saltedHash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// newDigitCode returns n random decimal digits.
func newDigitCode(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

func newSalt() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

// SecurityFactors is what GET /v1/security/factors shows.
type SecurityFactors struct {
	Phone         string // the verified phone, "" when none
	Generator     bool   // a verified code generator
	RecoveryCodes int    // unused recovery codes
	// Bootstrap is true while the member has no factor: logins and
	// transfers then need no confirmation (unless the operator requires a
	// factor for transfers).
	Bootstrap bool
	Policy    *coffer.ConfirmationPolicy
}

// Factors describes the member's second factors and policy.
func (s *Service) Factors(ctx context.Context, memberID string) (*SecurityFactors, error) {
	s.forgetFactors(memberID)
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return nil, err
	}
	codes, err := s.store.RecoveryCodes(ctx, memberID)
	if err != nil {
		return nil, err
	}
	out := &SecurityFactors{Generator: m.generator != nil, RecoveryCodes: len(codes), Bootstrap: !m.any(), Policy: m.policy}
	if m.phone != nil {
		out.Phone = m.phone.Phone
	}
	return out, nil
}

// enrolment is the body of a pending enrolment confirmation.
type enrolment struct {
	Phone  string `json:"phone,omitempty"`
	Sealed []byte `json:"sealed,omitempty"`
}

// Enrolment actions, as step-up names them.
const (
	ActionEnrolGenerator  = "enrol_generator"
	ActionRemoveGenerator = "remove_generator"
	ActionAddPhone        = "add_phone"
	ActionRemovePhone     = "remove_phone"
	ActionRecoveryCodes   = "recovery_codes"
	ActionPolicy          = "confirmation_policy"
	ActionAddKey          = "add_key"
	ActionIssueCert       = "issue_certificate"
)

// startEnrolment replaces the member's pending enrolment of kind.
func (s *Service) startEnrolment(ctx context.Context, memberID, kind string, body enrolment, salt, hash []byte) error {
	if err := s.confirmationBudget(ctx, memberID); err != nil {
		return err
	}
	ref := "enrol_" + kind
	if old, err := s.store.ConfirmationByRef(ctx, memberID, coffer.PurposeAction, ref); err == nil && old.State == coffer.ConfirmPending {
		if _, err := s.store.FinishConfirmation(ctx, old.ID, coffer.ConfirmExpired); err != nil {
			return err
		}
	} else if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return err
	}
	b, _ := json.Marshal(body)
	now := s.now()
	c := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: memberID, Purpose: coffer.PurposeAction, Ref: ref,
		Body: string(b), Method: kind, Salt: salt, CodeHash: hash, State: coffer.ConfirmPending,
		CreatedAt: now, ExpiresAt: now.Add(coffer.ConfirmationTTL)}
	if kind == coffer.FactorGenerator {
		c.ExpiresAt = now.Add(30 * time.Minute) // time to set up an app
	}
	return s.store.CreateConfirmation(ctx, c)
}

// EnrolGenerator starts enrolling a code generator: it returns the seed,
// the otpauth URI and a QR code. The generator counts once VerifyGenerator
// accepted a code from it. Errors: ECONFIRMATIONREQUIRED.
func (s *Service) EnrolGenerator(ctx context.Context, memberID, proof string) (*otp.Enrolment, error) {
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionEnrolGenerator, Summary: "enrol a new code generator"}, proof); err != nil {
		return nil, err
	}
	seed := otp.NewSecret()
	issuer := s.cfg.Factors.Issuer
	if issuer == "" {
		issuer = "coffer"
	}
	e, err := otp.Enrol(issuer, memberID, seed)
	if err != nil {
		return nil, err
	}
	if err := s.startEnrolment(ctx, memberID, coffer.FactorGenerator, enrolment{Sealed: s.seal(memberID, seed)}, nil, nil); err != nil {
		return nil, err
	}
	return e, nil
}

// VerifyGenerator activates the generator being enrolled with a current
// TOTP code. On a member's first factor it returns a fresh set of
// recovery codes, shown once. Errors: ENOTFOUND, ECONFIRMATIONFAILED,
// ECONFIRMATIONVOID.
func (s *Service) VerifyGenerator(ctx context.Context, memberID, code string) ([]string, error) {
	c, err := s.pendingEnrolment(ctx, memberID, coffer.FactorGenerator)
	if err != nil {
		return nil, err
	}
	var body enrolment
	json.Unmarshal([]byte(c.Body), &body)
	seed, err := s.unseal(memberID, body.Sealed)
	if err != nil {
		return nil, err
	}
	slot, err := s.codeAttempt(ctx, memberID, false)
	if err != nil {
		return nil, err
	}
	step, ok := otp.ValidateTOTP(seed, strings.TrimSpace(code), s.now(), 0)
	if !ok {
		return nil, s.wrongCode(ctx, c, slot)
	}
	slot.release(ctx)
	if done, err := s.store.FinishConfirmation(ctx, c.ID, coffer.ConfirmDone); err != nil || !done {
		return nil, errVoid(err)
	}
	now := s.now()
	f := &coffer.Factor{MemberID: memberID, Kind: coffer.FactorGenerator, Secret: body.Sealed, Verified: true,
		VerifiedAt: now, LastStep: step, CreatedAt: now}
	return s.activate(ctx, f)
}

// activate stores a verified factor and, for a first factor, recovery codes.
func (s *Service) activate(ctx context.Context, f *coffer.Factor) ([]string, error) {
	s.forgetFactors(f.MemberID)
	before, err := s.memberFactors(ctx, f.MemberID)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutFactor(ctx, f, coffer.NewAuditEvent(s.now(), coffer.AuditFactorEnrolled, f.MemberID, map[string]any{"factor": f.Kind})); err != nil {
		return nil, err
	}
	s.forgetFactors(f.MemberID)
	if before.any() {
		return nil, nil
	}
	return s.newRecoveryCodes(ctx, f.MemberID)
}

func (s *Service) pendingEnrolment(ctx context.Context, memberID, kind string) (*coffer.Confirmation, error) {
	c, err := s.store.ConfirmationByRef(ctx, memberID, coffer.PurposeAction, "enrol_"+kind)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && c.State != coffer.ConfirmPending) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "There is no enrolment waiting for a code; start again.")
	}
	if err != nil {
		return nil, err
	}
	if !c.Live(s.now()) {
		s.store.FinishConfirmation(ctx, c.ID, coffer.ConfirmExpired)
		return nil, errExpired
	}
	return c, nil
}

// RemoveFactor removes the member's phone or generator.
// Errors: ENOTFOUND, ECONFIRMATIONREQUIRED.
func (s *Service) RemoveFactor(ctx context.Context, memberID, kind, proof string) error {
	ch := Change{Action: ActionRemoveGenerator, Summary: "remove your code generator"}
	if kind == coffer.FactorPhone {
		ch = Change{Action: ActionRemovePhone, Summary: "remove your phone"}
	}
	if err := s.RequireConfirmation(ctx, memberID, ch, proof); err != nil {
		return err
	}
	err := s.store.DeleteFactor(ctx, memberID, kind, coffer.NewAuditEvent(s.now(), coffer.AuditFactorRemoved, memberID, map[string]any{"factor": kind}))
	s.forgetFactors(memberID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return coffer.Errorf(coffer.ENOTFOUND, "You have no such factor.")
	}
	return err
}

// AddPhone starts adding a phone: it sends a code to it by SMS.
// Errors: EINVALID, EUNAVAILABLE (no SMS gateway), ECONFIRMATIONREQUIRED.
func (s *Service) AddPhone(ctx context.Context, memberID, phone, proof string) error {
	p, err := coffer.NormalizePhone(phone)
	if err != nil {
		return err
	}
	if s.cfg.Factors.SMS == nil {
		return coffer.Errorf(coffer.EUNAVAILABLE, "This server sends no SMS; use a code generator.")
	}
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionAddPhone, Summary: "add phone " + p, Values: p}, proof); err != nil {
		return err
	}
	// Refused before the enrolment is stored, so that a refused request
	// leaves nothing behind.
	if err := s.smsAllowed(ctx, memberID, p); err != nil {
		return err
	}
	code := newDigitCode(6)
	salt := newSalt()
	if err := s.startEnrolment(ctx, memberID, coffer.FactorPhone, enrolment{Phone: p}, salt, saltedHash(salt, code)); err != nil {
		return err
	}
	return s.text(ctx, memberID, p, "coffer: your code to add this phone is "+code+". It is valid for 5 minutes.", true)
}

// VerifyPhone activates the phone being added with the code sent to it.
// On a member's first factor it returns recovery codes, shown once.
// Errors: ENOTFOUND, ECONFIRMATIONFAILED, ECONFIRMATIONVOID.
func (s *Service) VerifyPhone(ctx context.Context, memberID, code string) ([]string, error) {
	c, err := s.pendingEnrolment(ctx, memberID, coffer.FactorPhone)
	if err != nil {
		return nil, err
	}
	slot, err := s.codeAttempt(ctx, memberID, false)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(saltedHash(c.Salt, strings.TrimSpace(code)), c.CodeHash) != 1 {
		return nil, s.wrongCode(ctx, c, slot)
	}
	slot.release(ctx)
	if done, err := s.store.FinishConfirmation(ctx, c.ID, coffer.ConfirmDone); err != nil || !done {
		return nil, errVoid(err)
	}
	var body enrolment
	json.Unmarshal([]byte(c.Body), &body)
	now := s.now()
	return s.activate(ctx, &coffer.Factor{MemberID: memberID, Kind: coffer.FactorPhone, Phone: body.Phone,
		Verified: true, VerifiedAt: now, CreatedAt: now})
}

// NewRecoveryCodes replaces the member's recovery codes with a fresh set
// and returns it; it is shown once and stored hashed.
// Errors: EINVALID (no factor yet), ECONFIRMATIONREQUIRED.
func (s *Service) NewRecoveryCodes(ctx context.Context, memberID, proof string) ([]string, error) {
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return nil, err
	}
	if !m.any() {
		return nil, coffer.Errorf(coffer.EINVALID, "Enrol a phone or a code generator first.")
	}
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionRecoveryCodes, Summary: "replace your recovery codes"}, proof); err != nil {
		return nil, err
	}
	return s.newRecoveryCodes(ctx, memberID)
}

func (s *Service) newRecoveryCodes(ctx context.Context, memberID string) ([]string, error) {
	codes := make([]string, coffer.RecoveryCodeCount)
	rows := make([]*coffer.RecoveryCode, len(codes))
	for i := range codes {
		raw := strings.ToLower(rand.Text())[:10]
		codes[i] = raw[:5] + "-" + raw[5:]
		salt := newSalt()
		rows[i] = &coffer.RecoveryCode{Salt: salt, Hash: saltedHash(salt, raw)}
	}
	if err := s.store.SetRecoveryCodes(ctx, memberID, rows, coffer.NewAuditEvent(s.now(), coffer.AuditRecoveryCodesNew, memberID, nil)); err != nil {
		return nil, err
	}
	return codes, nil
}

// normalizeRecovery turns a typed recovery code into its hashed form's
// input; ok is false when it cannot be one.
func normalizeRecovery(code string) (string, bool) {
	c := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(code), "-", ""), " ", ""))
	return c, len(c) == 10
}

// Policy returns the member's confirmation policy (the default when unset).
func (s *Service) Policy(ctx context.Context, memberID string) (*coffer.ConfirmationPolicy, error) {
	s.forgetFactors(memberID)
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return nil, err
	}
	return m.policy, nil
}

// SetPolicy changes when the member is asked for confirmation. Any change
// needs a confirmation by an enrolled factor.
// Errors: EINVALID, ECONFIRMATIONREQUIRED.
func (s *Service) SetPolicy(ctx context.Context, memberID string, p *coffer.ConfirmationPolicy, proof string) error {
	switch p.Login {
	case "":
		p.Login = coffer.LoginSecondFactor
	case coffer.LoginPassword, coffer.LoginSecondFactor:
	default:
		return coffer.Errorf(coffer.EINVALID, "login must be password or second_factor.")
	}
	switch p.Transfers {
	case "":
		p.Transfers = coffer.TransfersAlways
	case coffer.TransfersAlways, coffer.TransfersNewPayee, coffer.TransfersNever:
	case coffer.TransfersAbove:
		if _, err := coffer.ParseAmount(p.Threshold, 2); err != nil {
			return coffer.Errorf(coffer.EINVALID, "threshold must be a decimal amount such as \"100.00\".")
		}
	default:
		return coffer.Errorf(coffer.EINVALID, "transfers must be always, above, new_payee or never.")
	}
	if p.Transfers != coffer.TransfersAbove {
		p.Threshold = ""
	}
	if p.ExemptPayees == nil {
		p.ExemptPayees = []string{}
	}
	if len(p.ExemptPayees) > 100 {
		return coffer.Errorf(coffer.EINVALID, "At most 100 exempt payees.")
	}
	for _, x := range p.ExemptPayees {
		if !coffer.ValidPurseNumber(x) {
			return coffer.Errorf(coffer.EINVALID, "%q is not a purse number.", x)
		}
	}
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionPolicy, Summary: policySummary(p), Values: p}, proof); err != nil {
		return err
	}
	err := s.store.SetPolicy(ctx, memberID, p, coffer.NewAuditEvent(s.now(), coffer.AuditConfirmationPolicy, memberID,
		map[string]any{"login": p.Login, "transfers": p.Transfers, "exempt_payees": len(p.ExemptPayees), "confirm_signed": p.ConfirmSigned}))
	s.forgetFactors(memberID)
	return err
}

// generatorSeed unseals the seed of the member's verified generator; nil
// when there is none.
func (s *Service) generatorSeed(m *memberFactors) ([]byte, error) {
	if m.generator == nil {
		return nil, nil
	}
	return s.unseal(m.generator.MemberID, m.generator.Secret)
}
