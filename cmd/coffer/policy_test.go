package main

import (
	"strings"
	"testing"
)

// TestRun_SecurityConfirmation drives `coffer security confirmation`
// against the real API in-process.
func TestRun_SecurityConfirmation(t *testing.T) {
	srv := newKeyServer(t, false)
	k := newKeyKeeper(t, srv.srv.URL)
	k.register()
	out := k.ok("security", "confirmation")
	if !strings.Contains(out, "transfers") {
		t.Fatalf("security confirmation printed %q, want the policy", out)
	}
	out = k.ok("security", "confirmation", "set", "transfers=above", "threshold=50.00", "confirm_signed=on")
	if !strings.Contains(out, "above 50.00") || !strings.Contains(out, "confirm signed     true") {
		t.Fatalf("after set: printed %q, want transfers above 50.00 and confirm signed true", out)
	}
	if out := k.ok("security", "confirmation"); !strings.Contains(out, "above 50.00") {
		t.Fatalf("the change did not stick: %q", out)
	}
	k.fails(2, "unknown key", "security", "confirmation", "set", "bogus=1")
	k.fails(2, "KEY=VALUE", "security", "confirmation", "set", "transfers")
	k.fails(1, "", "security", "confirmation", "set", "transfers=sometimes")
	k.fails(2, "security phone", "security", "phone", "call", "+14155550123")
}
