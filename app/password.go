package app

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/password"
)

// AuditPasswordChanged is the security-log event of a password change; its
// detail names the address, the session that made the change and how many
// other sessions it ended.
const AuditPasswordChanged = "password.changed"

// ErrWrongPassword answers a password change whose current password is
// wrong.
var ErrWrongPassword = coffer.Errorf(coffer.EUNAUTHORIZED, "The current password is wrong; the password was not changed.")

// ChangePassword replaces the member's password. Only a password session
// may do it (sessionID names it); the current password must be given, and
// a wrong one counts as a failed login of the member, so that the change
// cannot be used to guess it. Every other session of the member ends; the
// one making the change stays open.
// Errors: EFORBIDDEN (not a session), EUNAUTHORIZED (wrong current
// password), ERATELIMITED, EWEAKPASSWORD (too weak, or the same as now).
func (s *Service) ChangePassword(ctx context.Context, a Actor, sessionID, current, next string) error {
	if a.Method != "session" || sessionID == "" {
		return coffer.Errorf(coffer.EFORBIDDEN, "Changing the password needs a password session; log in with your password.")
	}
	now := s.now()
	memberKey := MemberKey(a.MemberID)
	if ok, wait := s.Throttle.Allow(memberKey, a.IP, now); !ok {
		s.cfg.Hasher.DummyVerify(current)
		return &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many wrong passwords; wait and try again.", Err: &RateLimitError{RetryAfter: wait}}
	}
	m, err := s.store.MemberByLogin(ctx, a.MemberID)
	if err != nil {
		return err
	}
	ok := false
	if len(current) <= 4096 {
		if ok, _, err = s.cfg.Hasher.Verify(current, m.PasswordHash); err != nil {
			return err
		}
	} else {
		s.cfg.Hasher.DummyVerify(current[:4096])
	}
	if !ok {
		s.Throttle.Failure(memberKey, a.IP, now)
		s.audit(ctx, coffer.AuditLoginFailed, a.MemberID, a.detail(map[string]any{"during": "password change"}))
		return ErrWrongPassword
	}
	if err := password.Check(next); err != nil {
		return weakPassword(err)
	}
	if next == current {
		return coffer.Errorf(coffer.EWEAKPASSWORD, "The new password is the same as the current one; choose another.")
	}
	h, err := s.cfg.Hasher.Hash(next)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, a.MemberID, h); err != nil {
		return err
	}
	ended, err := s.endOtherSessions(ctx, a.MemberID, sessionID)
	if err != nil {
		// The password is changed; a session left over still ends by
		// itself. Say so in the log rather than failing the change.
		s.log.Warn("end sessions after password change", "member", a.MemberID, "err", err)
	}
	s.audit(ctx, AuditPasswordChanged, a.MemberID, a.detail(map[string]any{"session_id": sessionID, "sessions_ended": ended}))
	s.securityMail(ctx, a.MemberID, "coffer: your password was changed",
		fmt.Sprintf("The password of your account was changed at %s from %s; %d other session(s) were ended.\n",
			now.Format(time.RFC3339), a.IP, ended))
	return nil
}

// endOtherSessions deletes every session of the member but keep, and
// drops them from the session cache. It returns how many it ended.
func (s *Service) endOtherSessions(ctx context.Context, memberID, keep string) (int, error) {
	all, err := s.store.Sessions(ctx, memberID)
	ended := 0
	for _, x := range all {
		if err != nil {
			break
		}
		if x.ID == keep {
			continue
		}
		if err = s.store.DeleteSession(ctx, memberID, x.ID); coffer.ErrorCode(err) == coffer.ENOTFOUND {
			err = nil
		}
		if err == nil {
			ended++
		}
	}
	s.sessMu.Lock()
	for k, c := range s.sessions {
		if c.s.MemberID == memberID && c.s.ID != keep {
			delete(s.sessions, k)
		}
	}
	s.sessMu.Unlock()
	return ended, err
}
