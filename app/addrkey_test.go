package app_test

import (
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
)

func TestAddrKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := app.AddrKey(c.in); got != c.want {
			t.Errorf("AddrKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestThrottle_IPv6Slash64: an IPv6 client owns a whole /64, so new
// addresses inside it do not buy fresh guesses.
func TestThrottle_IPv6Slash64(t *testing.T) {
	th := app.NewThrottle()
	now := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		th.Failure("alice", "2001:db8:1:2::"+string(rune('a'+i)), now)
	}
	if w := th.Wait("alice", "2001:db8:1:2:ffff::1", true, now); w <= 0 {
		t.Fatal("a fresh address in the same /64 is not held by the /64's failures")
	}
	if w := th.Wait("alice", "2001:db8:1:3::1", true, now); w != 0 {
		t.Fatalf("another /64 is held for %v, want 0", w)
	}
}
