package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClockedService(t *testing.T) (*app.Service, *testClock) {
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	clk := &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := app.New(db, eng, log, app.Config{Now: clk.Now,
		Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}})
	return s, clk
}

// TestThrottle_LockDoublesAndIsCapped checks the lock of one key from one
// address: free failures, then a lock that doubles with each failure made
// when the previous lock ended, up to the cap; other addresses are not
// held by it.
func TestThrottle_LockDoublesAndIsCapped(t *testing.T) {
	th := app.NewThrottle()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const key, ip = "member:x", "203.0.113.9"
	for i := range th.FreeFailures - 1 {
		th.Failure(key, ip, now)
		if w := th.Wait(key, ip, false, now); w != 0 {
			t.Fatalf("locked %v after %d failures, want %d free", w, i+1, th.FreeFailures)
		}
	}
	want := th.BaseDelay
	for i := range 16 {
		th.Failure(key, ip, now)
		w := th.Wait(key, ip, false, now)
		if w != want {
			t.Fatalf("lock %d: %v, want %v", i, w, want)
		}
		if got := th.Wait(key, "198.51.100.7", false, now); got != 0 {
			t.Fatalf("lock %d holds another address for %v", i, got)
		}
		now = now.Add(w)
		if w := th.Wait(key, ip, false, now); w != 0 {
			t.Fatalf("lock %d has not ended when it said: %v left", i, w)
		}
		want = min(2*want, th.MaxDelay)
	}
	if want != th.MaxDelay {
		t.Fatalf("the lock reached %v, want the cap %v", want, th.MaxDelay)
	}
}

// TestThrottle_FailuresDecay checks that failures stop counting with time:
// after a quiet period, one more failure does not lock again, and the
// doubling starts over.
func TestThrottle_FailuresDecay(t *testing.T) {
	th := app.NewThrottle()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const key, ip = "dave@example.org", "203.0.113.9"
	for range 30 {
		th.Failure(key, ip, now)
		now = now.Add(max(th.Wait(key, ip, false, now), time.Second))
	}
	// Still locked: one failure right after a lock locks again.
	th.Failure(key, ip, now)
	if w := th.Wait(key, ip, false, now); w != th.MaxDelay {
		t.Fatalf("a failure at the cap locks for %v, want %v", w, th.MaxDelay)
	}
	now = now.Add(8 * th.HalfLife)
	if w := th.Wait(key, ip, false, now); w != 0 {
		t.Fatalf("still locked after a quiet period: %v", w)
	}
	for i := range th.FreeFailures - 1 {
		th.Failure(key, ip, now)
		if w := th.Wait(key, ip, false, now); w != 0 {
			t.Fatalf("failure %d after a quiet period locks for %v, want the free failures back", i+1, w)
		}
	}
	th.Failure(key, ip, now)
	if w := th.Wait(key, ip, false, now); w != th.BaseDelay {
		t.Fatalf("the first lock after a quiet period is %v, want %v", w, th.BaseDelay)
	}
}

// TestService_StrangerCannotLockOwnerOut: hundreds of wrong passwords
// from one address lock that address only; the owner's correct login from
// another address succeeds at once, and the stranger's address stays
// locked, for the right password as well.
func TestService_StrangerCannotLockOwnerOut(t *testing.T) {
	ctx := context.Background()
	s, clk := newClockedService(t)
	s.Throttle.IPRate, s.Throttle.IPBurst = 1e9, 1e9 // the lock is tested here, not the bucket
	const pw = "a long enough secret"
	m, err := s.Register(ctx, app.RegisterInput{Password: pw, Email: "owner@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	const stranger = "203.0.113.9"
	refused := 0
	for i := range 400 {
		_, _, err := s.Login(ctx, app.LoginInput{Login: m.ID, Password: fmt.Sprint("guess ", i), IP: stranger})
		switch coffer.ErrorCode(err) {
		case coffer.EUNAUTHORIZED:
		case coffer.ERATELIMITED:
			refused++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
		clk.Advance(10 * time.Second) // about an hour of guessing
	}
	if refused < 300 {
		t.Fatalf("%d of 400 guesses from one address refused, want most", refused)
	}
	for _, login := range []string{m.ID, "owner@example.org"} {
		if _, _, err := s.Login(ctx, app.LoginInput{Login: login, Password: pw, IP: "198.51.100.7"}); err != nil {
			t.Fatalf("owner's login as %s from another address: %v", login, err)
		}
	}
	_, _, err = s.Login(ctx, app.LoginInput{Login: m.ID, Password: pw, IP: stranger})
	if coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("right password from the stranger's address: got %v, want it still locked", err)
	}
}

// TestService_DistributedGuesserAndKnownAddress: a guesser spread over many
// addresses spends the member's budget across addresses, which holds a
// login from a new address for a short while; an address the owner logged
// in from before is not held by it.
func TestService_DistributedGuesserAndKnownAddress(t *testing.T) {
	ctx := context.Background()
	s, clk := newClockedService(t)
	const pw = "a long enough secret"
	m, err := s.Register(ctx, app.RegisterInput{Password: pw, Phone: "+14155550199"})
	if err != nil {
		t.Fatal(err)
	}
	const home = "198.51.100.7"
	if _, _, err := s.Login(ctx, app.LoginInput{Login: m.ID, Password: pw, IP: home}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	for i := range 200 {
		ip := fmt.Sprintf("203.0.%d.%d", 113+i/250, 1+i%250)
		_, _, err := s.Login(ctx, app.LoginInput{Login: []string{m.ID, "+14155550199"}[i%2], Password: "wrong password here", IP: ip})
		if c := coffer.ErrorCode(err); c != coffer.EUNAUTHORIZED && c != coffer.ERATELIMITED {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, _, err = s.Login(ctx, app.LoginInput{Login: m.ID, Password: pw, IP: "192.0.2.200"})
	if coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("login from a new address while the member's budget is spent: got %v, want rate_limited", err)
	}
	var rl *app.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > s.Throttle.KeyMaxDelay {
		t.Fatalf("retry after %v, want at most the cap across addresses %v", rl, s.Throttle.KeyMaxDelay)
	}
	if _, _, err := s.Login(ctx, app.LoginInput{Login: "+14155550199", Password: pw, IP: home}); err != nil {
		t.Fatalf("owner's login from a known address: %v", err)
	}
	// An unknown login is held the same way, so the lock does not tell
	// whether a member exists.
	for i := range 200 {
		ip := fmt.Sprintf("203.0.%d.%d", 113+i/250, 1+i%250)
		s.Login(ctx, app.LoginInput{Login: "nobody@example.org", Password: "wrong password here", IP: ip})
	}
	_, _, err = s.Login(ctx, app.LoginInput{Login: "nobody@example.org", Password: pw, IP: home})
	if coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("unknown login after the same guesses: got %v, want rate_limited", err)
	}
	// The lock across addresses is short and ends by itself.
	clk.Advance(s.Throttle.KeyMaxDelay)
	if _, _, err := s.Login(ctx, app.LoginInput{Login: m.ID, Password: pw, IP: "192.0.2.200"}); err != nil {
		t.Fatalf("login from a new address after the lock across addresses: %v", err)
	}
}

// TestThrottle_ClockStepsBack: a clock that steps back two hours neither
// drains an address's bucket nor stretches a lock past its cap.
func TestThrottle_ClockStepsBack(t *testing.T) {
	th := app.NewThrottle()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const key, ip = "member:x", "203.0.113.9"
	if ok, _ := th.AllowIP(ip, now); !ok {
		t.Fatal("first attempt refused")
	}
	for range 20 {
		th.Failure(key, ip, now)
	}
	back := now.Add(-2 * time.Hour)
	if ok, wait := th.AllowIP("198.51.100.7", now); !ok {
		t.Fatalf("another address before the jump: refused for %v", wait)
	}
	if ok, wait := th.AllowIP("198.51.100.7", back); !ok {
		t.Fatalf("after the clock went back 2h: refused for %v, want allowed", wait)
	}
	if got := th.Wait(key, ip, false, back); got <= 0 || got > th.MaxDelay {
		t.Errorf("lock after the clock went back 2h: got %v, want at most the cap %v", got, th.MaxDelay)
	}
}
