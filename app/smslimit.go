package app

import (
	"context"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
)

// SMSLimits bound the text messages the service sends, against SMS
// pumping: members (new ones cost nothing) or strangers at the login
// making the server text numbers, premium-rate ones included, at the
// operator's expense. A zero field takes its default; a negative one
// means no bound.
type SMSLimits struct {
	PerMemberHour int // SMS for one member in any hour; default 10
	PerNumberHour int // SMS to one number in any hour; default 5
	PerIPHour     int // SMS caused from one client address in any hour; default 20
	PerDay        int // all SMS in any 24 hours; default 1000
	// YoungPhone is how long after its verification a phone's codes count
	// in the half of PerDay that enrolments have; default 7 days.
	YoungPhone time.Duration
}

func (l SMSLimits) withDefaults() SMSLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.PerMemberHour, 10)
	def(&l.PerNumberHour, 5)
	def(&l.PerIPHour, 20)
	def(&l.PerDay, 1000)
	if l.YoungPhone == 0 {
		l.YoungPhone = smsYoungPhone
	}
	return l
}

// What FactorConfig.SMSObserver is told of each SMS: sent, failed at the
// gateway, or refused by one of the limits (checked in this order).
const (
	SMSSent         = "sent"
	SMSFailed       = "failed"
	SMSLimitMember  = "limit_member"
	SMSLimitNumber  = "limit_number"
	SMSLimitAddress = "limit_address"
	SMSLimitPerDay  = "limit_day"
)

const smsSweepInterval = time.Minute

// smsYoungPhone is how long after its verification a phone's codes count
// in the half of the daily cap that enrolments have, not in the whole.
const smsYoungPhone = 7 * 24 * time.Hour

type clientIPKey struct{}

// WithClientIP returns ctx carrying the client's address, for the limits
// of what a request may cause (SMS per address). The HTTP layers set it
// once per request.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// clientIPOf is the address WithClientIP put in ctx, or "".
func clientIPOf(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// smsLimiter keeps, per member, number and address and for all, when the
// SMS of the last window were sent: sliding windows, so a burst at the
// end of one hour is not followed by another at the start of the next.
//
// SMS to a number being enrolled, which anyone may type, are counted
// apart from those to a member's verified phone: a stranger enrolling
// someone's number again and again spends the budget of enrolments to
// that number, not the owner's budget for their own codes; and
// enrolments, and codes to phones verified in the last week, may take at
// most half the daily cap, so that throwaway accounts (verifying numbers
// of their own) cannot starve every member's codes.
type smsLimiter struct {
	mu        sync.Mutex
	member    map[string][]time.Time
	number    map[string][]time.Time // "new:" or "own:" + number
	ip        map[string][]time.Time
	day       map[string][]time.Time // "all", and "new" for enrolments
	lastSweep time.Time
}

// smsKind is one limit: its log, its bound and its window.
type smsKind struct {
	log    map[string][]time.Time
	key    string
	n      int
	window time.Duration
	reason string
}

// take records an SMS for member to number from ip when every limit
// allows it (record false only checks), and otherwise records nothing and
// returns the first limit that refuses it and how long until all refusing
// limits allow it. enrol says number is not verified yet.
// young says number was verified lately (see smsYoungPhone): its codes
// share the half of the daily cap that enrolments have.
func (l *smsLimiter) take(lim SMSLimits, member, number, ip string, enrol, young bool, now time.Time, record bool) (string, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.member == nil {
		l.member, l.number, l.ip, l.day = map[string][]time.Time{}, map[string][]time.Time{}, map[string][]time.Time{}, map[string][]time.Time{}
	}
	l.sweep(now)
	class := "own:"
	if enrol {
		class = "new:"
	}
	kinds := []smsKind{
		{l.member, member, lim.PerMemberHour, time.Hour, SMSLimitMember},
		{l.number, class + number, lim.PerNumberHour, time.Hour, SMSLimitNumber},
		{l.ip, AddrKey(ip), lim.PerIPHour, time.Hour, SMSLimitAddress},
		{l.day, "all", lim.PerDay, 24 * time.Hour, SMSLimitPerDay},
	}
	if enrol || young {
		half := -1
		if lim.PerDay > 0 {
			half = max(lim.PerDay/2, 1)
		}
		kinds = append(kinds, smsKind{l.day, "new", half, 24 * time.Hour, SMSLimitPerDay})
	}
	reason, wait := "", time.Duration(0)
	for i := range kinds {
		k := &kinds[i]
		if k.key == "" || k.n < 0 {
			continue
		}
		ts := prune(k.log[k.key], now.Add(-k.window))
		if len(ts) == 0 {
			delete(k.log, k.key)
		} else {
			k.log[k.key] = ts
		}
		if len(ts) < k.n {
			continue
		}
		if reason == "" {
			reason = k.reason
		}
		// The count falls below n when its n-th newest entry leaves.
		if k.n > 0 {
			wait = max(wait, ts[len(ts)-k.n].Add(k.window).Sub(now))
		} else {
			wait = max(wait, k.window)
		}
	}
	if reason != "" || !record {
		return reason, wait
	}
	for _, k := range kinds {
		if k.key != "" && k.n >= 0 {
			k.log[k.key] = append(k.log[k.key], now)
		}
	}
	return "", 0
}

// prune drops the times at or before since from the front of ts.
func prune(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(since) {
		i++
	}
	if i == len(ts) {
		return nil
	}
	return ts[i:]
}

// sweep forgets keys with nothing in the last hour, so that memory stays
// bounded by what the limits let through. The day's two logs are pruned
// by take.
func (l *smsLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < smsSweepInterval {
		return
	}
	l.lastSweep = now
	for _, m := range []map[string][]time.Time{l.member, l.number, l.ip} {
		for k, ts := range m {
			if len(ts) == 0 || !ts[len(ts)-1].After(now.Add(-time.Hour)) {
				delete(m, k)
			}
		}
	}
}

func errSMSLimited(wait time.Duration) error {
	// One message for every limit: which one refused would tell a member
	// how many SMS another member's number received.
	return &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many text messages were asked for; try again later or use a code generator.",
		Err: &RateLimitError{RetryAfter: wait}}
}

// smsAllowed checks, without counting, that an SMS for member to a number
// being enrolled, from the request's address, would be within the limits,
// so that the enrolment is refused before anything is stored.
func (s *Service) smsAllowed(ctx context.Context, memberID, to string) error {
	if s.cfg.Factors.SMS == nil {
		return nil
	}
	if reason, wait := s.fac.sms.take(s.cfg.Factors.SMSLimits.withDefaults(), memberID, to, clientIPOf(ctx), true, false, s.now(), false); reason != "" {
		s.smsRefused(ctx, reason, memberID)
		return errSMSLimited(wait)
	}
	return nil
}

func (s *Service) smsRefused(ctx context.Context, reason, memberID string) {
	if s.cfg.Factors.SMSObserver != nil {
		s.cfg.Factors.SMSObserver(reason)
	}
	s.log.Warn("sms refused", "limit", reason, "member", memberID, "ip", clientIPOf(ctx))
}

// sendSMS texts the member's verified phone, within the SMS limits.
// Errors: ERATELIMITED (with *RateLimitError), EUNAVAILABLE.
func (s *Service) sendSMS(ctx context.Context, memberID, to, text string) error {
	return s.text(ctx, memberID, to, text, false)
}

// text sends an SMS on behalf of member; enrol says to is a number being
// enrolled, not yet verified. The limits are checked before the send and
// only messages handed to the gateway count.
func (s *Service) text(ctx context.Context, memberID, to, text string, enrol bool) error {
	if s.cfg.Factors.SMS == nil {
		return nil
	}
	observe := s.cfg.Factors.SMSObserver
	if observe == nil {
		observe = func(string) {}
	}
	young := false
	if !enrol {
		// A phone verified lately (or not the member's verified one) has
		// not earned a share of the whole day's cap: throwaway accounts
		// verifying the attacker's own numbers would spend it for all.
		m, err := s.memberFactors(ctx, memberID)
		young = err != nil || m.phone == nil || m.phone.Phone != to || s.now().Sub(m.phone.VerifiedAt) < s.cfg.Factors.SMSLimits.withDefaults().YoungPhone
	}
	if reason, wait := s.fac.sms.take(s.cfg.Factors.SMSLimits.withDefaults(), memberID, to, clientIPOf(ctx), enrol, young, s.now(), true); reason != "" {
		s.smsRefused(ctx, reason, memberID)
		return errSMSLimited(wait)
	}
	if err := s.cfg.Factors.SMS.Send(ctx, to, text); err != nil {
		observe(SMSFailed)
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The SMS could not be sent; try again later.", Err: err}
	}
	observe(SMSSent)
	return nil
}
