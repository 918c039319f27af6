package httpapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

func TestServer_ChangePassword(t *testing.T) {
	e := newEnv(t)
	m := e.register(t, "pat@example.org")
	other := e.login(t, m.id, testPassword)
	const newPassword = "a brand new passphrase 2031"
	change := func(token, current, next string) answer {
		t.Helper()
		return e.request(t, "PUT", "/v1/security/password", token, map[string]string{"current_password": current, "new_password": next})
	}

	t.Run("Refused", func(t *testing.T) {
		wantProblem(t, change("", testPassword, newPassword), http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		wantProblem(t, e.request(t, "PUT", "/v1/security/password", m.token, map[string]string{"new_password": newPassword}),
			http.StatusBadRequest, coffer.EINVALID)
		wantProblem(t, e.request(t, "PUT", "/v1/security/password", m.token, map[string]string{"current_password": testPassword, "password": newPassword}),
			http.StatusBadRequest, coffer.EINVALID)
		// A key file proves who signs, not that they know the password.
		s := e.addKey(t, m, "script")
		wantProblem(t, e.signedRequest(t, s, "PUT", "/v1/security/password", map[string]string{"current_password": testPassword, "new_password": newPassword}, signOpts{}),
			http.StatusForbidden, coffer.EFORBIDDEN)
	})

	t.Run("WrongCurrentIsThrottled", func(t *testing.T) {
		for i := range 5 {
			p := wantProblem(t, change(m.token, "guess number "+strconv.Itoa(i), newPassword), http.StatusUnauthorized, coffer.EUNAUTHORIZED)
			if p.Detail != app.ErrWrongPassword.Message {
				t.Errorf("got detail %q, want the wrong-password message", p.Detail)
			}
		}
		// Locked now, the right password as well; the lock is the login's,
		// so the change cannot be used to guess beside the login either.
		a := change(m.token, testPassword, newPassword)
		wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
		secs, err := strconv.Atoi(a.Header.Get("Retry-After"))
		if err != nil || secs < 1 {
			t.Errorf("got Retry-After %q, want seconds", a.Header.Get("Retry-After"))
		}
		// The login is refused too, as a wrong password is: a "too many
		// attempts" there would link the member's names (see
		// TestServer_LoginLockDoesNotLinkAliases).
		wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}),
			http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		// The session making the requests is not ended by its mistakes.
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), http.StatusOK)
		e.clock.Advance(time.Duration(secs)*time.Second + time.Millisecond)
		if kinds := e.securityKinds(t, m); !slices.Contains(kinds, coffer.AuditLoginFailed) {
			t.Errorf("security log %v lacks %s", kinds, coffer.AuditLoginFailed)
		}
	})

	t.Run("WeakNew", func(t *testing.T) {
		wantProblem(t, change(m.token, testPassword, "short"), http.StatusBadRequest, coffer.EWEAKPASSWORD)
		wantProblem(t, change(m.token, testPassword, "password123"), http.StatusBadRequest, coffer.EWEAKPASSWORD)
		wantProblem(t, change(m.token, testPassword, testPassword), http.StatusBadRequest, coffer.EWEAKPASSWORD)
		// Nothing changed: the old password still logs in.
		e.login(t, m.id, testPassword)
	})

	t.Run("Changed", func(t *testing.T) {
		wantStatus(t, change(m.token, testPassword, newPassword), http.StatusNoContent)
		// This session goes on; every other one ended.
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), http.StatusOK)
		wantProblem(t, e.request(t, "GET", "/v1/purses", other, nil), http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		a := e.request(t, "GET", "/v1/sessions", m.token, nil)
		wantStatus(t, a, http.StatusOK)
		var list struct {
			Sessions []struct {
				Current bool `json:"current"`
			} `json:"sessions"`
		}
		a.decode(t, &list)
		if len(list.Sessions) != 1 || !list.Sessions[0].Current {
			t.Errorf("got sessions %s, want only the current one", a)
		}
		// The old password no longer logs in, by member ID or e-mail; the
		// new one does.
		// The wrong guesses above still count (they decay; a correct
		// password clears none), so each wrong password now locks a while.
		wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}),
			http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		e.clock.Advance(time.Minute)
		wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": "pat@example.org", "password": testPassword}),
			http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		e.clock.Advance(time.Minute)
		fresh := e.login(t, "pat@example.org", newPassword)
		wantStatus(t, e.request(t, "GET", "/v1/purses", fresh, nil), http.StatusOK)
		if kinds := e.securityKinds(t, m); !slices.Contains(kinds, app.AuditPasswordChanged) {
			t.Errorf("security log %v lacks %s", kinds, app.AuditPasswordChanged)
		}
	})
}
