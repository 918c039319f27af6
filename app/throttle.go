package app

import (
	"math"
	"sync"
	"time"
)

// Throttle slows password guessing without letting a stranger lock the
// owner out.
//
// Failures are counted per key (a login name as typed, or MemberKey of a
// member, whether it exists or not, so that a lock reveals nothing) and
// the count leaks: each failure's weight halves every HalfLife, so old
// failures stop counting by themselves.
//
// Two budgets are kept. The hard one is per key and client address: after
// FreeFailures failures from one address every further failure from it
// locks the key for that address alone, for a delay doubling from
// BaseDelay to MaxDelay. The soft one is per key across all addresses,
// against a guesser spread over many addresses: KeyFreeFailures free
// failures (more than one address can reach under its own lock, so one
// address alone never trips it) and a short cap, KeyMaxDelay. An address
// the member logged in from before is not held by the soft budget (the
// caller says so: trusted), so the owner at home gets in while strangers
// guess elsewhere; only failures from that address itself can lock it.
//
// Each client address also has a token bucket (IPRate, IPBurst) so that
// one address cannot spray many accounts.
type Throttle struct {
	FreeFailures int           // per key and address; default 5
	BaseDelay    time.Duration // first lock; default 1s
	MaxDelay     time.Duration // cap per key and address; default 15m

	KeyFreeFailures int           // per key across addresses; default 20
	KeyBaseDelay    time.Duration // default 1s
	KeyMaxDelay     time.Duration // default 1m

	// HalfLife is how long a failure takes to weigh half; default 1h.
	// The doubling of the lock starts over once a record's count has
	// fallen below one, after a few half-lives without failures.
	HalfLife time.Duration

	IPRate  float64 // attempts per second refilled
	IPBurst float64

	mu     sync.Mutex
	hard   map[string]*failRecord // key + "\x00" + address
	soft   map[string]*failRecord // key
	ips    map[string]*bucket
	lastGC time.Time
}

// failRecord is a leaky count of failures and the lock it earned.
type failRecord struct {
	count   float64   // weight of the failures as of at
	at      time.Time // when count was last brought up to date
	strikes int       // locks in a row; the next lock lasts base<<strikes
	until   time.Time // locked until
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewThrottle returns a throttle with coffer's defaults. From one address
// a key then gets five free guesses and, at the cap, about 96 a day; spread
// over many addresses, about one a minute once the twenty shared free
// failures are spent.
func NewThrottle() *Throttle {
	return &Throttle{
		FreeFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute,
		KeyFreeFailures: 20, KeyBaseDelay: time.Second, KeyMaxDelay: time.Minute,
		HalfLife: time.Hour, IPRate: 0.5, IPBurst: 30,
		hard: map[string]*failRecord{}, soft: map[string]*failRecord{}, ips: map[string]*bucket{}}
}

// MemberKey is the throttle key of a member, shared by every way of naming
// them (member ID, e-mail, phone) and by every secret they type.
func MemberKey(memberID string) string { return "member:" + memberID }

// Allow reports whether an attempt for key from ip may proceed now and,
// when not, how long to wait: the key must be locked neither for ip nor
// across addresses, and ip's bucket must have a token, which it takes.
func (t *Throttle) Allow(key, ip string, now time.Time) (bool, time.Duration) {
	if wait := t.Wait(key, ip, false, now); wait > 0 {
		return false, wait
	}
	return t.AllowIP(ip, now)
}

// AllowIP takes one token from ip's bucket, or says how long until there
// is one. An empty ip has no bucket.
func (t *Throttle) AllowIP(ip string, now time.Time) (bool, time.Duration) {
	if ip == "" {
		return true, 0
	}
	ip = AddrKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc(now)
	b := t.ips[ip]
	if b == nil {
		b = &bucket{tokens: t.IPBurst, at: now}
		t.ips[ip] = b
	}
	// A clock that went back refills nothing (rather than draining the
	// bucket for as long as it went back).
	b.tokens = min(t.IPBurst, b.tokens+max(now.Sub(b.at), 0).Seconds()*t.IPRate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / t.IPRate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// Wait is how long key stays locked for an attempt from ip: 0 when it is
// not. The lock across addresses is left out when trusted (an address the
// member used before). It takes no token.
func (t *Throttle) Wait(key, ip string, trusted bool, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	// No lock is longer than its cap: one that seems longer was set
	// before the clock went back.
	var wait time.Duration
	if r := t.hard[key+"\x00"+AddrKey(ip)]; r != nil && now.Before(r.until) {
		wait = min(r.until.Sub(now), t.MaxDelay)
	}
	if r := t.soft[key]; !trusted && r != nil && now.Before(r.until) {
		wait = max(wait, min(r.until.Sub(now), t.KeyMaxDelay))
	}
	return wait
}

// Failure records a failed attempt for key from ip, against both budgets.
func (t *Throttle) Failure(key, ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc(now)
	t.fail(t.hard, key+"\x00"+AddrKey(ip), t.FreeFailures, t.BaseDelay, t.MaxDelay, now)
	t.fail(t.soft, key, t.KeyFreeFailures, t.KeyBaseDelay, t.KeyMaxDelay, now)
}

// MemberFailure records a wrong secret typed for a member from ip (a
// password, or a second-factor code): it counts in the member's login
// throttle. A correct password clears nothing; failures only decay.
func (t *Throttle) MemberFailure(memberID, ip string, now time.Time) {
	t.Failure(MemberKey(memberID), ip, now)
}

func (t *Throttle) fail(m map[string]*failRecord, k string, free int, base, maxDelay time.Duration, now time.Time) {
	r := m[k]
	if r == nil {
		r = &failRecord{at: now}
		m[k] = r
	}
	r.count = t.decayed(r, now)
	if r.count < 1 {
		r.strikes = 0
	}
	r.count++
	r.at = now
	// FreeFailures failures are free; the attempt after them waits. The
	// count is rounded so that failures moments apart still add up to it.
	if math.Round(r.count) < float64(free) {
		return
	}
	d := base << min(r.strikes, 30)
	if d > maxDelay || d <= 0 {
		d = maxDelay
	}
	r.strikes++
	r.until = now.Add(d)
}

// decayed is r's count as of now.
func (t *Throttle) decayed(r *failRecord, now time.Time) float64 {
	if t.HalfLife <= 0 || !now.After(r.at) {
		return r.count
	}
	return r.count * math.Exp2(-float64(now.Sub(r.at))/float64(t.HalfLife))
}

// gc forgets records whose lock is over and whose count has decayed to a
// quarter of one failure (their doubling has started over already), and
// idle buckets, so that memory stays bounded.
func (t *Throttle) gc(now time.Time) {
	if now.Sub(t.lastGC) < time.Minute {
		return
	}
	t.lastGC = now
	for _, m := range []map[string]*failRecord{t.hard, t.soft} {
		for k, r := range m {
			if !now.Before(r.until) && t.decayed(r, now) < 0.25 {
				delete(m, k)
			}
		}
	}
	for k, b := range t.ips {
		if now.Sub(b.at) > time.Hour {
			delete(t.ips, k)
		}
	}
}
