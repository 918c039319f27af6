package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/coffer-money/coffer"
)

// Unblock codes: e-mailed after a login with the right password from outside
// the allowed ranges; valid for a short time and a few tries.
const (
	unblockTTL         = 15 * time.Minute
	unblockMaxAttempts = 5
	ipRefusalAuditGap  = time.Minute // one ip.refused event per member and address per gap
)

// errIPNotAllowed is the one answer for a request from outside the allowed
// ranges. A password login gets it for any password, so it tells nothing
// about the password.
var errIPNotAllowed = coffer.Errorf(coffer.EIPNOTALLOWED, "Your account does not allow access from this address. If the password was right, an unblock code was sent to your e-mail address.")

// CheckIP refuses a request authenticated by method ("session",
// "signature", "certificate") for a member whose allowed IP ranges do not
// hold ip. Errors: EIPNOTALLOWED.
func (s *Service) CheckIP(ctx context.Context, memberID, ip, method string) error {
	st, err := s.settings(ctx, memberID)
	if err != nil {
		return err
	}
	if coffer.IPAllowed(st.st.IPRanges, ip) {
		return nil
	}
	s.ipRefused(ctx, memberID, ip, method, st)
	return coffer.Errorf(coffer.EIPNOTALLOWED, "Your account does not allow access from this address.")
}

// ipRefused records a refusal, at most once a minute per member and address
// so that a client retrying in a loop cannot flood the security log.
func (s *Service) ipRefused(ctx context.Context, memberID, ip, method string, st *cachedSettings) {
	key := memberID + " " + ip
	now := s.now()
	s.set.mu.Lock()
	last, ok := s.set.refused[key]
	if !ok || now.Sub(last) >= ipRefusalAuditGap {
		if len(s.set.refused) > 10000 {
			clear(s.set.refused)
		}
		s.set.refused[key] = now
	}
	s.set.mu.Unlock()
	if ok && now.Sub(last) < ipRefusalAuditGap {
		return
	}
	s.audit(ctx, coffer.AuditIPRefused, memberID, map[string]any{"ip": ip, "method": method})
	if st.st.Notify.Security && method != "password" {
		s.mail(st.email, "coffer: access refused from "+ip,
			fmt.Sprintf("A request for member %s with method %q came from %s, outside your allowed IP ranges, and was refused.\n", memberID, method, ip))
	}
}

// loginIPCheck runs in Login after the password check, for any password:
// from outside the ranges the answer is the same whether the password was
// right or not; only with the right one is an unblock code mailed.
func (s *Service) loginIPCheck(ctx context.Context, login string, m *coffer.Member, ip string, passwordOK bool) error {
	st, err := s.settings(ctx, m.ID)
	if err != nil {
		return err
	}
	if coffer.IPAllowed(st.st.IPRanges, ip) {
		return nil
	}
	s.ipRefused(ctx, m.ID, ip, "password", st)
	if passwordOK {
		s.sendUnblock(ctx, m, ip)
	} else {
		// Still a wrong guess: counted and logged as one.
		now := s.now()
		s.Throttle.Failure(login, ip, now)
		s.Throttle.Failure(MemberKey(m.ID), ip, now)
		s.audit(ctx, coffer.AuditLoginFailed, m.ID, map[string]any{"ip": ip, "method": "password", "reason": "ip_not_allowed"})
	}
	return errIPNotAllowed
}

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

func hashCode(memberID, code string) []byte {
	h := sha256.Sum256([]byte("coffer-unblock\x00" + memberID + "\x00" + code))
	return h[:]
}

func (s *Service) sendUnblock(ctx context.Context, m *coffer.Member, ip string) {
	if m.Email == "" || s.cfg.Mail == nil {
		s.log.Info("unblock code not sent: no e-mail address or mail adapter", "member", m.ID)
		return
	}
	code := randomDigits(8)
	id := make([]byte, 12)
	rand.Read(id)
	now := s.now()
	u := &coffer.Unblock{ID: hex.EncodeToString(id), MemberID: m.ID, IP: ip, CodeHash: hashCode(m.ID, code),
		CreatedAt: now, ExpiresAt: now.Add(unblockTTL)}
	if err := s.store.CreateUnblock(ctx, u); err != nil {
		s.log.Error("create unblock code", "member", m.ID, "err", err)
		return
	}
	s.audit(ctx, coffer.AuditUnblockSent, m.ID, map[string]any{"ip": ip, "method": "password"})
	s.mail(m.Email, "coffer: unblock code for "+ip,
		fmt.Sprintf("Someone logged in to member %s with the right password from %s, which your allowed IP ranges do not include.\n\n"+
			"If it was you, enter this code from that address within 15 minutes to allow it:\n\n    %s\n\n"+
			"(coffer security unblock --member %s --code %s)\n\nIf it was not you, change your password now.\n",
			m.ID, ip, code, m.ID, code))
}

// Unblock adds ip, as a single address, to a member's allowed ranges when
// code is a live unblock code mailed for a login from that address.
// Errors: EUNAUTHORIZED (a wrong, used or expired code; the same answer for
// an unknown member), ERATELIMITED, ELIMITEXCEEDED.
func (s *Service) Unblock(ctx context.Context, memberID, code, ip string) error {
	bad := coffer.Errorf(coffer.EUNAUTHORIZED, "The unblock code is wrong, used or expired.")
	now := s.now()
	if ok, wait := s.Throttle.Allow("unblock:"+memberID, ip, now); !ok {
		return &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many attempts; wait and try again.", Err: &RateLimitError{RetryAfter: wait}}
	}
	if !coffer.ValidMemberID(memberID) || len(code) > 64 {
		return bad
	}
	live, err := s.store.LiveUnblocks(ctx, memberID, ip, now, unblockMaxAttempts)
	if err != nil {
		return err
	}
	h := hashCode(memberID, code)
	for _, u := range live {
		if subtle.ConstantTimeCompare(u.CodeHash, h) != 1 {
			continue
		}
		ok, err := s.store.UseUnblock(ctx, u.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		prefix, err := coffer.SingleIPRange(ip)
		if err != nil {
			return err
		}
		if err := s.store.AddIPRange(ctx, memberID, prefix, now); errors.Is(err, coffer.ErrIPRangesFull) {
			return coffer.Errorf(coffer.ELIMITEXCEEDED, "The list of IP ranges is full.")
		} else if err != nil {
			return err
		}
		s.forgetSettings(memberID)
		s.audit(ctx, coffer.AuditUnblockUsed, memberID, map[string]any{"ip": ip, "method": "unblock_code", "added": prefix})
		s.securityMail(ctx, memberID, "coffer: address "+ip+" allowed", "The address "+ip+" was added to your allowed IP ranges with an unblock code.\n")
		return nil
	}
	s.Throttle.Failure("unblock:"+memberID, ip, now)
	if len(live) > 0 {
		if err := s.store.FailUnblock(ctx, memberID, ip); err != nil {
			return err
		}
		s.audit(ctx, coffer.AuditUnblockFailed, memberID, map[string]any{"ip": ip, "method": "unblock_code"})
	}
	return bad
}
