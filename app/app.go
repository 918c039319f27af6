// Package app holds coffer's application services: registration, sessions,
// purses and transfers, built on a coffer.Store and the ledger engine. It
// knows nothing of HTTP or SQL.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
)

// Config holds the service's tunables.
type Config struct {
	SessionIdle time.Duration // a session unused this long expires
	SessionMax  time.Duration // a session expires this long after login
	Now         func() time.Time
	Hasher      password.Hasher
	Certs       CertConfig   // personal client certificates; see certs.go
	Factors     FactorConfig // second factors and confirmations; see factors.go
	Mail        Mailer       // e-mail for unblock codes and notifications; nil: none sent
	// PublicURL is the server's public base URL (cofferd serve
	// --public-url, e.g. https://coffer.example): configured, never taken
	// from a request's Host. "" when not known (tests).
	PublicURL string
	// InvoicesPerHour bounds the invoices one merchant may issue per hour,
	// against spam; 0 means 100, negative means no bound.
	InvoicesPerHour int
	// Levels are the verification levels and what each allows; nil means
	// no level rules (every member may do everything). cofferd serve
	// always sets them, and gives the ledger engine the same table, which
	// applies their daily limits. See levels.go.
	Levels *coffer.Levels
	// Currencies is the currency table, shared with the ledger engine;
	// nil means one of the service's own over the store.
	Currencies *Currencies
	// DocumentKey seals verification documents at rest (AES-256: 32
	// bytes); without it documents cannot be uploaded. See verification.go.
	DocumentKey []byte
	Uploads     UploadConfig  // documents waiting for their request; see uploads.go
	Webhooks    WebhookConfig // see webhooks.go
	Keys        KeyConfig     // request signing; see keys.go
	// CodeBudget bounds wrong one-time codes and new confirmations per
	// member; zero fields take DefaultCodeBudget's. See codebudget.go.
	CodeBudget CodeBudget
	// RegisterPerHour bounds registrations per client address, through the
	// API and the web keeper together; 0 means no bound (tests and the
	// load generator).
	RegisterPerHour int
	// SchedulerObserver, when set, is told of each pass of the scheduler
	// (RunScheduler): how many held transfers it settled and its error.
	SchedulerObserver func(settled int, err error)
}

// Service is the application. Create it with New.
type Service struct {
	store    coffer.Store
	engine   *ledger.Engine
	log      *slog.Logger
	cfg      Config
	Throttle *Throttle

	cur *Currencies

	sessMu   sync.Mutex
	sessions map[string]*cachedSession
	touches  *toucher // session use, written off the request path

	cert certState         // see certs.go
	keys keyState          // see keys.go
	fac  factorState       // see factors.go
	set  settingsState     // see settings.go
	ver  verificationState // see verification.go
	priv privacyState      // see privacy.go
	cont contactCache      // see contacts.go

	invoiceRate    slidingLimit // see invoices.go
	registerRate   slidingLimit // per client address; see Register
	claimedNotices slidingLimit // per member; see claimedLoginName
	lastInvSweep   atomic.Int64 // unix ns of the last invoice sweep; see scheduler.go
	schedCaughtUp  atomic.Int64 // unix ns the scheduler was last caught up at; see SchedulerLag
}

type cachedSession struct {
	s  *coffer.Session
	at time.Time
}

// sessionCacheTTL bounds how long a session read from the store is trusted
// without reading it again. Revocations made through this process take
// effect at once; those made by another process within this time.
const sessionCacheTTL = 5 * time.Second

// New returns the service.
func New(store coffer.Store, engine *ledger.Engine, log *slog.Logger, cfg Config) *Service {
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax == 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InvoicesPerHour == 0 {
		cfg.InvoicesPerHour = 100
	}
	cfg.CodeBudget.withDefaults()
	if cfg.Hasher.Params.Memory == 0 {
		cfg.Hasher.Params = password.DefaultParams
	}
	if cfg.Currencies == nil {
		cfg.Currencies = NewCurrencies(store)
	}
	s := &Service{store: store, engine: engine, log: log, cfg: cfg, Throttle: NewThrottle(),
		sessions: map[string]*cachedSession{}, cur: cfg.Currencies,
		cont: contactCache{owners: map[string]string{}, only: map[string]onlyEntry{}}}
	s.schedCaughtUp.Store(s.now().UnixNano()) // the lag counts from the start
	s.touches = newToucher(store.TouchSession, log)
	s.initSettings()
	cfg.Uploads.defaults()
	s.ver.cfg, s.ver.held = cfg.Uploads, map[string]*waitingDocument{}
	if s.ver.spoolErr = s.ver.openSpool(); s.ver.spoolErr != nil {
		log.Error("uploads of verification documents are off", "err", s.ver.spoolErr)
	}
	return s
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Close stops the service's background work that has no other owner: it
// drops the session touches not yet written (see toucher) and waits for
// the one being written. Call it before closing the store.
func (s *Service) Close() { s.touches.close() }

// RegisterInput is what a new member gives.
type RegisterInput struct {
	Password string
	Email    string
	Phone    string
	IP       string // the client address, for Config.RegisterPerHour
}

// Register creates a member with a fresh random member ID.
//
// Registration does not tell whether an e-mail or phone is taken: a name
// that already belongs to another member is left off the new account, the
// answer is the same as for a free one, and the member who has it is told
// (see claimedLoginName). The password is hashed in both cases, so the
// time taken does not tell either. Each client address may register
// Config.RegisterPerHour times an hour, through the API and the web keeper
// together. Errors: EWEAKPASSWORD, EINVALID, ERATELIMITED.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*coffer.Member, error) {
	if ok, wait := s.registerRate.allow(AddrKey(in.IP), s.cfg.RegisterPerHour, time.Hour, s.now()); !ok {
		return nil, &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many accounts were opened from your address; try again later.",
			Err: &RateLimitError{RetryAfter: wait}}
	}
	if err := password.Check(in.Password); err != nil {
		return nil, weakPassword(err)
	}
	m := &coffer.Member{CreatedAt: s.now()}
	var err error
	if in.Email != "" {
		if m.Email, err = coffer.NormalizeEmail(in.Email); err != nil {
			return nil, err
		}
	}
	if in.Phone != "" {
		if m.Phone, err = coffer.NormalizePhone(in.Phone); err != nil {
			return nil, err
		}
	}
	if m.PasswordHash, err = s.cfg.Hasher.Hash(in.Password); err != nil {
		return nil, err
	}
	var claimed []string // names given that belong to another member
	for attempt := 0; ; attempt++ {
		m.ID = coffer.NewMemberID()
		err = s.store.CreateMember(ctx, m)
		var ae *coffer.Error
		if errors.As(err, &ae) && ae.Code == coffer.ECONFLICT {
			switch {
			case ae.Message == "email" && m.Email != "":
				claimed, m.Email = append(claimed, m.Email), ""
				continue
			case ae.Message == "phone" && m.Phone != "":
				claimed, m.Phone = append(claimed, m.Phone), ""
				continue
			}
			if attempt < 10 {
				continue // member ID collision: draw again
			}
		}
		if err != nil {
			return nil, err
		}
		// The new member's own log says what was given, not what was kept,
		// as the answer does.
		s.audit(ctx, coffer.AuditMemberRegistered, m.ID, map[string]any{"email": in.Email != "", "phone": in.Phone != ""})
		if len(claimed) > 0 {
			// Told aside, so that the answer takes as long as for free names.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for _, name := range claimed {
					s.claimedLoginName(ctx, name, m.ID)
				}
			}()
		}
		return m, nil
	}
}

// claimedNoticesPerHour bounds the notices one member gets about others
// registering with their e-mail or phone, so that registrations cannot be
// used to flood a mailbox or a phone.
const claimedNoticesPerHour = 1

// claimedLoginName tells the member who has the e-mail or phone name that
// someone gave it when registering newID: by e-mail when they have one,
// else by SMS to that phone. It is recorded in their security log. Register
// calls it off the request, after answering.
func (s *Service) claimedLoginName(ctx context.Context, name, newID string) {
	owner, err := s.store.MemberByLogin(ctx, name)
	if err != nil {
		s.log.Warn("registration with a taken login name", "err", err)
		return
	}
	what := "e-mail address"
	if !strings.Contains(name, "@") {
		what = "phone number"
	}
	s.audit(ctx, coffer.AuditLoginNameClaimed, owner.ID, map[string]any{"name": what, "new_member": newID})
	if ok, _ := s.claimedNotices.allow(owner.ID, claimedNoticesPerHour, time.Hour, s.now()); !ok {
		return
	}
	text := "Someone tried to open a coffer account with your " + what + ". It stays with your account and was not given to the new one (member ID " + newID + "). " +
		"If it was you, log in with your " + what + " and your password. If not, you need not do anything."
	if owner.Email != "" {
		s.mail(owner.Email, "coffer: someone registered with your "+what, text+"\n")
		return
	}
	if owner.Phone != "" {
		if err := s.sendSMS(ctx, owner.ID, owner.Phone, "coffer: someone tried to open an account with your phone number. It stays with your account."); err != nil {
			s.log.Warn("sms", "err", err)
		}
	}
}

// audit records an event; a failure is logged, not returned, because the
// action it describes has already committed.
func (s *Service) audit(ctx context.Context, kind, member string, detail map[string]any) {
	if err := s.store.AppendAudit(ctx, coffer.NewAuditEvent(s.now(), kind, member, detail)); err != nil {
		s.log.Error("audit", "kind", kind, "err", err)
	}
}

func weakPassword(err error) error {
	msg := "The password is not acceptable."
	switch {
	case errors.Is(err, password.ErrTooShort):
		msg = "The password must be at least 10 characters long."
	case errors.Is(err, password.ErrTooLong):
		msg = "The password is too long."
	case errors.Is(err, password.ErrCommon):
		msg = "That password is on a list of common or breached passwords; choose another."
	case errors.Is(err, password.ErrInvalid):
		msg = "The password must be valid UTF-8 text."
	}
	return &coffer.Error{Code: coffer.EWEAKPASSWORD, Message: msg, Err: err}
}

// normalizeLogin turns what a member typed into the form it is stored in.
func normalizeLogin(login string) string {
	login = strings.TrimSpace(login)
	if coffer.ValidMemberID(login) {
		return login
	}
	if strings.Contains(login, "@") {
		if e, err := coffer.NormalizeEmail(login); err == nil {
			return e
		}
		return strings.ToLower(login)
	}
	if p, err := coffer.NormalizePhone(login); err == nil {
		return p
	}
	return login
}

// ErrBadCredentials is the one answer for an unknown login or a wrong
// password, so that the answer does not tell which.
var ErrBadCredentials = coffer.Errorf(coffer.EUNAUTHORIZED, "The login or password is wrong.")

// LoginInput is a password login attempt.
type LoginInput struct {
	Login, Password string
	IP, UserAgent   string
}

// RateLimitError says how long to wait.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return "rate limited" }

// RetryAfter is the Retry-After header for an error answered with status:
// the wait a rate limit names, else coffer.UnavailableRetryAfter for any
// 503, else "" (no header).
func RetryAfter(err error, status int) string {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return strconv.Itoa(int(rl.RetryAfter.Seconds()) + 1)
	}
	if status == http.StatusServiceUnavailable {
		return strconv.Itoa(coffer.UnavailableRetryAfter)
	}
	return ""
}

// Login checks a password and opens a session. It returns the bearer token
// (shown once, stored only as a hash). Errors: EUNAUTHORIZED, ERATELIMITED.
func (s *Service) Login(ctx context.Context, in LoginInput) (string, *coffer.Session, error) {
	login := normalizeLogin(in.Login)
	now := s.now()
	if len(login) > 256 || len(in.Password) > 4096 {
		return "", nil, ErrBadCredentials
	}
	// The name as typed is locked for this address before the store is
	// asked; its lock across addresses after, once it is known whether
	// the address is one the member used before.
	if wait := s.Throttle.Wait(login, in.IP, true, now); wait > 0 {
		return "", nil, errLoginLimited(wait)
	}
	if ok, wait := s.Throttle.AllowIP(in.IP, now); !ok {
		return "", nil, errLoginLimited(wait)
	}
	m, err := s.store.MemberByLogin(ctx, login)
	if err == nil && strings.HasPrefix(m.PasswordHash, "!") {
		// A closed account has no password: it answers like an unknown login.
		err = coffer.Errorf(coffer.ENOTFOUND, "closed")
	}
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		// An unknown login is throttled exactly as a member's, so that the
		// lock says nothing about whether the member exists.
		s.cfg.Hasher.DummyVerify(in.Password)
		if wait := s.Throttle.Wait(login, in.IP, false, now); wait > 0 {
			return "", nil, errLoginLimited(wait)
		}
		s.Throttle.Failure(login, in.IP, now)
		return "", nil, ErrBadCredentials
	} else if err != nil {
		return "", nil, err
	}
	// The member is throttled as well as the name typed, so that member ID,
	// e-mail and phone do not each get a guessing budget of their own.
	// While only the member is held (by failures under another of their
	// names) the attempt is refused as a wrong password would be, and
	// counts against the name typed as one would: a "too many attempts"
	// here would tell a stranger which e-mail, phone and member ID belong
	// together. A lock of the name typed itself says nothing new.
	memberKey := MemberKey(m.ID)
	// held: only the budget across addresses holds this login, and the
	// member has a second factor. A stranger's failures elsewhere then do
	// not keep the owner out: the login goes on to the second factor,
	// which the stranger lacks. So that the answer says nothing about the
	// password, a wrong one gets a decoy challenge no code answers.
	held := false
	if wait := s.loginWait(ctx, m.ID, in.IP, now, login, memberKey); wait > 0 {
		hard := max(s.Throttle.Wait(login, in.IP, true, now), s.Throttle.Wait(memberKey, in.IP, true, now))
		if hard == 0 {
			f, err := s.memberFactors(ctx, m.ID)
			if err != nil {
				return "", nil, err
			}
			// A code generator answers without an SMS: nothing a right
			// password sets off (a text, its budget) tells it apart.
			held = f.generator != nil
		}
		if !held {
			s.cfg.Hasher.DummyVerify(in.Password)
			if own := s.loginWait(ctx, m.ID, in.IP, now, login); own > 0 {
				return "", nil, errLoginLimited(own)
			}
			s.Throttle.Failure(login, in.IP, now)
			s.audit(ctx, coffer.AuditLoginFailed, m.ID, map[string]any{"ip": in.IP, "locked": true})
			return "", nil, ErrBadCredentials
		}
	}
	ok, rehash, err := s.cfg.Hasher.Verify(in.Password, m.PasswordHash)
	if err != nil {
		return "", nil, err
	}
	if err := s.loginIPCheck(ctx, login, m, in.IP, ok); err != nil {
		return "", nil, err
	}
	if held {
		// Right or wrong, the attempt is answered and counted alike: a
		// challenge, and a failure for this address, so that neither the
		// answer nor the address's lock tells the password.
		s.Throttle.Failure(login, in.IP, now)
		s.Throttle.Failure(memberKey, in.IP, now)
		if !ok {
			s.audit(ctx, coffer.AuditLoginFailed, m.ID, map[string]any{"ip": in.IP})
		}
		return "", nil, s.heldChallenge(ctx, m.ID, in.IP, in.UserAgent, !ok)
	}
	if !ok {
		s.Throttle.Failure(login, in.IP, now)
		s.Throttle.Failure(memberKey, in.IP, now)
		s.audit(ctx, coffer.AuditLoginFailed, m.ID, map[string]any{"ip": in.IP})
		return "", nil, ErrBadCredentials
	}
	// A correct password clears no failures: they decay. Otherwise one
	// login would reset the budget a guesser spread over many addresses
	// spends, and wrong second-factor codes counted on the member.
	if rehash {
		if h, err := s.cfg.Hasher.Hash(in.Password); err == nil {
			if err := s.store.SetPasswordHash(ctx, m.ID, h); err != nil {
				s.log.Warn("rehash password", "member", m.ID, "err", err)
			}
		}
	}
	// A member whose policy asks for a second factor gets a challenge
	// (ECONFIRMATIONREQUIRED carrying *Pending) instead of a session.
	if err := s.loginChallenge(ctx, m.ID, in.IP, in.UserAgent); err != nil {
		return "", nil, err
	}
	token, sess, err := s.openSession(ctx, m.ID, in.IP, in.UserAgent)
	if err == nil {
		s.audit(ctx, coffer.AuditLoginSucceeded, m.ID, map[string]any{"ip": in.IP, "session_id": sess.ID, "method": "password"})
		s.loginSucceeded(ctx, m.ID, in.IP, "password")
	}
	return token, sess, err
}

func errLoginLimited(wait time.Duration) error {
	return &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many login attempts; wait and try again.", Err: &RateLimitError{RetryAfter: wait}}
}

// loginWait is how long a login of the member from ip must wait for the
// throttle of keys. Only when the lock across addresses is what holds it
// is the store asked whether the member used ip before: such an address
// is held only by failures from itself, not by a stranger's elsewhere.
func (s *Service) loginWait(ctx context.Context, memberID, ip string, now time.Time, keys ...string) time.Duration {
	wait := func(trusted bool) (w time.Duration) {
		for _, k := range keys {
			w = max(w, s.Throttle.Wait(k, ip, trusted, now))
		}
		return w
	}
	w := wait(false)
	if w == 0 || ip == "" {
		return w
	}
	if w0 := wait(true); w0 < w {
		known, err := s.store.KnownIP(ctx, memberID, ip)
		if err != nil {
			s.log.Warn("known login address", "member", memberID, "err", err)
		} else if known {
			return w0
		}
	}
	return w
}

func (s *Service) openSession(ctx context.Context, memberID, ip, ua string) (string, *coffer.Session, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	token := "cft_" + base64.RawURLEncoding.EncodeToString(raw)
	id := make([]byte, 12)
	rand.Read(id)
	now := s.now()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	sess := &coffer.Session{ID: hex.EncodeToString(id), MemberID: memberID, TokenHash: hashToken(token),
		IP: ip, UserAgent: ua, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.cfg.SessionMax)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// IdleExpiry is when a session expires if not used again.
func (s *Service) IdleExpiry(sess *coffer.Session) time.Time {
	t := sess.LastUsedAt.Add(s.cfg.SessionIdle)
	if t.After(sess.ExpiresAt) {
		return sess.ExpiresAt
	}
	return t
}

var errBadToken = coffer.Errorf(coffer.EUNAUTHORIZED, "The session is missing, expired or revoked; log in again.")

// Authenticate resolves a bearer token to its live session and marks it
// used. Errors: EUNAUTHORIZED.
func (s *Service) Authenticate(ctx context.Context, token string) (*coffer.Session, error) {
	if !strings.HasPrefix(token, "cft_") || len(token) > 128 {
		return nil, errBadToken
	}
	h := hashToken(token)
	key := string(h)
	now := s.now()
	s.sessMu.Lock()
	c := s.sessions[key]
	s.sessMu.Unlock()
	var sess *coffer.Session
	if c != nil && now.Sub(c.at) < sessionCacheTTL && !now.Before(c.at) { // cached before the clock went back: stale
		sess = c.s
	} else {
		var err error
		sess, err = s.store.SessionByTokenHash(ctx, h)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, errBadToken
		} else if err != nil {
			return nil, err
		}
		s.sessMu.Lock()
		if c != nil && c.s.LastUsedAt.After(sess.LastUsedAt) {
			sess.LastUsedAt = c.s.LastUsedAt
		}
		s.sessions[key] = &cachedSession{s: sess, at: now}
		if len(s.sessions) > 100000 {
			clear(s.sessions) // bound memory; the store is the truth
		}
		s.sessMu.Unlock()
	}
	s.sessMu.Lock()
	last := sess.LastUsedAt
	s.sessMu.Unlock()
	if !now.Before(sess.ExpiresAt) || !now.Before(last.Add(s.cfg.SessionIdle)) {
		return nil, errBadToken
	}
	// Record use at most every 30 s: enough for idle expiry and the
	// session list, without a write per request. The cached session keeps
	// the time at once; the store gets it in the background, so a store
	// that hangs never holds the request (see toucher).
	if now.Sub(last) > 30*time.Second {
		s.sessMu.Lock()
		sess.LastUsedAt = now
		s.sessMu.Unlock()
		s.touches.add(sess.ID, now)
	}
	return sess, nil
}

// SecurityEvents returns a page of the member's own audit events (their
// security log), newest first. Errors: EINVALID.
func (s *Service) SecurityEvents(ctx context.Context, memberID string, before int64, limit int) ([]*coffer.AuditEvent, error) {
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, coffer.Errorf(coffer.EINVALID, "limit must be between 1 and 500.")
	}
	return s.store.AuditEvents(ctx, memberID, before, limit)
}

// Logout ends the current session.
func (s *Service) Logout(ctx context.Context, sess *coffer.Session) error {
	s.forget(sess.ID)
	if err := s.store.DeleteSession(ctx, sess.MemberID, sess.ID); err != nil {
		return err
	}
	s.audit(ctx, coffer.AuditSessionEnded, sess.MemberID, map[string]any{"session_id": sess.ID, "by": "logout"})
	return nil
}

func (s *Service) forget(id string) {
	s.sessMu.Lock()
	for k, c := range s.sessions {
		if c.s.ID == id {
			delete(s.sessions, k)
		}
	}
	s.sessMu.Unlock()
}

// Sessions lists a member's live sessions.
func (s *Service) Sessions(ctx context.Context, memberID string) ([]*coffer.Session, error) {
	all, err := s.store.Sessions(ctx, memberID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := all[:0]
	for _, x := range all {
		if now.Before(x.ExpiresAt) && now.Before(x.LastUsedAt.Add(s.cfg.SessionIdle)) {
			out = append(out, x)
		}
	}
	return out, nil
}

// RevokeSession ends one of the member's sessions. Errors: ENOTFOUND.
func (s *Service) RevokeSession(ctx context.Context, memberID, id string) error {
	s.forget(id)
	if err := s.store.DeleteSession(ctx, memberID, id); err != nil {
		return err
	}
	s.audit(ctx, coffer.AuditSessionEnded, memberID, map[string]any{"session_id": id, "by": "revoke"})
	return nil
}
