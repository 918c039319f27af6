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

// codeGate refuses code entry for a member whose codes are locked. It is
// checked before a code is compared, so the right code is refused too.
// Errors: ERATELIMITED.
func (s *Service) codeGate(ctx context.Context, memberID string) error {
	l, err := s.store.CodeLock(ctx, memberID)
	if err != nil {
		return err
	}
	if now := s.now(); now.Before(l.Until) {
		return codesLockedError(l.Until.Sub(now))
	}
	return nil
}

// codeFailed counts a wrong code against the member's budget and locks
// code entry when the budget is spent: the lock is an audit event and the
// member is told by e-mail. It returns the lock's error when this failure
// set one.
func (s *Service) codeFailed(ctx context.Context, memberID, purpose string) error {
	b := s.cfg.CodeBudget
	now := s.now()
	l, err := s.store.CodeLock(ctx, memberID)
	if err != nil {
		return err
	}
	// Failures before the last lock ended were paid for by that lock.
	since := now.Add(-b.Window)
	if l.Until.After(since) {
		since = l.Until
	}
	n, err := s.store.AddCodeFailure(ctx, memberID, now, since)
	if err != nil {
		return err
	}
	// The member's password throttle counts it too: a thief who has the
	// password gains no fresh guesses by logging in again.
	s.Throttle.MemberFailure(memberID, clientIPOf(ctx), now)
	if n < b.MaxFailures {
		return nil
	}
	strikes := 1
	if !l.Until.IsZero() && now.Sub(l.Until) < 24*time.Hour {
		strikes = l.Strikes + 1
	}
	d := b.lockDuration(strikes)
	until := now.Add(d)
	ev := coffer.NewAuditEvent(now, coffer.AuditCodesLocked, memberID,
		map[string]any{"failures": n, "until": until.UTC().Format(time.RFC3339), "strikes": strikes, "purpose": purpose})
	if err := s.store.SetCodeLock(ctx, memberID, coffer.CodeLock{Until: until, Strikes: strikes}, ev); err != nil {
		return err
	}
	if st, err := s.settings(ctx, memberID); err == nil {
		s.mail(st.email, "coffer: code entry locked after wrong codes",
			fmt.Sprintf("%d wrong one-time codes were typed for member %s within %s (the last for a %s).\n"+
				"Entering codes is locked until %s UTC; every code is refused until then.\n\n"+
				"If this was not you, someone has your password or a session of yours: change your password and end your other sessions.\n",
				n, memberID, b.Window, purpose, until.UTC().Format("2006-01-02 15:04")))
	} else {
		s.log.Warn("code lock mail", "member", memberID, "err", err)
	}
	return codesLockedError(d)
}

// confirmationBudget refuses a new confirmation or login challenge when
// the member was given too many lately: each one sends an SMS or offers
// fresh guesses. Errors: ERATELIMITED.
func (s *Service) confirmationBudget(ctx context.Context, memberID string) error {
	if err := s.codeGate(ctx, memberID); err != nil {
		return err
	}
	b := s.cfg.CodeBudget
	n, err := s.store.CountConfirmations(ctx, memberID, s.now().Add(-b.Window))
	if err != nil {
		return err
	}
	if n >= b.MaxConfirmations {
		return &coffer.Error{Code: coffer.ERATELIMITED,
			Message: "Too many confirmations were asked for lately; wait a few minutes and try again.",
			Err:     &RateLimitError{RetryAfter: b.Window / 3}}
	}
	return nil
}
