package app

import (
	"sync"
	"time"
)

// Throttle slows password guessing. Each login name (whether it exists or
// not, so the answer reveals nothing) gets FreeFailures free failures; after
// that every further failure locks the name for a delay that doubles up to
// MaxDelay. A success clears the record. Because the lock is short and ends
// by itself, a stranger cannot keep a member out for long, but guessing
// drops to a few hundred tries a day. Each client IP also has a token bucket
// so one address cannot spray many accounts.
type Throttle struct {
	FreeFailures int
	BaseDelay    time.Duration
	MaxDelay     time.Duration
	IPRate       float64 // attempts per second refilled
	IPBurst      float64

	mu     sync.Mutex
	logins map[string]*loginRecord
	ips    map[string]*bucket
	lastGC time.Time
}

type loginRecord struct {
	failures int
	until    time.Time
	last     time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewThrottle returns a throttle with coffer's defaults.
func NewThrottle() *Throttle {
	return &Throttle{FreeFailures: 5, BaseDelay: time.Second, MaxDelay: 5 * time.Minute, IPRate: 0.5, IPBurst: 30,
		logins: map[string]*loginRecord{}, ips: map[string]*bucket{}}
}

// Allow reports whether an attempt for login from ip may proceed now and,
// when not, how long to wait. It takes one token from the IP's bucket.
func (t *Throttle) Allow(login, ip string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc(now)
	if r := t.logins[login]; r != nil && now.Before(r.until) {
		return false, r.until.Sub(now)
	}
	if ip != "" {
		b := t.ips[ip]
		if b == nil {
			b = &bucket{tokens: t.IPBurst, at: now}
			t.ips[ip] = b
		}
		b.tokens = min(t.IPBurst, b.tokens+now.Sub(b.at).Seconds()*t.IPRate)
		b.at = now
		if b.tokens < 1 {
			return false, time.Duration((1 - b.tokens) / t.IPRate * float64(time.Second))
		}
		b.tokens--
	}
	return true, 0
}

// Locked reports whether key is locked now, without taking an IP token.
func (t *Throttle) Locked(key string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.logins[key]; r != nil && now.Before(r.until) {
		return true, r.until.Sub(now)
	}
	return false, 0
}

// Failure records a failed attempt for login.
func (t *Throttle) Failure(login string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.logins[login]
	if r == nil {
		r = &loginRecord{}
		t.logins[login] = r
	}
	r.failures++
	r.last = now
	if over := r.failures - t.FreeFailures; over >= 0 {
		d := t.BaseDelay << min(over, 30)
		if d > t.MaxDelay || d <= 0 {
			d = t.MaxDelay
		}
		r.until = now.Add(d)
	}
}

// Success clears login's failures.
func (t *Throttle) Success(login string) {
	t.mu.Lock()
	delete(t.logins, login)
	t.mu.Unlock()
}

// gc forgets records idle for a day so memory stays bounded.
func (t *Throttle) gc(now time.Time) {
	if now.Sub(t.lastGC) < time.Minute {
		return
	}
	t.lastGC = now
	for k, r := range t.logins {
		if now.Sub(r.last) > 24*time.Hour && now.After(r.until) {
			delete(t.logins, k)
		}
	}
	for k, b := range t.ips {
		if now.Sub(b.at) > time.Hour {
			delete(t.ips, k)
		}
	}
}
