package app

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
)

// CodeBudget is the one failure budget shared by every one-time code a
// member types: login challenges, step-up and transfer confirmations,
// enrolment codes, recovery codes and protection codes they release. A
// confirmation allows a few wrong codes of its own, but a new one can be
// asked for at once; only a budget per member stops guessing across fresh
// confirmations. The budget lives in the store, so several processes on
// one database share it and a restart does not refill it.
type CodeBudget struct {
	// MaxFailures wrong codes within Window lock code entry.
	MaxFailures int
	Window      time.Duration
	// The first lock lasts BaseLock; each further lock within a day of the
	// previous one lasts twice as long, up to MaxLock.
	BaseLock time.Duration
	MaxLock  time.Duration
	// MaxConfirmations confirmations and login challenges may be created
	// per member within Window; more are refused until older ones age out.
	MaxConfirmations int
}

// DefaultCodeBudget is coffer's default budget: 10 wrong codes in 15
// minutes lock code entry for 15 minutes, then 30, 60, … up to a day.
func DefaultCodeBudget() CodeBudget {
	return CodeBudget{MaxFailures: 10, Window: 15 * time.Minute, BaseLock: 15 * time.Minute, MaxLock: 24 * time.Hour,
		MaxConfirmations: 30}
}

func (b *CodeBudget) withDefaults() {
	d := DefaultCodeBudget()
	if b.MaxFailures <= 0 {
		b.MaxFailures = d.MaxFailures
	}
	if b.Window <= 0 {
		b.Window = d.Window
	}
	if b.BaseLock <= 0 {
		b.BaseLock = d.BaseLock
	}
	if b.MaxLock < b.BaseLock {
		b.MaxLock = max(d.MaxLock, b.BaseLock)
	}
	if b.MaxConfirmations <= 0 {
		b.MaxConfirmations = d.MaxConfirmations
	}
}

// lockDuration is the length of the strikes-th lock in a row.
func (b *CodeBudget) lockDuration(strikes int) time.Duration {
	d := b.BaseLock << min(max(strikes-1, 0), 30)
	if d <= 0 || d > b.MaxLock {
		d = b.MaxLock
	}
	return d
}

func codesLockedError(wait time.Duration) error {
	mins := int((wait + time.Minute - 1) / time.Minute)
	return &coffer.Error{Code: coffer.ERATELIMITED,
		Message: fmt.Sprintf("Too many wrong codes: entering codes is locked for your account for %d more minutes. Every code is refused until then, even a right one.", mins),
		Err:     &RateLimitError{RetryAfter: wait}}
}

// Where codes come from decides whose budget they spend. An address the
// member has logged in from before has a budget of its own; every other
// address shares one. A thief typing codes from elsewhere (with a stolen
// session or password) locks only "elsewhere", so the owner at home still
// gets in; a thief at the owner's own address shares the owner's budget,
// which still bounds the guessing.
const scopeElsewhere = "elsewhere"

// codeScope is the budget scope of the request in ctx for memberID.
func (s *Service) codeScope(ctx context.Context, memberID string) string {
	ip := clientIPOf(ctx)
	if ip == "" {
		return scopeElsewhere
	}
	known, err := s.store.KnownIP(ctx, memberID, ip)
	if err != nil {
		s.log.Warn("known address of a code", "member", memberID, "err", err)
		return scopeElsewhere
	}
	if !known {
		return scopeElsewhere
	}
	return "at " + AddrKey(ip)
}

func codeKey(memberID, scope string) string    { return "code " + memberID + " " + scope }
func confirmKey(memberID, scope string) string { return "confirmation " + memberID + " " + scope }

// scopeMember is the one scope of codes whose typist is the member
// themselves whatever the address (enrolment codes, protection codes a
// payee releases): new addresses must not buy them fresh guesses.
const scopeMember = "member"

// scopeAny is the ceiling over every scope of a member: however many
// addresses a thief logs in from, at most anyFactor budgets of codes are
// compared per window in all.
const (
	scopeAny  = "any"
	anyFactor = 3
)

// budgetKey is one key a code attempt counts under, and its bound.
type budgetKey struct {
	key string
	max int
	n   int // the attempt's place in the key's window
}

// codeKeys are the keys a code of memberID typed in scope counts under:
// the scope's, and the member's ceiling.
func (s *Service) codeKeys(memberID, scope string) []*budgetKey {
	b := s.cfg.CodeBudget
	return []*budgetKey{{key: codeKey(memberID, scope), max: b.MaxFailures}, {key: codeKey(memberID, scopeAny), max: anyFactor * b.MaxFailures}}
}

// locksOf returns the latest end of the locks of keys (zero when none
// holds now) and the lock of each key.
func (s *Service) locksOf(ctx context.Context, keys []*budgetKey) (time.Time, []coffer.AttemptLock, error) {
	var until time.Time
	locks := make([]coffer.AttemptLock, len(keys))
	for i, k := range keys {
		l, err := s.store.AttemptLock(ctx, k.key)
		if err != nil {
			return time.Time{}, nil, err
		}
		locks[i] = l
		if l.Until.After(until) {
			until = l.Until
		}
	}
	return until, locks, nil
}

// codeLocked refuses while the member's code entry is locked in scope (see
// codeScope), taking no slot. Errors: ERATELIMITED.
func (s *Service) codeLocked(ctx context.Context, memberID, scope string) error {
	until, _, err := s.locksOf(ctx, s.codeKeys(memberID, scope))
	if err != nil {
		return err
	}
	if now := s.now(); now.Before(until) {
		return codesLockedError(until.Sub(now))
	}
	return nil
}

// codeSlot is one code attempt, counted in the member's budgets before the
// code is compared: concurrent guesses each take a slot, so a burst of
// parallel requests cannot compare more codes than the budget holds. A
// right code gives its slot back; a wrong one keeps it.
type codeSlot struct {
	s        *Service
	memberID string
	scope    string
	at       time.Time
	keys     []*budgetKey
}

// codeAttempt takes a slot for a code the member (as the request in ctx
// comes from) is about to have compared, or refuses while their code entry
// is locked, so the right code is refused too. scoped is false for codes
// the member types for themselves wherever they are (see scopeMember).
// Errors: ERATELIMITED.
func (s *Service) codeAttempt(ctx context.Context, memberID string, scoped bool) (*codeSlot, error) {
	b := s.cfg.CodeBudget
	scope := scopeMember
	if scoped {
		scope = s.codeScope(ctx, memberID)
	}
	keys := s.codeKeys(memberID, scope)
	until, locks, err := s.locksOf(ctx, keys)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Before(until) {
		return nil, codesLockedError(until.Sub(now))
	}
	slot := &codeSlot{s: s, memberID: memberID, scope: scope, at: now}
	for i, k := range keys {
		// Attempts before the key's last lock ended were paid for by it.
		since := now.Add(-b.Window)
		if locks[i].Until.After(since) {
			since = locks[i].Until
		}
		if k.n, err = s.store.AddAttempt(ctx, k.key, now, since); err != nil {
			slot.release(ctx)
			return nil, err
		}
		slot.keys = append(slot.keys, k)
		if k.n > k.max {
			// The budget's last slots are in flight in parallel requests.
			slot.release(ctx)
			return nil, codesLockedError(b.lockDuration(locks[i].Strikes + 1))
		}
	}
	return slot, nil
}

// release gives the slot back: the code was right, or never compared.
func (c *codeSlot) release(ctx context.Context) {
	for _, k := range c.keys {
		if err := c.s.store.RemoveAttempt(context.WithoutCancel(ctx), k.key, c.at); err != nil {
			c.s.log.Warn("give back a code attempt", "member", c.memberID, "err", err)
		}
	}
}

// failed keeps the slot of a wrong code and, when it was the last of a
// budget, locks code entry under that budget: an audit event and an e-mail
// to the member. It returns the lock's error when this failure set one.
// purpose names what the code was for, in the event and the mail.
func (c *codeSlot) failed(ctx context.Context, purpose string) error {
	s, b := c.s, c.s.cfg.CodeBudget
	now := s.now()
	// The member's password throttle counts it too: a thief who has the
	// password gains no fresh guesses by logging in again.
	s.Throttle.MemberFailure(c.memberID, clientIPOf(ctx), now)
	var lockErr error
	for i, k := range c.keys {
		if k.n < k.max {
			continue
		}
		l, err := s.store.AttemptLock(ctx, k.key)
		if err != nil {
			return err
		}
		if now.Before(l.Until) {
			lockErr = codesLockedError(l.Until.Sub(now)) // a parallel failure locked it
			continue
		}
		strikes := 1
		if !l.Until.IsZero() && now.Sub(l.Until) < 24*time.Hour {
			strikes = l.Strikes + 1
		}
		d := b.lockDuration(strikes)
		until := now.Add(d)
		scope := c.scope
		if i > 0 {
			scope = scopeAny
		}
		where := "from addresses you have not logged in from before"
		switch scope {
		case scopeAny:
			where = "from everywhere"
		case scopeMember:
			where = "for enrolments and releases"
		case scopeElsewhere:
		default:
			where = "from " + clientIPOf(ctx)
		}
		ev := coffer.NewAuditEvent(now, coffer.AuditCodesLocked, c.memberID,
			map[string]any{"failures": k.n, "until": until.UTC().Format(time.RFC3339), "strikes": strikes, "purpose": purpose,
				"ip": clientIPOf(ctx), "scope": scope})
		if err := s.store.SetAttemptLock(ctx, k.key, coffer.AttemptLock{Until: until, Strikes: strikes}, ev); err != nil {
			return err
		}
		if st, err := s.settings(ctx, c.memberID); err == nil {
			s.mail(st.email, "coffer: code entry locked after wrong codes",
				fmt.Sprintf("%d wrong one-time codes were typed for member %s within %s (the last for a %s).\n"+
					"Entering codes %s is locked until %s UTC; every code is refused until then.\n\n"+
					"If this was not you, someone has your password or a session of yours: change your password and end your other sessions.\n",
					k.n, c.memberID, b.Window, purpose, where, until.UTC().Format("2006-01-02 15:04")))
		} else {
			s.log.Warn("code lock mail", "member", c.memberID, "err", err)
		}
		if lockErr == nil {
			lockErr = codesLockedError(d)
		}
	}
	return lockErr
}

// confirmationBudget refuses a new confirmation or login challenge when
// the member's code entry is locked where the request comes from, or when
// they were given too many lately there: each one may send an SMS or
// offer fresh guesses. The count is taken before the confirmation is
// made, so parallel requests cannot pass it together.
// Errors: ERATELIMITED.
func (s *Service) confirmationBudget(ctx context.Context, memberID string) error {
	b := s.cfg.CodeBudget
	scope := s.codeScope(ctx, memberID)
	if err := s.codeLocked(ctx, memberID, scope); err != nil {
		return err
	}
	now := s.now()
	key := confirmKey(memberID, scope)
	n, err := s.store.AddAttempt(ctx, key, now, now.Add(-b.Window))
	if err != nil {
		return err
	}
	if n > b.MaxConfirmations {
		if err := s.store.RemoveAttempt(context.WithoutCancel(ctx), key, now); err != nil {
			s.log.Warn("give back a confirmation attempt", "member", memberID, "err", err)
		}
		return &coffer.Error{Code: coffer.ERATELIMITED,
			Message: "Too many confirmations were asked for lately; wait a few minutes and try again.",
			Err:     &RateLimitError{RetryAfter: b.Window / 3}}
	}
	return nil
}
