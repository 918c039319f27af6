package main

import (
	"strings"
	"testing"
)

// TestRun_Passwd changes the password with the keeper against the real
// server: bad usage, a wrong current password, a weak new one, the change
// itself (passwords on standard input), and a key file refused.
func TestRun_Passwd(t *testing.T) {
	s := newKeyServer(t, false)
	k := newKeyKeeper(t, s.srv.URL)
	id := k.register()
	const newPassword = "a brand new passphrase 2031"

	k.fails(2, "unexpected argument", "passwd", "now")
	k.fails(2, "flag provided but not defined", "passwd", "--new", "x")
	if out := k.ok("help", "passwd"); !strings.Contains(out, "COFFER_NEW_PASSWORD") {
		t.Errorf("help passwd: %q", out)
	}

	k.env["COFFER_NEW_PASSWORD"] = newPassword
	k.env["COFFER_PASSWORD"] = "not the password at all"
	k.fails(1, "the current password is wrong; the password was not changed", "passwd")
	k.env["COFFER_PASSWORD"] = testPassword
	k.env["COFFER_NEW_PASSWORD"] = "short"
	k.fails(1, "at least 10 characters", "passwd")

	nk := k.newKey()
	k.env["COFFER_NEW_PASSWORD"] = newPassword
	k.fails(1, "password session", "--key", nk.File, "passwd")

	// Both passwords on standard input, the current one first.
	delete(k.env, "COFFER_PASSWORD")
	delete(k.env, "COFFER_NEW_PASSWORD")
	r := k.run(testPassword+"\n"+newPassword+"\n", "passwd")
	if r.code != 0 || r.stdout != "Password changed; other sessions were ended.\n" {
		t.Fatalf("passwd: got %+v", r)
	}
	k.ok("purses") // the saved session goes on

	k.env["COFFER_PASSWORD"] = testPassword
	k.fails(1, "login refused", "login", id)
	k.env["COFFER_PASSWORD"] = newPassword
	if out := k.ok("login", id); !strings.Contains(out, "Logged in as "+id) {
		t.Errorf("login with the new password: %q", out)
	}
}
