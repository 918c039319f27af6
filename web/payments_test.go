package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// member registers a member through the service, with a purse of currency.
func (e *env) member(t *testing.T, currency string) (string, string) {
	t.Helper()
	ctx := context.Background()
	m, err := e.svc.Register(ctx, app.RegisterInput{Password: testPassword})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	p, err := e.svc.CreatePurse(ctx, m.ID, currency)
	if err != nil {
		t.Fatalf("CreatePurse: %v", err)
	}
	return m.ID, p.Number
}

// merchant raises a member to a level that may issue invoices.
func (e *env) merchant(t *testing.T, id string) {
	t.Helper()
	now := time.Now()
	ev := coffer.NewAuditEvent(now, coffer.AuditLevelChanged, id, map[string]any{"level": coffer.LevelInitial})
	if err := e.db.SetLevel(context.Background(), id, coffer.LevelInitial, now, ev); err != nil {
		t.Fatalf("SetLevel: %v", err)
	}
}

// fee sets a fee of 1 % on USD transfers, paid into a purse of its own.
func (e *env) fee(t *testing.T) {
	t.Helper()
	_, feePurse := e.member(t, "USD")
	ev := coffer.NewAuditEvent(time.Now(), coffer.AuditFeeRuleSet, "", nil)
	if err := e.db.SetFeeRule(context.Background(), &coffer.FeeRule{Currency: "USD", PPM: 10000, Min: 10, Purse: feePurse}, ev); err != nil {
		t.Fatalf("SetFeeRule: %v", err)
	}
}

// loggedIn logs a member registered through the service in.
func (e *env) loggedIn(t *testing.T, id string) *browser {
	t.Helper()
	b := e.browser(t)
	p := b.login(id)
	wantStatus(t, p, http.StatusOK)
	return b
}

func TestServer_ProtectedTransfer(t *testing.T) {
	e := newEnv(t)
	e.fee(t)
	iss, issPurse := e.issuer(t, "USD")
	alice, alicePurse := e.member(t, "USD")
	bob, bobPurse := e.member(t, "USD")
	e.fund(t, iss, issPurse, alicePurse, "100.00")
	a := e.loggedIn(t, alice)

	// The review shows the fee, the total and the protection.
	p := a.get("/send?from=" + alicePurse)
	wantBody(t, p, `name="protect"`, `id="protect_code"`)
	tid := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
	form := url.Values{"transfer_id": {tid}, "from": {alicePurse}, "to": {bobPurse}, "amount": {"20"},
		"protect": {"code"}, "protect_code": {"open-sesame"}, "protect_days": {"3"}}
	p = a.post("/send", form)
	wantStatus(t, p, http.StatusOK)
	wantBody(t, p, bob, `id="review-fee">0.20 USD`, `id="review-total">20.20 USD`, "Protected by a code",
		`id="payee-level" title="The owner's verification level">verification level: pseudonymous<`)
	// A bad protection goes back to the form with the problem.
	bad := url.Values{"transfer_id": {tid}, "from": {alicePurse}, "to": {bobPurse}, "amount": {"20"}, "protect": {"code"}, "protect_days": {"3"}}
	p = a.post("/send", bad)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantBody(t, p, "protection code")
	bad.Set("protect_code", "open-sesame")
	bad.Set("protect_days", "400")
	wantBody(t, a.post("/send", bad), "1 to 255 days")

	form.Set("amount", "20.00")
	p = a.post("/send/submit", form)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/transfers/"+tid) {
		t.Fatalf("submit: got %d to %q, want 303 to the transfer", p.Status, p.Location())
	}
	p = a.follow(p)
	wantBody(t, p, `id="transfer-status">Held<`, "0.20 USD")
	if strings.Contains(p.Body, "open-sesame") || strings.Contains(p.Location(), "open") {
		t.Fatal("the protection code is shown after sending")
	}
	// The sender sees it held.
	wantBody(t, a.get("/held"), `id="sent-held"`, bobPurse, "20.00 USD")

	// The payee: a wrong code is refused, the right one releases it.
	b := e.loggedIn(t, bob)
	p = b.get("/held")
	wantBody(t, p, `id="incoming-held"`, alicePurse, "20.00 USD", `action="/held/release"`)
	p = b.post("/held/release", url.Values{"transfer_id": {tid}, "from": {alicePurse}, "code": {"wrong"}})
	wantRedirect(t, p, "/held")
	wantBody(t, b.follow(p), `flash-error`, "attempts left")
	p = b.post("/held/release", url.Values{"transfer_id": {tid}, "from": {alicePurse}, "code": {"open-sesame"}})
	wantRedirect(t, p, "/held")
	p = b.follow(p)
	wantBody(t, p, "You received 20.00 USD", `id="no-incoming-held"`)
	bp, err := e.svc.Purse(context.Background(), bob, bobPurse)
	if err != nil || bp.Balance != 2000 || bp.Held != 0 {
		t.Fatalf("bob's purse after release: %+v %v", bp, err)
	}
	// Releasing it again says it is no longer held.
	p = b.post("/held/release", url.Values{"transfer_id": {tid}, "from": {alicePurse}, "code": {"open-sesame"}})
	wantBody(t, b.follow(p), "flash-error")

	// Protected by time; the payee refuses it and the sender gets it back.
	p = a.get("/send")
	tid2 := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
	p = a.post("/send/submit", url.Values{"transfer_id": {tid2}, "from": {alicePurse}, "to": {bobPurse}, "amount": {"5.00"},
		"protect": {"time"}, "protect_days": {"2"}, "protect_code": {"ignored"}})
	wantStatus(t, p, http.StatusSeeOther)
	wantBody(t, b.get("/held"), "arrives by itself")
	// Another member cannot refuse it.
	c := e.loggedIn(t, iss)
	c.get("/held")
	wantBody(t, c.follow(c.post("/held/refuse", url.Values{"transfer_id": {tid2}, "from": {alicePurse}})), "flash-error")
	p = b.post("/held/refuse", url.Values{"transfer_id": {tid2}, "from": {alicePurse}})
	wantRedirect(t, p, "/held")
	wantBody(t, b.follow(p), "went back to the sender")
	ap, err := e.svc.Purse(context.Background(), alice, alicePurse)
	if err != nil || ap.Balance != 100_00-20_20 {
		t.Fatalf("alice's purse after the refusal: %+v %v", ap, err)
	}
	// Forms without the CSRF token change nothing.
	wantStatus(t, b.post("/held/refuse", url.Values{"csrf": {"x"}, "transfer_id": {tid2}, "from": {alicePurse}}), http.StatusForbidden)
}

func TestServer_Invoices(t *testing.T) {
	e := newEnv(t)
	e.fee(t)
	iss, issPurse := e.issuer(t, "USD")
	alice, alicePurse := e.member(t, "USD")
	shop, shopPurse := e.member(t, "USD")
	e.merchant(t, shop)
	e.fund(t, iss, issPurse, alicePurse, "100.00")
	ctx := context.Background()
	inv, err := e.svc.CreateInvoice(ctx, shop, app.InvoiceInput{Payer: alice, Purse: shopPurse, Amount: "30.00", Description: "a lamp", OrderNumber: "A-1"})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	inv2, err := e.svc.CreateInvoice(ctx, shop, app.InvoiceInput{Payer: alice, Purse: shopPurse, Amount: "7.00", OrderNumber: "A-2"})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}

	a := e.loggedIn(t, alice)
	p := a.get("/invoices")
	wantBody(t, p, `id="incoming-invoices"`, "A-1", "A-2", "a lamp", "30.00 USD", shop)
	p = a.get("/invoices/" + inv.ID)
	wantBody(t, p, `id="invoice-fee">0.30 USD`, "30.30 USD", `id="pay-form"`, alicePurse)
	tid := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
	p = a.post("/invoices/"+inv.ID+"/pay", url.Values{"transfer_id": {tid}, "from": {alicePurse}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/transfers/"+tid) {
		t.Fatalf("pay: got %d to %q, want 303 to the payment", p.Status, p.Location())
	}
	wantBody(t, a.follow(p), "Payment sent", "30.00", inv.ID)
	got, err := e.svc.Invoice(ctx, alice, inv.ID)
	if err != nil || got.State != coffer.InvoicePaid {
		t.Fatalf("invoice after paying: %+v %v", got, err)
	}
	// Paying again is not paying twice; the page shows it paid.
	p = a.get("/invoices/" + inv.ID)
	wantBody(t, p, "paid", `id="invoice-payment"`)
	if strings.Contains(p.Body, `id="pay-form"`) {
		t.Error("a paid invoice still offers to pay")
	}

	// Refuse the other one.
	a.get("/invoices/" + inv2.ID)
	p = a.post("/invoices/"+inv2.ID+"/refuse", nil)
	wantRedirect(t, p, "/invoices")
	wantBody(t, a.follow(p), "refused")
	wantBody(t, a.follow(a.post("/invoices/"+inv2.ID+"/refuse", nil)), "flash-error", "already refused")

	// Nobody else sees them.
	s := e.loggedIn(t, iss)
	wantStatus(t, s.get("/invoices/"+inv.ID), http.StatusNotFound)
	wantStatus(t, s.post("/invoices/"+inv2.ID+"/refuse", nil), http.StatusNotFound)
	wantStatus(t, s.get("/invoices/not-an-id"), http.StatusNotFound)

	// The merchant sees what became of them, and may cancel a pending one.
	inv3, err := e.svc.CreateInvoice(ctx, shop, app.InvoiceInput{Payer: alice, Purse: shopPurse, Amount: "1.00", OrderNumber: "A-3"})
	if err != nil {
		t.Fatal(err)
	}
	m := e.loggedIn(t, shop)
	p = m.get("/invoices")
	wantBody(t, p, `id="issued-invoices"`, "A-1", "A-3", "/invoices/"+inv3.ID+"/cancel")
	wantBody(t, m.follow(m.post("/invoices/"+inv3.ID+"/cancel", nil)), "cancelled")
}

// TestServer_InvoiceConfirmed pays an invoice with a second factor: the
// payment waits for the code on the same page as a send.
func TestServer_InvoiceConfirmed(t *testing.T) {
	e := newEnv(t)
	iss, issPurse := e.issuer(t, "USD")
	shop, shopPurse := e.member(t, "USD")
	e.merchant(t, shop)
	b := e.browser(t)
	alice := b.register("payer@example.org")
	b.login(alice)
	p := b.post("/purses", url.Values{"currency": {"USD"}})
	alicePurse := strings.TrimPrefix(p.Location(), "/purses/")
	e.fund(t, iss, issPurse, alicePurse, "50.00")
	b.get("/settings")
	p = b.post("/settings/totp", nil)
	secret := find(t, `id="totp-secret">([A-Z2-7]+)<`, p.Body)
	wantStatus(t, b.post("/settings/totp/verify", url.Values{"code": {e.totp(t, secret)}, "secret": {secret}, "uri": {"otpauth://totp/x"}}), http.StatusOK)

	inv, err := e.svc.CreateInvoice(context.Background(), shop, app.InvoiceInput{Payer: alice, Purse: shopPurse, Amount: "12.00", OrderNumber: "B-1"})
	if err != nil {
		t.Fatal(err)
	}
	p = b.get("/invoices/" + inv.ID)
	tid := find(t, `name="transfer_id" value="([^"]+)"`, p.Body)
	p = b.post("/invoices/"+inv.ID+"/pay", url.Values{"transfer_id": {tid}, "from": {alicePurse}})
	wantRedirect(t, p, "/send/confirm")
	p = b.follow(p)
	wantBody(t, p, inv.ID, "12.00 USD")
	challenge := find(t, `id="challenge">([^<]+)<`, p.Body)
	p = b.post("/send/confirm", url.Values{"code": {ocra(t, secret, challenge)}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/transfers/"+tid) {
		t.Fatalf("confirm: got %d to %q", p.Status, p.Location())
	}
	got, err := e.svc.Invoice(context.Background(), alice, inv.ID)
	if err != nil || got.State != coffer.InvoicePaid {
		t.Fatalf("invoice after confirming: %+v %v", got, err)
	}
}
