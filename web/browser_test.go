package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// missingTool skips a test whose independent tool is not installed, but
// fails it in CI, where .ci/run installs every such tool.
func missingTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI installs it: see .ci/run)")
	}
	t.Skip(msg)
}

// chromium finds the browser: $COFFER_CHROMIUM, or Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("COFFER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missingTool(t, "no Chromium installed (apt-get install chromium, or set COFFER_CHROMIUM): browser tests skipped")
	return ""
}

// artifacts is where screenshots go: $COFFER_TEST_ARTIFACTS or
// web/testdata/artifacts (ignored by git).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COFFER_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	return dir
}

// tab is a headless Chromium tab on the web keeper.
type tab struct {
	t   *testing.T
	ctx context.Context
	e   *env
	dir string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newTab(t *testing.T, e *env) *tab {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	tb := &tab{t: t, ctx: ctx, e: e, dir: artifacts(t)}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	return tb
}

// do runs actions and fails the test on an error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path, chromedp.Navigate(tb.e.srv.URL+path))
}

// shot writes a screenshot of the whole page as name.png.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// fill types text into an empty input, key by key.
func (tb *tab) fill(sel, text string) {
	tb.t.Helper()
	tb.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (tb *tab) wait(sel string) {
	tb.t.Helper()
	tb.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// checkConsole fails on a Content-Security-Policy report or a script error.
func (tb *tab) checkConsole() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, m := range tb.console {
		if strings.Contains(m.Text, "Content Security Policy") || m.Type == chromedp.ConsoleException {
			tb.t.Errorf("browser console: %s %s (%s)", m.Type, m.Text, m.URL)
		}
	}
}

// TestBrowser_MemberJourney drives Chromium through the keeper as a member
// would: register, set up a code generator, log in with a TOTP code, send
// money confirmed with the generator, find it in the history, change a
// setting. It saves a screenshot of each main page.
func TestBrowser_MemberJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	e := newEnv(t)
	iss, issPurse := e.issuer(t, "USD")
	tb := newTab(t, e)
	defer tb.checkConsole()

	// Register: the new member ID is shown clearly.
	tb.open("/register")
	tb.shot("01-register")
	tb.fill("#email", "carol@example.org")
	tb.fill("#password", testPassword)
	tb.fill("#password2", testPassword)
	tb.click("#register-form button[type=submit]")
	tb.wait("#new-member-id")
	id := tb.text("#new-member-id")
	if !coffer.ValidMemberID(id) {
		t.Fatalf("registration shows %q, want a member ID", id)
	}
	tb.shot("02-registered")

	// Log in with the password (no factor yet) and open a purse.
	tb.click("a.button.primary")
	tb.wait("#login-form")
	tb.shot("03-login")
	tb.fill("#login", id)
	tb.fill("#password", testPassword)
	tb.click("#login-form button[type=submit]")
	tb.wait("#new-purse")
	tb.do("choose USD", chromedp.SetValue(chromedp.CSS("#currency"), "USD"))
	tb.click("#new-purse button[type=submit]")
	tb.wait("#available")
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	purse := loc[strings.LastIndex(loc, "/")+1:]
	if !coffer.ValidPurseNumber(purse) {
		t.Fatalf("after opening a purse the page is %s, want the purse's page", loc)
	}
	e.fund(t, iss, issPurse, purse, "500.00")

	// Set up a code generator: the QR code and the key are on the page.
	tb.open("/settings")
	tb.click("#setup-totp")
	tb.wait(".qr svg")
	secret := tb.text("#totp-secret")
	tb.shot("04-totp-setup")
	tb.fill("#code", e.totp(t, secret))
	tb.click("#totp-form button[type=submit]")
	tb.wait("#recovery-codes")
	tb.shot("05-recovery-codes")

	// Log out, then log in again: now the code is asked for. The browser's
	// time zone goes with the login form.
	tb.click("#logout")
	tb.wait("#login-form")
	if _, err := chromedp.Call(tb.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatalf("time zone: %v", err)
	}
	tb.open("/login")
	tb.fill("#login", "carol@example.org")
	tb.fill("#password", testPassword)
	tb.click("#login-form button[type=submit]")
	tb.wait("#verify-form")
	tb.shot("06-login-code")
	e.clock.Advance(30 * time.Second) // each TOTP time step is accepted once
	tb.fill("#code", e.totp(t, secret))
	tb.click("#verify-form button[type=submit]")
	tb.wait("#purses")
	if got := tb.text("#member-id"); got != id {
		t.Fatalf("logged in as %q, want %s", got, id)
	}
	if foot := tb.text(".foot"); !strings.Contains(foot, "Europe/Berlin") {
		t.Errorf("footer %q: want dates in the browser's zone Europe/Berlin", foot)
	}
	if got := tb.text("#purses .amount"); got != "500.00" {
		t.Errorf("available %q, want 500.00", got)
	}
	tb.shot("07-purses")

	// Send money: review with the payee's member ID, then the code.
	tb.open("/send?from=" + purse)
	tb.fill("#to", issPurse)
	tb.fill("#amount", "42.5")
	tb.fill("#description", "coffee beans")
	tb.shot("08-send")
	tb.click("#send-form button[type=submit]")
	tb.wait("#payee")
	if got := tb.text("#payee"); got != iss {
		t.Fatalf("review shows payee %q, want %s", got, iss)
	}
	if got := tb.text("#payee-level"); got != "verification level: pseudonymous" {
		t.Fatalf("review shows the payee's level as %q, want pseudonymous", got)
	}
	if got := tb.text("#review-amount"); got != "42.50 USD" {
		t.Fatalf("review shows amount %q, want 42.50 USD", got)
	}
	tb.shot("09-review")
	tb.click("#send-button")
	tb.wait("#challenge")
	challenge := tb.text("#challenge")
	tb.shot("10-confirm")
	tb.fill("#code", ocra(t, secret, challenge))
	tb.click("#confirm-form button[type=submit]")
	tb.wait("#transfer-status")
	if got := tb.text("#transfer-status"); got != "Applied" {
		t.Fatalf("transfer status %q, want Applied", got)
	}
	tb.shot("11-sent")

	// History shows it.
	tb.open("/purses/" + purse)
	tb.wait("#history")
	hist := tb.text("#history")
	for _, want := range []string{"coffee beans", "−42.50", "457.50", "+500.00", issPurse} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if !strings.Contains(hist, "CET") && !strings.Contains(hist, "CEST") {
		t.Errorf("history times are not in Europe/Berlin:\n%s", hist)
	}
	tb.shot("12-history")

	// Change a setting: it asks for a code first.
	tb.open("/settings")
	tb.wait("#notifications-form")
	tb.shot("13-settings")
	tb.click("#notify-incoming")
	tb.click("#save-notifications")
	tb.wait("#stepup-form")
	tb.shot("14-confirm-change")
	e.clock.Advance(30 * time.Second)
	tb.fill("#code", e.totp(t, secret))
	tb.click("#stepup-form button[type=submit]")
	tb.wait("#flash")
	if got := tb.text("#flash"); !strings.Contains(got, "saved") {
		t.Fatalf("after the change: %q, want it saved", got)
	}
	st, err := e.svc.Settings(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Notify.IncomingPayment {
		t.Fatalf("incoming-payment notifications are off after turning them on")
	}

	tb.open("/sessions")
	tb.wait("#sessions")
	tb.shot("15-sessions")
	tb.open("/security-log")
	tb.wait("#events")
	if log := tb.text("#events"); !strings.Contains(log, "notifications.changed") {
		t.Errorf("security log lacks the change:\n%s", log)
	}
	tb.shot("16-security-log")

	// At phone width the pages still work.
	tb.do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	tb.open("/purses")
	tb.wait("#purses")
	tb.shot("17-purses-phone")
	tb.open("/purses/" + purse)
	tb.wait("#history")
	tb.shot("18-history-phone")
}

// TestBrowser_WithoutJavaScript checks that logging in and sending money
// work with JavaScript turned off.
func TestBrowser_WithoutJavaScript(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	e := newEnv(t)
	iss, issPurse := e.issuer(t, "USD")
	tb := newTab(t, e)
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}
	tb.open("/register")
	tb.fill("#password", testPassword)
	tb.fill("#password2", testPassword)
	tb.click("#register-form button[type=submit]")
	tb.wait("#new-member-id")
	id := tb.text("#new-member-id")
	tb.open("/login")
	tb.fill("#login", id)
	tb.fill("#password", testPassword)
	tb.click("#login-form button[type=submit]")
	tb.wait("#new-purse")
	tb.do("choose USD", chromedp.SetValue(chromedp.CSS("#currency"), "USD"))
	tb.click("#new-purse button[type=submit]")
	tb.wait("#available")
	list, err := e.svc.Purses(context.Background(), id)
	if err != nil || len(list) != 1 {
		t.Fatalf("purses: %v %v", list, err)
	}
	e.fund(t, iss, issPurse, list[0].Number, "10.00")
	tb.open("/send")
	tb.fill("#to", issPurse)
	tb.fill("#amount", "2.25")
	tb.click("#send-form button[type=submit]")
	tb.wait("#send-button")
	tb.click("#send-button")
	tb.wait("#transfer-status")
	if got := tb.text("#transfer"); !strings.Contains(got, "2.25") || !strings.Contains(got, iss) {
		t.Fatalf("result page: %q", got)
	}
	tb.shot("19-sent-without-javascript")
}

// waitText waits until sel's text contains want: after a form is sent, the
// old page may still be showing for a moment.
func (tb *tab) waitText(sel, want string) string {
	tb.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// During the navigation the node may go away under the query.
		got, err := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err == nil && strings.Contains(got, want) {
			return strings.TrimSpace(got)
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s shows %q, want %q", sel, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// login logs a member in through the login page.
func (tb *tab) login(id string) {
	tb.t.Helper()
	tb.open("/login")
	tb.fill("#login", id)
	tb.fill("#password", testPassword)
	tb.click("#login-form button[type=submit]")
	tb.wait("#member-id")
}

// TestBrowser_PaymentsAndPrivacy drives the payment forms and the privacy
// pages: a protected transfer sent with its fee shown and released by the
// payee with the code, an invoice paid, a field made visible, and a
// screenshot of each new page.
func TestBrowser_PaymentsAndPrivacy(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	e := newEnv(t)
	e.fee(t)
	iss, issPurse := e.issuer(t, "USD")
	alice, alicePurse := e.member(t, "USD")
	bob, bobPurse := e.member(t, "USD")
	shop, shopPurse := e.member(t, "USD")
	e.merchant(t, shop)
	e.fund(t, iss, issPurse, alicePurse, "300.00")
	ctx := context.Background()
	inv, err := e.svc.CreateInvoice(ctx, shop, app.InvoiceInput{Payer: alice, Purse: shopPurse, Amount: "45.00",
		Description: "garden chairs", OrderNumber: "ORD-1042"})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	if _, err := e.svc.CreateInvoice(ctx, shop, app.InvoiceInput{Payer: alice, Purse: shopPurse, Amount: "9.90", OrderNumber: "ORD-1043"}); err != nil {
		t.Fatal(err)
	}
	tb := newTab(t, e)
	defer tb.checkConsole()

	// Alice sends a transfer protected by a code; the review shows the fee.
	tb.login(alice)
	tb.open("/send?from=" + alicePurse)
	tb.fill("#to", bobPurse)
	tb.fill("#amount", "80")
	tb.fill("#description", "deposit for the flat")
	tb.click("#protect-code")
	tb.fill("#protect_code", "blue-heron-7")
	tb.fill("#protect_days", "5")
	tb.shot("20-send-protected")
	tb.click("#send-form button[type=submit]")
	tb.wait("#review-fee")
	if got := tb.text("#review-fee"); got != "0.80 USD" {
		t.Fatalf("review shows fee %q, want 0.80 USD", got)
	}
	if got := tb.text("#review-total"); got != "80.80 USD" {
		t.Fatalf("review shows total %q, want 80.80 USD", got)
	}
	tb.shot("21-review-fee-protection")
	tb.click("#send-button")
	tb.wait("#transfer-status")
	if got := tb.text("#transfer-status"); got != "Held" {
		t.Fatalf("transfer status %q, want Held", got)
	}
	tb.shot("22-sent-held")
	tb.open("/held")
	tb.wait("#sent-held")
	tb.shot("23-held-sender")

	// Alice pays an invoice, and sees the other one.
	tb.open("/invoices")
	tb.wait("#incoming-invoices")
	if got := tb.text("#incoming-invoices"); !strings.Contains(got, "ORD-1042") || !strings.Contains(got, "ORD-1043") {
		t.Fatalf("invoice list: %q", got)
	}
	tb.shot("24-invoices")
	tb.click(`a[data-invoice="` + inv.ID + `"]`)
	tb.wait("#pay-form")
	if got := tb.text("#invoice-merchant"); got != shop {
		t.Fatalf("invoice shows merchant %q, want %s", got, shop)
	}
	tb.shot("25-invoice")
	tb.click("#pay-button")
	tb.wait("#transfer-status")
	if got := tb.text("#transfer"); !strings.Contains(got, "45.00") || !strings.Contains(got, inv.ID) {
		t.Fatalf("payment page: %q", got)
	}
	if got, err := e.svc.Invoice(ctx, alice, inv.ID); err != nil || got.State != coffer.InvoicePaid {
		t.Fatalf("invoice after paying in the browser: %+v %v", got, err)
	}

	// Alice makes her last name visible to everyone.
	tb.open("/privacy")
	tb.wait("#profile-form")
	tb.fill("#v_first_name", "Alice")
	tb.fill("#v_last_name", "Liddell")
	tb.click("#save-profile")
	tb.waitText("#flash", "personal data was saved")
	tb.do("make the last name public", chromedp.SetValue(chromedp.CSS("#vis_last_name"), "everyone"))
	tb.shot("26-privacy")
	tb.click("#save-visibility")
	tb.waitText("#flash", "Who sees your data was saved")
	if v, err := e.svc.ViewMember(ctx, iss, alice); err != nil || v.Fields[coffer.FieldLastName] != "Liddell" || v.Fields[coffer.FieldFirstName] != "" {
		t.Fatalf("what another member sees: %+v %v", v, err)
	}
	if _, err := e.svc.RequestDisclosure(ctx, iss, alice, []string{coffer.FieldFirstName, coffer.FieldCity}, "checking who our customers are"); err != nil {
		t.Fatalf("RequestDisclosure: %v", err)
	}
	tb.open("/disclosures")
	tb.wait("#to-answer")
	tb.shot("27-disclosures")
	tb.open("/contacts")
	tb.wait("#restriction-form")
	tb.fill("#contact-id", bob)
	tb.fill("#contact-note", "flatmate")
	tb.click("#add-contact button[type=submit]")
	tb.wait("#contacts")
	tb.waitText("#contacts", "flatmate")
	tb.shot("28-contacts")
	tb.open("/verification")
	tb.wait("#levels-table")
	tb.shot("29-verification")

	// Bob receives the transfer with the code Alice told him.
	tb.click("#logout")
	tb.wait("#login-form")
	tb.login(bob)
	tb.open("/held")
	tb.wait("#incoming-held")
	tb.shot("30-held-payee")
	tb.fill("#incoming-held input[name=code]", "blue-heron-7")
	tb.click("#incoming-held .release-form button[type=submit]")
	tb.wait("#flash")
	tb.waitText("#flash", "You received 80.00 USD")
	tb.shot("31-released")
	if p, err := e.svc.Purse(ctx, bob, bobPurse); err != nil || p.Balance != 80_00 || p.Held != 0 {
		t.Fatalf("bob's purse after the release: %+v %v", p, err)
	}
}
