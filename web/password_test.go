package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// TestServer_ChangePassword changes the password on the settings page:
// the form needs the CSRF token, each mistake comes back as a message, and
// the change ends the member's other sessions but not this one.
func TestServer_ChangePassword(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	id := b.register("")
	b.login(id)
	other := e.browser(t)
	other.login(id)
	wantStatus(t, other.get("/purses"), http.StatusOK)
	const newPassword = "a brand new passphrase 2031"

	p := b.get("/settings")
	wantBody(t, p, `id="password-form"`, `action="/settings/password"`, `name="current_password"`, `autocomplete="current-password"`,
		`name="new_password2"`, `<a href="#password">Password</a>`)
	form := func(current, next, again string) url.Values {
		return url.Values{"current_password": {current}, "new_password": {next}, "new_password2": {again}}
	}
	flash := func(want string) {
		t.Helper()
		p := b.get("/settings")
		wantBody(t, p, `id="flash">`+want)
		if strings.Contains(p.Body, newPassword) || strings.Contains(p.Body, testPassword) {
			t.Fatalf("the settings page shows a password:\n%s", p.Body)
		}
	}

	t.Run("CSRF", func(t *testing.T) {
		f := form(testPassword, newPassword, newPassword)
		f.Set("csrf", "")
		wantStatus(t, b.post("/settings/password", f), http.StatusForbidden)
		b.get("/settings")
	})
	t.Run("Mistakes", func(t *testing.T) {
		for _, tt := range []struct {
			form url.Values
			want string
		}{
			{form(testPassword, newPassword, newPassword+"x"), "The two new passwords differ"},
			{form("", newPassword, newPassword), "Enter your current password and the new one."},
			{form("not my password at all", newPassword, newPassword), "The current password is wrong"},
			{form(testPassword, "short", "short"), "The password must be at least 10 characters long."},
			{form(testPassword, testPassword, testPassword), "The new password is the same as the current one"},
		} {
			wantRedirect(t, b.post("/settings/password", tt.form), "/settings#password")
			flash(tt.want)
		}
		wantStatus(t, other.get("/purses"), http.StatusOK)
	})
	t.Run("Changed", func(t *testing.T) {
		wantRedirect(t, b.post("/settings/password", form(testPassword, newPassword, newPassword)), "/settings#password")
		flash("Password changed; other sessions were ended")
		wantStatus(t, b.get("/purses"), http.StatusOK)
		p := other.get("/purses")
		if p.Status != http.StatusSeeOther || p.Location() != "/login" {
			t.Fatalf("the other browser after the change: got %d to %q, want sent to /login", p.Status, p.Location())
		}
		ctx := context.Background()
		if _, _, err := e.svc.Login(ctx, app.LoginInput{Login: id, Password: testPassword}); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
			t.Errorf("the old password: got %v, want unauthorized", err)
		}
		if _, _, err := e.svc.Login(ctx, app.LoginInput{Login: id, Password: newPassword}); err != nil {
			t.Errorf("the new password: %v", err)
		}
		wantBody(t, b.get("/security-log"), "Password changed", app.AuditPasswordChanged)
	})
}
