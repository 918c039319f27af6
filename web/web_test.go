package web_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

func wantStatus(t *testing.T, p page, status int) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("got status %d, want %d; body:\n%s", p.Status, status, p.Body)
	}
}

func wantRedirect(t *testing.T, p page, to string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Location() != to {
		t.Fatalf("got %d to %q, want 303 to %q; body:\n%s", p.Status, p.Location(), to, p.Body)
	}
}

func wantBody(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("page does not contain %q:\n%s", s, p.Body)
		}
	}
}

func find(t *testing.T, re string, body string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, body)
	}
	return html.UnescapeString(m[1])
}

func TestServer_SecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	for _, path := range []string{"/login", "/register", "/", "/no-such-page", "/static/style.css"} {
		p := b.get(path)
		csp := p.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "script-src 'self'", "style-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: Content-Security-Policy %q allows more than this origin", path, csp)
		}
		if got := p.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q, want DENY", path, got)
		}
		if got := p.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", path, got)
		}
	}
	t.Run("NoInlineScriptOrStyle", func(t *testing.T) {
		for _, path := range []string{"/login", "/register"} {
			p := b.get(path)
			for _, bad := range []string{"<style", "style=", "<script>", "onclick=", "onload=", "javascript:"} {
				if strings.Contains(p.Body, bad) {
					t.Errorf("GET %s: page contains %q", path, bad)
				}
			}
		}
	})
	t.Run("PagesNotCached", func(t *testing.T) {
		if got := b.get("/login").Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
	})
}

func TestServer_SessionCookie(t *testing.T) {
	e := newEnv(t)
	id, err := e.svc.Register(context.Background(), app.RegisterInput{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Loopback", func(t *testing.T) {
		c := loginAs(t, e, id.ID, "127.0.0.1:5555", "http://127.0.0.1:8080")
		if c.Name != "coffer_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
			t.Errorf("got cookie %s, want coffer_session HttpOnly SameSite=Strict Path=/ without Secure on loopback plain HTTP", c)
		}
	})
	t.Run("Remote", func(t *testing.T) {
		c := loginAs(t, e, id.ID, "203.0.113.9:5555", "http://coffer.example.org")
		if c.Name != "__Host-coffer_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || !c.Secure || c.Path != "/" {
			t.Errorf("got cookie %s, want __Host-coffer_session HttpOnly SameSite=Strict Secure Path=/", c)
		}
	})
	t.Run("ProxyOnLoopback", func(t *testing.T) {
		c := loginAs(t, e, id.ID, "127.0.0.1:5555", "http://coffer.example.org")
		if c.Name != "__Host-coffer_session" || !c.Secure {
			t.Errorf("got cookie %s, want a Secure __Host- cookie for a public host name behind a local proxy", c)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		c := loginAs(t, e, id.ID, "127.0.0.1:5555", "https://coffer.example.org")
		if !c.Secure || !c.HttpOnly {
			t.Errorf("got cookie %s, want Secure over TLS even from loopback", c)
		}
	})
}

// loginAs logs in through the handler as a request from remote to base
// would, and returns the session cookie it sets.
func loginAs(t *testing.T, e *env, id, remote, base string) *http.Cookie {
	t.Helper()
	// A first request gets the browser cookie and the form's token.
	r := httptest.NewRequest("GET", base+"/login", nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	e.web.ServeHTTP(w, r)
	cookies := w.Result().Cookies()
	token := find(t, `name="csrf" value="([^"]+)"`, w.Body.String())
	form := url.Values{"login": {id}, "password": {testPassword}, "csrf": {token}}
	r = httptest.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = remote
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	e.web.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("login from %s to %s: got %d to %q, want 303 to /; body:\n%s", remote, base, w.Code, w.Header().Get("Location"), w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if strings.HasSuffix(c.Name, "coffer_session") {
			return c
		}
	}
	t.Fatalf("login from %s to %s set no session cookie", remote, base)
	return nil
}

func TestServer_CSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	id := b.register("")

	t.Run("LoginWithoutToken", func(t *testing.T) {
		b2 := e.browser(t)
		b2.get("/login")
		p := b2.post("/login", url.Values{"login": {id}, "password": {testPassword}, "csrf": {""}})
		wantStatus(t, p, http.StatusForbidden)
		wantBody(t, p, "did not come from this site")
		if b2.get("/").Status != http.StatusSeeOther {
			t.Errorf("a login without a CSRF token opened a session")
		}
	})
	b.login(id)
	count := func() int {
		list, err := e.svc.Purses(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	b.get("/purses")
	good := b.csrf
	for _, c := range []struct {
		name  string
		token string
		hdr   []string
	}{
		{"Missing", "", nil},
		{"Wrong", strings.Repeat("A", len(good)), nil},
		{"OtherLength", good + "x", nil},
		{"AnonymousToken", anonymousToken(t, e), nil},
		{"OtherOrigin", good, []string{"Origin", "https://evil.example"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/purses", url.Values{"currency": {"USD"}, "csrf": {c.token}}, c.hdr...)
			wantStatus(t, p, http.StatusForbidden)
			if n := count(); n != 0 {
				t.Fatalf("got %d purses after a refused form, want 0", n)
			}
		})
	}
	// Anyone can write X-Forwarded-Host; this keeper trusts no proxy.
	t.Run("UntrustedPeerNamesOrigin", func(t *testing.T) {
		p := b.post("/purses", url.Values{"currency": {"EUR"}, "csrf": {good}}, "Origin", "https://evil.example", "X-Forwarded-Host", "evil.example")
		wantStatus(t, p, http.StatusForbidden)
		if n := count(); n != 0 {
			t.Fatalf("got %d purses after a refused form, want 0", n)
		}
	})
	t.Run("Good", func(t *testing.T) {
		p := b.post("/purses", url.Values{"currency": {"USD"}, "csrf": {good}}, "Origin", e.srv.URL)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/purses/Z") {
			t.Fatalf("got %d to %q, want 303 to the new purse", p.Status, p.Location())
		}
		if n := count(); n != 1 {
			t.Fatalf("got %d purses, want 1", n)
		}
	})
	t.Run("TokenOfAnotherSession", func(t *testing.T) {
		other := e.browser(t)
		other.login(id)
		other.get("/purses")
		if other.csrf == good {
			t.Fatalf("two sessions got the same CSRF token")
		}
		p := b.post("/purses", url.Values{"currency": {"USD"}, "csrf": {other.csrf}})
		wantStatus(t, p, http.StatusForbidden)
	})
}

// anonymousToken is a valid token of a fresh visitor: not one of a session.
func anonymousToken(t *testing.T, e *env) string {
	b := e.browser(t)
	b.get("/login")
	return b.csrf
}

func TestServer_RequiresSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	for _, path := range []string{"/", "/purses", "/purses/Z123456789012", "/purses/Z123456789012/history.csv",
		"/purses/Z123456789012/limits", "/send", "/send/confirm", "/transfers/x", "/settings", "/sessions", "/security-log"} {
		wantRedirect(t, b.get(path), "/login")
	}
	b.get("/login")
	for _, path := range []string{"/logout", "/purses", "/send", "/send/submit", "/send/confirm", "/sessions/abc/revoke",
		"/settings/totp", "/settings/totp/verify", "/settings/totp/remove", "/settings/phone", "/settings/phone/verify",
		"/settings/phone/remove", "/settings/recovery-codes", "/settings/policy", "/settings/ip-ranges", "/settings/new-device",
		"/settings/notifications", "/settings/timezone", "/purses/Z123456789012/limits"} {
		wantRedirect(t, b.post(path, nil), "/login")
	}
	t.Run("ForgedCookie", func(t *testing.T) {
		u, _ := url.Parse(e.srv.URL)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "coffer_session", Value: "cft_forged"}})
		wantRedirect(t, b.get("/purses"), "/login")
	})
}

func TestServer_LoginRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	id := b.register("bob@example.org")
	b.get("/login")
	p := b.post("/login", url.Values{"login": {id}, "password": {"wrong password 123"}})
	wantRedirect(t, p, "/login")
	p = b.follow(p)
	wantBody(t, p, "The login or password is wrong.")
	wantRedirect(t, b.get("/"), "/login")
	// E-mail works as a login name.
	p = b.login("bob@example.org")
	wantBody(t, p, id, "Purses")
}

func TestServer_Flow(t *testing.T) {
	e := newEnv(t)
	iss, issPurse := e.issuer(t, "USD")
	b := e.browser(t)
	id := b.register("alice@example.org")
	p := b.login(id)
	wantBody(t, p, id, "You have no purse yet")

	p = b.post("/purses", url.Values{"currency": {"USD"}})
	purse := strings.TrimPrefix(p.Location(), "/purses/")
	if !coffer.ValidPurseNumber(purse) {
		t.Fatalf("got %d to %q, want 303 to the new purse", p.Status, p.Location())
	}
	e.fund(t, iss, issPurse, purse, "1234.56")
	p = b.get("/purses")
	wantBody(t, p, purse, "1,234.56", "Held")

	// A code generator: the setup page shows a QR code and the key.
	b.get("/settings")
	p = b.post("/settings/totp", nil)
	wantStatus(t, p, http.StatusOK)
	wantBody(t, p, "<svg", "otpauth://totp/")
	secret := find(t, `id="totp-secret">([A-Z2-7]+)<`, p.Body)
	p = b.post("/settings/totp/verify", url.Values{"code": {"000000"}, "secret": {secret}, "uri": {"otpauth://totp/x"}})
	wantStatus(t, p, http.StatusUnauthorized)
	wantBody(t, p, "That code is not right")
	p = b.post("/settings/totp/verify", url.Values{"code": {e.totp(t, secret)}, "secret": {secret}, "uri": {"otpauth://totp/x"}})
	wantStatus(t, p, http.StatusOK)
	wantBody(t, p, `id="recovery-codes"`)
	if n := strings.Count(p.Body, "<li>"); n != coffer.RecoveryCodeCount {
		t.Fatalf("got %d recovery codes, want %d", n, coffer.RecoveryCodeCount)
	}

	// Log out; logging in again asks for the code.
	b.get("/purses")
	wantRedirect(t, b.post("/logout", nil), "/login")
	wantRedirect(t, b.get("/purses"), "/login")
	b.get("/login")
	p = b.post("/login", url.Values{"login": {id}, "password": {testPassword}})
	wantRedirect(t, p, "/login/verify")
	p = b.follow(p)
	wantBody(t, p, "code generator app")
	wantRedirect(t, b.get("/purses"), "/login")
	wantRedirect(t, b.post("/login/verify", url.Values{"code": {"000000"}}), "/login/verify")
	e.clock.Advance(30 * time.Second) // a TOTP time step is accepted once
	p = b.post("/login/verify", url.Values{"code": {e.totp(t, secret)}})
	wantRedirect(t, p, "/")
	wantBody(t, b.follow(p), purse)

	// Send money: review shows the payee's member ID, then the code.
	p = b.get("/send?from=" + purse)
	tid := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
	form := url.Values{"transfer_id": {tid}, "from": {purse}, "to": {issPurse}, "amount": {"12.5"}, "description": {"lunch"}}
	p = b.post("/send", form)
	wantStatus(t, p, http.StatusOK)
	wantBody(t, p, iss, "12.50 USD", issPurse)
	form.Set("amount", "12.50")
	p = b.post("/send/submit", form)
	wantRedirect(t, p, "/send/confirm")
	p = b.follow(p)
	challenge := find(t, `id="challenge">([^<]+)<`, p.Body)
	if !strings.HasPrefix(challenge, issPurse+"/12.50USD/") {
		t.Fatalf("got challenge %q, want one naming %s and 12.50USD", challenge, issPurse)
	}
	wantRedirect(t, b.post("/send/confirm", url.Values{"code": {"12345678"}}), "/send/confirm")
	wantBody(t, b.get("/send/confirm"), "does not confirm", challenge) // still pending
	p = b.post("/send/confirm", url.Values{"code": {ocra(t, secret, challenge)}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/transfers/"+tid) {
		t.Fatalf("confirm: got %d to %q, want 303 to the transfer", p.Status, p.Location())
	}
	wantBody(t, b.follow(p), "Payment sent", "12.50", iss)
	// The same form again pays nothing more.
	p = b.post("/send/submit", form)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/transfers/"+tid) {
		t.Fatalf("submit again: got %d to %q, want 303 to the same transfer", p.Status, p.Location())
	}

	// History, its CSV and the filters.
	p = b.get("/purses/" + purse)
	wantBody(t, p, "1,222.06", "−12.50", "lunch", "+1,234.56")
	p = b.get("/purses/" + purse + "/history.csv")
	wantStatus(t, p, http.StatusOK)
	if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("CSV Content-Type %q", ct)
	}
	wantBody(t, p, "time,transfer_id,counterparty,amount,currency,balance_after,description", tid+","+issPurse+",-12.50,USD,1222.06,lunch")
	tomorrow := time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")
	wantBody(t, b.get("/purses/"+purse+"?since="+tomorrow), "No entries in these dates")
	wantBody(t, b.get("/purses/"+purse+"?until="+tomorrow), "lunch")

	// A setting: notifications need a confirmation now.
	b.get("/settings")
	p = b.post("/settings/notifications", url.Values{"incoming_payment": {"on"}, "security": {"on"}})
	wantStatus(t, p, http.StatusForbidden)
	wantBody(t, p, "Confirm this change", `name="incoming_payment" value="on"`)
	cid := find(t, `name="confirmation_id" value="([^"]+)"`, p.Body)
	e.clock.Advance(30 * time.Second)
	p = b.post("/settings/notifications", url.Values{"incoming_payment": {"on"}, "security": {"on"}, "confirmation_id": {cid}, "code": {e.totp(t, secret)}})
	wantRedirect(t, p, "/settings#notifications")
	st, err := e.svc.Settings(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if want := (coffer.Notifications{IncomingPayment: true, Security: true}); st.Notify != want {
		t.Fatalf("got notifications %+v, want %+v", st.Notify, want)
	}
	// The security log shows it.
	wantBody(t, b.get("/security-log"), "notifications.changed", "login.succeeded")
}

func TestServer_Sessions(t *testing.T) {
	e := newEnv(t)
	a := e.browser(t)
	id := a.register("")
	a.login(id)
	other := e.browser(t)
	other.login(id)
	p := a.get("/sessions")
	wantBody(t, p, "this one")
	ids := regexp.MustCompile(`action="/sessions/([0-9a-f]+)/revoke"`).FindAllStringSubmatch(p.Body, -1)
	if len(ids) != 2 {
		t.Fatalf("got %d sessions, want 2:\n%s", len(ids), p.Body)
	}
	// End the session that is not this one.
	current := find(t, `(?s)this one</span></td>.*?action="/sessions/([0-9a-f]+)/revoke"`, p.Body)
	for _, m := range ids {
		if m[1] != current {
			wantRedirect(t, a.post("/sessions/"+m[1]+"/revoke", nil), "/sessions")
		}
	}
	wantRedirect(t, other.get("/purses"), "/login")
	wantStatus(t, a.get("/purses"), http.StatusOK)
	t.Run("NotOwn", func(t *testing.T) {
		a.get("/sessions")
		wantStatus(t, a.post("/sessions/0123456789abcdef01234567/revoke", nil), http.StatusNotFound)
	})
}

func TestServer_ErrorPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	p := b.get("/no-such-page")
	wantStatus(t, p, http.StatusNotFound)
	wantBody(t, p, "There is no such page.")
	p = b.get("/logout")
	wantStatus(t, p, http.StatusMethodNotAllowed)
	if got := p.Header.Get("Allow"); got != "POST" {
		t.Errorf("GET /logout: Allow %q, want POST", got)
	}
	id := b.register("")
	b.login(id)
	// Another member's purse is answered like a missing one.
	_, other := e.issuer(t, "USD")
	p = b.get("/purses/" + other)
	wantStatus(t, p, http.StatusNotFound)
	wantBody(t, p, "You have no purse "+other)
	if strings.Contains(p.Body, "sql") || strings.Contains(p.Body, "goroutine") {
		t.Errorf("error page shows internals:\n%s", p.Body)
	}
	p = b.get("/purses/" + other + "/history.csv")
	wantStatus(t, p, http.StatusNotFound)
	// A wrong payee is said on the form.
	b.post("/purses", url.Values{"currency": {"USD"}})
	list, _ := e.svc.Purses(context.Background(), id)
	p = b.get("/send")
	tid := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
	p = b.post("/send", url.Values{"transfer_id": {tid}, "from": {list[0].Number}, "to": {"Z100000000001"}, "amount": {"1.00"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantBody(t, p, "There is no purse Z100000000001")
	p = b.post("/send", url.Values{"transfer_id": {tid}, "from": {list[0].Number}, "to": {other}, "amount": {"1.001"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
}

// TestServer_Settings changes each setting of a member without a second
// factor, who needs no confirmation for them.
func TestServer_Settings(t *testing.T) {
	e := newEnv(t)
	iss, issPurse := e.issuer(t, "USD")
	b := e.browser(t)
	id := b.register("")
	b.login(id)
	p := b.post("/purses", url.Values{"currency": {"USD"}})
	purse := strings.TrimPrefix(p.Location(), "/purses/")
	e.fund(t, iss, issPurse, purse, "20.00")
	ctx := context.Background()

	t.Run("TimeZone", func(t *testing.T) {
		b.get("/settings")
		wantRedirect(t, b.post("/settings/timezone", url.Values{"tz": {"Asia/Tokyo"}}), "/settings")
		wantBody(t, b.get("/purses/"+purse), "dates in Asia/Tokyo", "JST")
		wantRedirect(t, b.post("/settings/timezone", url.Values{"tz": {"../../etc/passwd"}}), "/settings")
		wantBody(t, b.get("/settings"), "Unknown time zone", "dates in Asia/Tokyo")
		wantRedirect(t, b.post("/settings/timezone", url.Values{"tz": {""}}), "/settings")
		wantBody(t, b.get("/settings"), "dates in UTC")
	})
	t.Run("Limits", func(t *testing.T) {
		b.get("/purses/" + purse + "/limits")
		wantRedirect(t, b.post("/purses/"+purse+"/limits", url.Values{"per_transfer": {"5.00"}, "per_day": {""}, "per_month": {"100"}}), "/purses/"+purse+"/limits")
		p := b.get("/purses/" + purse + "/limits")
		wantBody(t, p, "5.00 USD", "100.00 USD", "saved")
		wantRedirect(t, b.post("/purses/"+purse+"/limits", url.Values{"per_transfer": {"abc"}}), "/purses/"+purse+"/limits")
		wantBody(t, b.get("/purses/"+purse+"/limits"), "per_transfer must be")
		// The limit binds payments made through the pages.
		p = b.get("/send")
		tid := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
		p = b.post("/send/submit", url.Values{"transfer_id": {tid}, "from": {purse}, "to": {issPurse}, "amount": {"6.00"}})
		wantStatus(t, p, http.StatusUnprocessableEntity)
		wantBody(t, p, "limit")
	})
	t.Run("IPRanges", func(t *testing.T) {
		b.get("/settings")
		wantRedirect(t, b.post("/settings/ip-ranges", url.Values{"ip_ranges": {"203.0.113.0/24"}}), "/settings#ip-ranges")
		wantBody(t, b.get("/settings"), "lock yourself out")
		wantRedirect(t, b.post("/settings/ip-ranges", url.Values{"ip_ranges": {"127.0.0.0/8\n::1"}}), "/settings#ip-ranges")
		st, err := e.svc.Settings(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(st.IPRanges, " ") != "127.0.0.0/8 ::1/128" {
			t.Fatalf("got ranges %q, want 127.0.0.0/8 and ::1/128", st.IPRanges)
		}
	})
	t.Run("Policy", func(t *testing.T) {
		b.get("/settings")
		wantRedirect(t, b.post("/settings/policy", url.Values{"login": {"password"}, "transfers": {"above"}, "threshold": {"50.00"},
			"exempt_payees": {issPurse}}), "/settings#policy")
		pol, err := e.svc.Policy(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if pol.Login != "password" || pol.Transfers != "above" || pol.Threshold != "50.00" || len(pol.ExemptPayees) != 1 {
			t.Fatalf("got policy %+v", pol)
		}
	})
	t.Run("ReceivedTransfer", func(t *testing.T) {
		p := b.get("/purses/" + purse)
		link := find(t, `<a href="(/transfers/[^"]+)"`, p.Body)
		p = b.get(link)
		wantStatus(t, p, http.StatusOK)
		wantBody(t, p, "Payment received", "20.00")
	})
}

// TestServer_IPRanges checks that the allowed IP ranges bind the pages as
// they bind the API.
func TestServer_IPRanges(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	id := b.register("")
	b.login(id)
	wantStatus(t, b.get("/purses"), http.StatusOK)
	if _, err := e.svc.SetIPRanges(context.Background(), app.Actor{MemberID: id, IP: "203.0.113.5", Method: "session"}, []string{"203.0.113.0/24"}); err != nil {
		t.Fatalf("SetIPRanges: %v", err)
	}
	p := b.get("/purses")
	wantStatus(t, p, http.StatusForbidden)
	wantBody(t, p, "does not allow access from this address")
	wantStatus(t, b.get("/login"), http.StatusOK)
	p = b.post("/login", url.Values{"login": {id}, "password": {testPassword}})
	wantRedirect(t, p, "/login")
	wantBody(t, b.follow(p), "does not allow access from this address")
}
