package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/mail"
)

// Mailer queues e-mail without waiting for it to be sent; false means the
// message was dropped. *mail.Queue is one.
type Mailer interface {
	Enqueue(m mail.Message) bool
}

// settingsCacheTTL bounds how long settings read from the store are used for
// the checks on every request. Changes made through this process take effect
// at once; those made by another process within this time.
const settingsCacheTTL = 5 * time.Second

// settingsState is the service's part for security settings.
type settingsState struct {
	mu      sync.Mutex
	cache   map[string]*cachedSettings
	refused map[string]time.Time // last ip.refused event per "member ip"
	notes   chan []coffer.Applied
}

type cachedSettings struct {
	st    *coffer.MemberSettings
	email string
	at    time.Time
}

// initSettings sets up the settings cache and, with an engine and a mailer,
// the background notifier of incoming payments.
func (s *Service) initSettings() {
	s.set.cache = map[string]*cachedSettings{}
	s.set.refused = map[string]time.Time{}
	if s.engine == nil || s.cfg.Mail == nil {
		return
	}
	s.set.notes = make(chan []coffer.Applied, 256)
	s.engine.OnApplied(func(batch []coffer.Applied) {
		select {
		case s.set.notes <- batch:
		default:
			s.log.Warn("payment notifications dropped: queue full", "transfers", len(batch))
		}
	})
	go s.notifyPayments()
}

// notifyPayments mails payees who asked for it, off the engine's path.
func (s *Service) notifyPayments() {
	ctx := context.Background()
	for batch := range s.set.notes {
		for _, a := range batch {
			t := a.T
			st, err := s.settings(ctx, t.Payee)
			if err != nil || !st.st.Notify.IncomingPayment || st.email == "" {
				continue
			}
			d := s.Decimals(ctx, t.Currency)
			s.mail(st.email, fmt.Sprintf("coffer: %s %s received", coffer.FormatAmount(t.Amount, d), t.Currency),
				fmt.Sprintf("Purse %s received %s %s from purse %s (transfer %s).\nBalance now: %s %s.\n",
					t.To, coffer.FormatAmount(t.Amount, d), t.Currency, t.From, t.TransferID, coffer.FormatAmount(a.ToAfter, d), t.Currency))
		}
	}
}

// settings returns a member's settings and e-mail address through the cache.
func (s *Service) settings(ctx context.Context, memberID string) (*cachedSettings, error) {
	now := s.now()
	s.set.mu.Lock()
	c := s.set.cache[memberID]
	s.set.mu.Unlock()
	if c != nil && now.Sub(c.at) < settingsCacheTTL && !now.Before(c.at) {
		return c, nil
	}
	st, err := s.store.Settings(ctx, memberID)
	if err != nil {
		return nil, err
	}
	c = &cachedSettings{st: st, at: now}
	if m, err := s.store.MemberByLogin(ctx, memberID); err == nil {
		c.email = m.Email
	}
	s.set.mu.Lock()
	if len(s.set.cache) > 100000 {
		clear(s.set.cache)
	}
	s.set.cache[memberID] = c
	s.set.mu.Unlock()
	return c, nil
}

func (s *Service) forgetSettings(memberID string) {
	s.set.mu.Lock()
	delete(s.set.cache, memberID)
	s.set.mu.Unlock()
}

// mail queues a message; nothing happens without an address or a mailer.
func (s *Service) mail(to, subject, body string) {
	if to == "" || s.cfg.Mail == nil {
		return
	}
	s.cfg.Mail.Enqueue(mail.Message{To: to, Subject: subject, Body: body})
}

// securityMail tells a member who wants security notifications.
func (s *Service) securityMail(ctx context.Context, memberID, subject, body string) {
	st, err := s.settings(ctx, memberID)
	if err != nil || !st.st.Notify.Security {
		return
	}
	s.mail(st.email, subject, body+"\nMember: "+memberID+"\nIf this was not you, log in and review your security settings now.\n")
}

// loginSucceeded records the address of a successful login and, when it is
// new and the member wants it, mails a notice.
func (s *Service) loginSucceeded(ctx context.Context, memberID, ip, method string) {
	first, err := s.store.SeenIP(ctx, memberID, ip, s.now())
	if err != nil {
		s.log.Warn("record login address", "member", memberID, "err", err)
		return
	}
	if !first {
		return
	}
	st, err := s.settings(ctx, memberID)
	if err != nil || !st.st.Notify.Login {
		return
	}
	s.mail(st.email, "coffer: login from a new address "+ip,
		fmt.Sprintf("Member %s logged in with method %q from %s, an address not seen before, at %s.\nIf this was not you, change your password and revoke the session now.\n",
			memberID, method, ip, s.now().Format(time.RFC3339)))
}

// Actor is who changes a setting, how they authenticated and from where,
// with the confirmation they sent.
type Actor struct {
	MemberID string
	IP       string
	Method   string // "session", "signature" or "certificate"
	Proof    string // the Coffer-Confirmation header
}

func (a Actor) detail(more map[string]any) map[string]any {
	d := map[string]any{"ip": a.IP, "method": a.Method}
	for k, v := range more {
		d[k] = v
	}
	return d
}

// Settings returns the member's security settings. Errors: none expected.
func (s *Service) Settings(ctx context.Context, memberID string) (*coffer.MemberSettings, error) {
	return s.store.Settings(ctx, memberID)
}

// SetIPRanges replaces the member's allowed IP ranges (empty: anywhere).
// A list that would shut out the address making the change is refused.
// Errors: EINVALID, ECONFIRMATIONREQUIRED (from RequireConfirmation).
func (s *Service) SetIPRanges(ctx context.Context, a Actor, ranges []string) ([]string, error) {
	list, err := coffer.ParseIPRanges(ranges)
	if err != nil {
		return nil, err
	}
	if !coffer.IPAllowed(list, a.IP) {
		return nil, coffer.Errorf(coffer.EINVALID, "The ranges do not include your current address %s; you would lock yourself out.", a.IP)
	}
	if err := s.RequireConfirmation(ctx, a.MemberID, Change{Action: "ip_ranges.set", Summary: ipRangesSummary(list), Values: list}, a.Proof); err != nil {
		return nil, err
	}
	old, err := s.store.Settings(ctx, a.MemberID)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetIPRanges(ctx, a.MemberID, list, s.now()); err != nil {
		return nil, err
	}
	s.forgetSettings(a.MemberID)
	s.audit(ctx, coffer.AuditIPRangesChanged, a.MemberID, a.detail(map[string]any{"old": old.IPRanges, "new": list}))
	desc := "anywhere"
	if len(list) > 0 {
		desc = strings.Join(list, ", ")
	}
	s.securityMail(ctx, a.MemberID, "coffer: allowed IP ranges changed", fmt.Sprintf("Your account may now be used from: %s.\nChanged from %s (%s).\n", desc, a.IP, a.Method))
	return list, nil
}

// SetNotifications stores which e-mails the member wants.
// Errors: ECONFIRMATIONREQUIRED.
func (s *Service) SetNotifications(ctx context.Context, a Actor, n coffer.Notifications) error {
	if err := s.RequireConfirmation(ctx, a.MemberID, Change{Action: "notifications.set", Summary: "change your e-mail notifications", Values: n}, a.Proof); err != nil {
		return err
	}
	old, err := s.settings(ctx, a.MemberID)
	if err != nil {
		return err
	}
	if err := s.store.SetNotifications(ctx, a.MemberID, n, s.now()); err != nil {
		return err
	}
	s.forgetSettings(a.MemberID)
	s.audit(ctx, coffer.AuditNotificationsChanged, a.MemberID, a.detail(map[string]any{
		"login": n.Login, "incoming_payment": n.IncomingPayment, "security": n.Security}))
	// Told under the old choice, so turning security notices off is
	// itself noticed.
	if old.st.Notify.Security {
		s.mail(old.email, "coffer: notification settings changed",
			fmt.Sprintf("Member %s now gets e-mail for: login %v, incoming payments %v, security %v.\nChanged from %s (%s).\n",
				a.MemberID, n.Login, n.IncomingPayment, n.Security, a.IP, a.Method))
	}
	return nil
}

// LimitsView is a purse's limits with what they leave for now.
type LimitsView struct {
	Purse                  string
	Currency               string
	Decimals               int
	Limits                 coffer.PurseLimits
	SpentToday, SpentMonth int64
	RemainingToday         *int64 // nil: no daily (or monthly) limit binds
	RemainingMonth         *int64
}

// PurseLimits returns the outgoing limits of one of the member's purses
// with today's and this month's spending (UTC).
// Errors: EPURSENOTFOUND.
func (s *Service) PurseLimits(ctx context.Context, memberID, purse string) (*LimitsView, error) {
	p, err := s.Purse(ctx, memberID, purse)
	if err != nil {
		return nil, err
	}
	lim, err := s.store.PurseLimits(ctx, p.Number)
	if err != nil {
		return nil, err
	}
	v := &LimitsView{Purse: p.Number, Currency: p.Currency, Decimals: s.Decimals(ctx, p.Currency)}
	if lim != nil {
		v.Limits = *lim
	}
	v.Limits.Purse = p.Number
	if v.SpentToday, v.SpentMonth, err = s.store.PurseSpend(ctx, p.Number, s.now()); err != nil {
		return nil, err
	}
	left := func(limit *int64, spent int64) *int64 {
		if limit == nil {
			return nil
		}
		x := max(*limit-spent, 0)
		return &x
	}
	v.RemainingMonth = left(v.Limits.PerMonth, v.SpentMonth)
	v.RemainingToday = left(v.Limits.PerDay, v.SpentToday)
	if v.RemainingMonth != nil && (v.RemainingToday == nil || *v.RemainingMonth < *v.RemainingToday) {
		x := *v.RemainingMonth
		v.RemainingToday = &x
	}
	return v, nil
}

// LimitsInput are new limits as decimal strings; nil removes a limit.
type LimitsInput struct {
	PerTransfer, PerDay, PerMonth *string
}

// raises reports whether going from old to new lets more money out.
func raises(old, new *int64) bool {
	return new == nil && old != nil || new != nil && old != nil && *new > *old
}

// SetPurseLimits replaces the outgoing limits of one of the member's
// purses. Lowering or adding a limit takes effect at once without
// confirmation; raising or removing one needs it.
// Errors: EPURSENOTFOUND, EINVALIDAMOUNT, ECONFIRMATIONREQUIRED.
func (s *Service) SetPurseLimits(ctx context.Context, a Actor, purse string, in LimitsInput) (*LimitsView, error) {
	p, err := s.Purse(ctx, a.MemberID, purse)
	if err != nil {
		return nil, err
	}
	d := s.Decimals(ctx, p.Currency)
	parse := func(name string, v *string) (*int64, error) {
		if v == nil {
			return nil, nil
		}
		x, err := coffer.ParseLimit(*v, d)
		if err != nil {
			return nil, coffer.Errorf(coffer.EINVALIDAMOUNT, "%s must be a non-negative decimal string such as \"100.00\", or null.", name)
		}
		return &x, nil
	}
	n := &coffer.PurseLimits{Purse: p.Number}
	if n.PerTransfer, err = parse("per_transfer", in.PerTransfer); err != nil {
		return nil, err
	}
	if n.PerDay, err = parse("per_day", in.PerDay); err != nil {
		return nil, err
	}
	if n.PerMonth, err = parse("per_month", in.PerMonth); err != nil {
		return nil, err
	}
	old, err := s.store.PurseLimits(ctx, p.Number)
	if err != nil {
		return nil, err
	}
	if old == nil {
		old = &coffer.PurseLimits{}
	}
	if raises(old.PerTransfer, n.PerTransfer) || raises(old.PerDay, n.PerDay) || raises(old.PerMonth, n.PerMonth) {
		if err := s.RequireConfirmation(ctx, a.MemberID, Change{Action: "limits.raise", Summary: "raise the limits of purse " + p.Number, Values: n}, a.Proof); err != nil {
			return nil, err
		}
	}
	if err := s.store.SetPurseLimits(ctx, n, s.now()); err != nil {
		return nil, err
	}
	f := func(v *int64) any {
		if v == nil {
			return nil
		}
		return coffer.FormatAmount(*v, d)
	}
	s.audit(ctx, coffer.AuditLimitsChanged, a.MemberID, a.detail(map[string]any{"purse": p.Number,
		"per_transfer": f(n.PerTransfer), "per_day": f(n.PerDay), "per_month": f(n.PerMonth),
		"old_per_transfer": f(old.PerTransfer), "old_per_day": f(old.PerDay), "old_per_month": f(old.PerMonth)}))
	show := func(v *int64) string {
		if v == nil {
			return "none"
		}
		return coffer.FormatAmount(*v, d) + " " + p.Currency
	}
	s.securityMail(ctx, a.MemberID, "coffer: limits of purse "+p.Number+" changed",
		fmt.Sprintf("Purse %s now has limits per transfer %s, per day %s, per month %s.\nChanged from %s (%s).\n",
			p.Number, show(n.PerTransfer), show(n.PerDay), show(n.PerMonth), a.IP, a.Method))
	return s.PurseLimits(ctx, a.MemberID, p.Number)
}

// unknownDevice reports whether a login from ip needs activation: the member
// turned new-device confirmation on and has never logged in from ip.
func (s *Service) unknownDevice(ctx context.Context, memberID, ip string) (bool, error) {
	st, err := s.settings(ctx, memberID)
	if err != nil {
		return false, err
	}
	if !st.st.NewDeviceConfirmation {
		return false, nil
	}
	known, err := s.store.KnownIP(ctx, memberID, ip)
	return !known, err
}

// SetNewDeviceConfirmation turns new-device activation on or off: with it
// on, a login from an address the member never logged in from needs a
// one-time code from an enrolled factor even when the password alone is
// otherwise enough. Turning it on needs an enrolled factor; both ways need
// a confirmation. Errors: EINVALID, ECONFIRMATIONREQUIRED.
func (s *Service) SetNewDeviceConfirmation(ctx context.Context, a Actor, on bool) error {
	if on {
		m, err := s.memberFactors(ctx, a.MemberID)
		if err != nil {
			return err
		}
		if !m.any() {
			return coffer.Errorf(coffer.EINVALID, "Enrol a second factor (a phone or a code generator) first: activation codes come from it.")
		}
	}
	if err := s.RequireConfirmation(ctx, a.MemberID, Change{Action: "new_device.set", Summary: onOff("new-device confirmation", on), Values: on}, a.Proof); err != nil {
		return err
	}
	if err := s.store.SetNewDeviceConfirmation(ctx, a.MemberID, on, s.now()); err != nil {
		return err
	}
	s.forgetSettings(a.MemberID)
	s.audit(ctx, coffer.AuditNewDeviceChanged, a.MemberID, a.detail(map[string]any{"enabled": on}))
	s.securityMail(ctx, a.MemberID, "coffer: new-device confirmation changed",
		fmt.Sprintf("New-device confirmation is now %v, changed from %s (%s).\n", on, a.IP, a.Method))
	return nil
}
