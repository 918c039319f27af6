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
type smsLimiter struct {
	mu        sync.Mutex
	member    map[string][]time.Time
	number    map[string][]time.Time
	ip        map[string][]time.Time
	all       []time.Time
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
// allows it, and otherwise records nothing and returns the first limit
// that refuses it and how long until all refusing limits allow it.
func (l *smsLimiter) take(lim SMSLimits, member, number, ip string, now time.Time, record bool) (string, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.member == nil {
		l.member, l.number, l.ip = map[string][]time.Time{}, map[string][]time.Time{}, map[string][]time.Time{}
	}
	l.sweep(now)
	kinds := []smsKind{
		{l.member, member, lim.PerMemberHour, time.Hour, SMSLimitMember},
		{l.number, number, lim.PerNumberHour, time.Hour, SMSLimitNumber},
		{l.ip, ip, lim.PerIPHour, time.Hour, SMSLimitAddress},
	}
	reason, wait := "", time.Duration(0)
	refuse := func(ts []time.Time, n int, window time.Duration, why string) {
		if n < 0 || len(ts) < n {
			return
		}
		if reason == "" {
			reason = why
		}
		// The count falls below n when its n-th newest entry leaves.
		wait = max(wait, ts[len(ts)-n].Add(window).Sub(now))
	}
	for i := range kinds {
		k := &kinds[i]
		if k.key == "" {
			continue
		}
		ts := prune(k.log[k.key], now.Add(-k.window))
		if len(ts) == 0 {
			delete(k.log, k.key)
		} else {
			k.log[k.key] = ts
		}
		refuse(ts, k.n, k.window, k.reason)
	}
	l.all = prune(l.all, now.Add(-24*time.Hour))
	refuse(l.all, lim.PerDay, 24*time.Hour, SMSLimitPerDay)
	if reason != "" || !record {
		return reason, wait
	}
	for _, k := range kinds {
		if k.key != "" && k.n >= 0 {
			k.log[k.key] = append(k.log[k.key], now)
		}
	}
	if lim.PerDay >= 0 {
		l.all = append(l.all, now)
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
// bounded by what the limits let through.
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

// smsAllowed checks, without counting, that an SMS for member to number
// from the request's address would be within the limits, so that a
// caller can refuse before it stores anything the SMS belongs to.
func (s *Service) smsAllowed(ctx context.Context, memberID, to string) error {
	if s.cfg.Factors.SMS == nil {
		return nil
	}
	if reason, wait := s.fac.sms.take(s.cfg.Factors.SMSLimits.withDefaults(), memberID, to, clientIPOf(ctx), s.now(), false); reason != "" {
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

// sendSMS texts to on behalf of member, within the SMS limits (checked
// before the send; only messages handed to the gateway count).
// Errors: ERATELIMITED (with *RateLimitError), EUNAVAILABLE.
func (s *Service) sendSMS(ctx context.Context, memberID, to, text string) error {
	if s.cfg.Factors.SMS == nil {
		return nil
	}
	observe := s.cfg.Factors.SMSObserver
	if observe == nil {
		observe = func(string) {}
	}
	if reason, wait := s.fac.sms.take(s.cfg.Factors.SMSLimits.withDefaults(), memberID, to, clientIPOf(ctx), s.now(), true); reason != "" {
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
