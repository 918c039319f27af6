package coffer

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Error codes of the security settings.
const (
	// EIPNOTALLOWED refuses a request from outside the member's allowed IP
	// ranges.
	EIPNOTALLOWED = "ip_not_allowed"
)

// Audit event kinds of the security settings.
const (
	AuditIPRangesChanged      = "ip_ranges.changed"
	AuditIPRefused            = "ip.refused"
	AuditLimitsChanged        = "limits.changed"
	AuditNotificationsChanged = "notifications.changed"
	AuditNewDeviceChanged     = "new_device_confirmation.changed"
	AuditUnblockSent          = "unblock.sent"
	AuditUnblockUsed          = "unblock.used"
	AuditUnblockFailed        = "unblock.failed"
)

// MaxIPRanges bounds a member's list of allowed IP ranges.
const MaxIPRanges = 20

// ErrIPRangesFull is the fact inside SettingsStore.AddIPRange's refusal: the
// member's list already holds MaxIPRanges ranges.
var ErrIPRangesFull = errors.New("coffer: the list of IP ranges is full")

// ParseIPRanges validates and normalises a list of CIDR prefixes (IPv4 or
// IPv6; a bare address means that one address). The result is sorted text
// without duplicates, host bits cleared, IPv4-mapped IPv6 turned into IPv4.
// An empty list means "from anywhere". Errors: EINVALID.
func ParseIPRanges(in []string) ([]string, error) {
	if len(in) > MaxIPRanges {
		return nil, Errorf(EINVALID, "At most %d IP ranges are allowed.", MaxIPRanges)
	}
	seen := map[netip.Prefix]bool{}
	out := make([]string, 0, len(in))
	for _, s := range in {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, Errorf(EINVALID, "%q is not an IP range such as 203.0.113.0/24 or 2001:db8::/32.", truncate(s, 64))
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errBadPrefix
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a := p.Addr()
	bits := p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, errBadPrefix
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

var errBadPrefix = Errorf(EINVALID, "bad prefix")

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// IPAllowed reports whether ip lies in one of ranges (normalised, as
// ParseIPRanges returns them). An empty list allows every address; an
// address that does not parse is allowed only by an empty list.
func IPAllowed(ranges []string, ip string) bool {
	if len(ranges) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, r := range ranges {
		if p, err := netip.ParsePrefix(r); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// SingleIPRange returns the one-address range (/32 or /128) of ip.
// Errors: EINVALID.
func SingleIPRange(ip string) (string, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", Errorf(EINVALID, "%q is not an IP address.", truncate(ip, 64))
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// Notifications says which e-mails a member wants.
type Notifications struct {
	Login           bool // a successful login from an address not seen before
	IncomingPayment bool // money arrived in one of the member's purses
	Security        bool // a security setting changed, an address was refused
}

// DefaultNotifications are the choices of a member who has made none.
var DefaultNotifications = Notifications{Login: true, Security: true}

// MemberSettings are a member's security settings.
type MemberSettings struct {
	MemberID              string
	IPRanges              []string // normalised CIDR prefixes; empty: anywhere
	NewDeviceConfirmation bool     // a login from an unseen address needs an e-mailed code
	Notify                Notifications
	UpdatedAt             time.Time
}

// PurseLimits are the outgoing limits of a purse in minor units; a nil field
// means no limit of that kind. Day and month are UTC calendar periods.
type PurseLimits struct {
	Purse       string
	PerTransfer *int64
	PerDay      *int64
	PerMonth    *int64
	Decimals    int // of the purse's currency, for messages
	UpdatedAt   time.Time
}

// Empty reports whether no limit is set.
func (l *PurseLimits) Empty() bool {
	return l == nil || (l.PerTransfer == nil && l.PerDay == nil && l.PerMonth == nil)
}

// DayKey and MonthKey name the UTC calendar periods that spend counters are
// kept for.
func DayKey(t time.Time) string   { return t.UTC().Format("2006-01-02") }
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }

// DayStart and MonthStart are the beginnings of t's UTC day and month.
func DayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// LimitError is the cause inside an ELIMITEXCEEDED refusal by a purse
// limit: how much may still leave the purse.
type LimitError struct {
	Period    string // "transfer", "day" or "month"
	Remaining int64
	Decimals  int
}

func (e *LimitError) Error() string {
	return "limit " + e.Period + ": remaining " + FormatAmount(e.Remaining, e.Decimals)
}

// Unblock is a code e-mailed after a login from outside the allowed ranges;
// entered from that address it adds the address to the list.
type Unblock struct {
	ID        string
	MemberID  string
	IP        string
	CodeHash  []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	Attempts  int
	Used      bool
}

// SettingsStore keeps the security settings. Every method is one
// transaction.
type SettingsStore interface {
	// Settings returns a member's settings, the defaults when none are
	// saved. Errors: none expected.
	Settings(ctx context.Context, memberID string) (*MemberSettings, error)
	// SetIPRanges replaces the member's allowed ranges (already
	// normalised).
	SetIPRanges(ctx context.Context, memberID string, ranges []string, at time.Time) error
	// AddIPRange adds one normalised range unless it is already listed.
	// Errors: ELIMITEXCEEDED wrapping ErrIPRangesFull when the list already
	// holds MaxIPRanges ranges.
	AddIPRange(ctx context.Context, memberID, prefix string, at time.Time) error
	// SetNotifications stores the member's notification choices.
	SetNotifications(ctx context.Context, memberID string, n Notifications, at time.Time) error
	// SetNewDeviceConfirmation turns activation of unseen addresses on or off.
	SetNewDeviceConfirmation(ctx context.Context, memberID string, on bool, at time.Time) error
	// SeenIP records that the member used ip and reports whether it was the
	// first time.
	SeenIP(ctx context.Context, memberID, ip string, at time.Time) (bool, error)
	// KnownIP reports, without recording anything, whether the member has
	// logged in from ip before.
	KnownIP(ctx context.Context, memberID, ip string) (bool, error)

	// PurseLimits returns a purse's outgoing limits, nil when it has none.
	PurseLimits(ctx context.Context, purse string) (*PurseLimits, error)
	// SetPurseLimits replaces a purse's limits (all nil: removes them) and
	// restarts its spend counters from the history at the time at, so that
	// the ledger sees the change from its next batch.
	SetPurseLimits(ctx context.Context, l *PurseLimits, at time.Time) error
	// PurseSpend returns what left the purse in the UTC day and month of at.
	PurseSpend(ctx context.Context, purse string, at time.Time) (day, month int64, err error)

	// CreateUnblock stores an unblock code.
	CreateUnblock(ctx context.Context, u *Unblock) error
	// LiveUnblocks returns the member's unused, unexpired codes for ip with
	// fewer than maxAttempts failures, newest first.
	LiveUnblocks(ctx context.Context, memberID, ip string, now time.Time, maxAttempts int) ([]*Unblock, error)
	// UseUnblock marks a code used; false when it was used already.
	UseUnblock(ctx context.Context, id string, at time.Time) (bool, error)
	// FailUnblock counts a wrong code against every live code of the member
	// for ip.
	FailUnblock(ctx context.Context, memberID, ip string) error
}
