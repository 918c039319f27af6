package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/web"
)

// shop is a merchant at level initial with a verified name, a USD purse,
// a checkout secret and a checkout.paid webhook to a loopback receiver.
type shop struct {
	e       *env
	worker  *app.WebhookWorker
	id      string
	purse   string
	secret  string
	hooks   *hookReceiver
	iss     string
	issPurs string
	n       int
}

type hookReceiver struct {
	mu   sync.Mutex
	key  string
	now  func() time.Time
	got  []client.Event
	errs []error
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev, err := client.VerifyWebhookAt(r, h.key, h.now())
	if err != nil {
		h.errs = append(h.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.got = append(h.got, ev)
	w.WriteHeader(http.StatusNoContent)
}

func newCheckoutEnv(t *testing.T) *shop {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	levels, currencies := coffer.DefaultLevels(), app.NewCurrencies(db)
	engine := ledger.New(db, log, ledger.Config{Levels: levels, Currencies: currencies})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, DocumentKey: make([]byte, 32), Uploads: app.UploadConfig{Dir: t.TempDir()}, Levels: levels, Currencies: currencies,
		Webhooks: app.WebhookConfig{AllowLoopback: true}})
	keeper, err := web.New(svc, log, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(keeper)
	t.Cleanup(func() { srv.Close(); engine.Close(); <-engine.Done(); db.Close() })
	e := &env{srv: srv, web: keeper, svc: svc, db: db, clock: clk}
	worker := app.NewWebhookWorker(svc)
	s := &shop{e: e, worker: worker}
	s.iss, s.issPurs = e.issuer(t, "USD")
	m, err := svc.Register(ctx, app.RegisterInput{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	s.id = m.ID
	if _, err := app.SetMemberLevel(ctx, db, levels, app.SetLevelInput{MemberID: m.ID, Level: coffer.LevelInitial, Reason: "test"}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetProfile(ctx, m.ID, map[string]string{coffer.FieldFirstName: "Ada", coffer.FieldLastName: "Shopkeeper"}); err != nil {
		t.Fatal(err)
	}
	p, err := svc.CreatePurse(ctx, m.ID, "USD")
	if err != nil {
		t.Fatal(err)
	}
	s.purse = p.Number
	if s.secret, err = svc.CreateCheckoutSecret(ctx, m.ID, ""); err != nil {
		t.Fatal(err)
	}
	s.hooks = &hookReceiver{now: clk.Now}
	hs := httptest.NewServer(s.hooks)
	t.Cleanup(hs.Close)
	nw, err := svc.CreateWebhook(ctx, m.ID, app.WebhookInput{URL: hs.URL + "/hook", Events: []string{coffer.EventCheckoutPaid}})
	if err != nil {
		t.Fatal(err)
	}
	s.hooks.key = nw.Secret
	return s
}

// params is a checkout request for order, before signing.
func (s *shop) params(order, amount string) url.Values {
	s.n++
	return url.Values{"merchant": {s.id}, "purse": {s.purse}, "amount": {amount}, "currency": {"USD"}, "order": {order},
		"desc": {"Two teapots"}, "result_url": {"http://127.0.0.1:9/done?shop=1"},
		"expires": {strconv.FormatInt(s.e.clock.Now().Add(time.Hour).Unix(), 10)}, "nonce": {"nonce-" + order + "-" + strconv.Itoa(s.n)}}
}

func (s *shop) signed(p url.Values) string {
	p.Set("sig", client.SignCheckout(p, []byte(s.secret)))
	return "/pay?" + p.Encode()
}

// payer registers a member with a funded USD purse and logs the browser in.
func (s *shop) payer(t *testing.T, email string) (*browser, string, string) {
	t.Helper()
	b := s.e.browser(t)
	id := b.register(email)
	p, err := s.e.svc.CreatePurse(context.Background(), id, "USD")
	if err != nil {
		t.Fatal(err)
	}
	s.e.fund(t, s.iss, s.issPurs, p.Number, "500.00")
	b.login(id)
	return b, id, p.Number
}

func payForm(t *testing.T, p page, from string) url.Values {
	t.Helper()
	wantBody(t, p, `id="pay-form"`)
	return url.Values{"q": {find(t, `name="q" value="([^"]+)"`, p.Body)}, "from": {from},
		"transfer_id": {find(t, `name="transfer_id" value="([^"]+)"`, p.Body)}}
}

// TestCheckout_HMACLoginRoundTrip: a visitor follows a shop's HMAC-signed
// link, sees the shop's member ID, level and verified name, logs in, comes
// back to /pay (not a replay), pays, and lands on the result URL; the shop
// gets checkout.paid, signed. The same link in another browser is a replay.
func TestCheckout_HMACLoginRoundTrip(t *testing.T) {
	s := newCheckoutEnv(t)
	ctx := context.Background()
	b := s.e.browser(t)
	id := b.register("buyer@example.com")
	pr, err := s.e.svc.CreatePurse(ctx, id, "USD")
	if err != nil {
		t.Fatal(err)
	}
	s.e.fund(t, s.iss, s.issPurs, pr.Number, "100.00")
	link := s.signed(s.params("A-1001", "42.50"))

	p := b.get(link)
	wantStatus(t, p, http.StatusOK)
	wantBody(t, p, s.id, "initial", "Ada Shopkeeper", "42.50 USD", "Two teapots", "A-1001", `id="pay-login"`)
	wantRedirect(t, b.get("/pay/login"), "/login")
	b.get("/login")
	p = b.post("/login", url.Values{"login": {id}, "password": {testPassword}})
	if p.Status != http.StatusSeeOther || p.Location() != link {
		t.Fatalf("login: got %d to %q, want 303 back to %q", p.Status, p.Location(), link)
	}
	p = b.follow(p)
	wantStatus(t, p, http.StatusOK)
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9") {
		t.Fatalf("CSP %q does not allow the result origin as a form target", csp)
	}
	form := payForm(t, p, pr.Number)
	p = b.post("/pay", form)
	want := "http://127.0.0.1:9/done?order=A-1001&shop=1&status=paid"
	wantRedirect(t, p, want)
	// The same form again pays nothing more.
	p = b.post("/pay", form)
	wantStatus(t, p, http.StatusConflict)
	wantBody(t, p, "already been paid")

	if got, err := s.e.svc.Purse(ctx, s.id, s.purse); err != nil || got.Balance != 42_50 {
		t.Fatalf("shop purse = %+v, %v; want 42.50", got, err)
	}
	if n, err := s.worker.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v; want 1", n, err)
	}
	if len(s.hooks.got) != 1 || len(s.hooks.errs) != 0 || s.hooks.got[0].Type != coffer.EventCheckoutPaid {
		t.Fatalf("receiver got %+v, errors %v", s.hooks.got, s.hooks.errs)
	}
	d, err := s.hooks.got[0].Decode()
	if err != nil || d.OrderNumber != "A-1001" || d.Amount != "42.50" || d.Payer != id || d.To != s.purse {
		t.Fatalf("checkout.paid data = %+v, %v", d, err)
	}

	// The link in another browser: the nonce is used.
	other := s.e.browser(t)
	p = other.get(link)
	wantStatus(t, p, http.StatusConflict)
	wantBody(t, p, "already")
}

// TestCheckout_Ed25519: a link signed with one of the shop's key-file keys
// is paid; after the key is revoked its links are refused.
func TestCheckout_Ed25519(t *testing.T) {
	s := newCheckoutEnv(t)
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, err := s.e.svc.AddKey(ctx, s.id, app.AddKeyInput{Name: "shop", PublicKey: base64.StdEncoding.EncodeToString(pub)})
	if err != nil {
		t.Fatal(err)
	}
	b, _, from := s.payer(t, "ed@example.com")
	pr := s.params("E-1", "10.00")
	pr.Set("key_id", k.ID)
	pr.Set("sig", client.SignCheckoutEd25519(pr, priv))
	p := b.get("/pay?" + pr.Encode())
	wantStatus(t, p, http.StatusOK)
	wantRedirect(t, b.post("/pay", payForm(t, p, from)), "http://127.0.0.1:9/done?order=E-1&shop=1&status=paid")

	// Signed with the HMAC secret but naming the key: refused.
	pr = s.params("E-2", "10.00")
	pr.Set("key_id", k.ID)
	wantStatus(t, b.get(s.signed(pr)), http.StatusForbidden)

	if err := s.e.svc.RevokeKey(ctx, s.id, k.ID, "127.0.0.1", "test"); err != nil {
		t.Fatal(err)
	}
	pr = s.params("E-3", "10.00")
	pr.Set("key_id", k.ID)
	pr.Set("sig", client.SignCheckoutEd25519(pr, priv))
	p = b.get("/pay?" + pr.Encode())
	wantStatus(t, p, http.StatusForbidden)
	wantBody(t, p, "revoked")
}

// TestCheckout_Refusals: tampered, unsigned, expired, too long, bad result
// URL, another member's purse, bad amount: each its own page and status,
// and none of them uses up the nonce.
func TestCheckout_Refusals(t *testing.T) {
	s := newCheckoutEnv(t)
	b, _, _ := s.payer(t, "r@example.com")
	now := s.e.clock.Now()

	pr := s.params("R-1", "42.50")
	link := s.signed(pr)
	tampered := strings.Replace(link, "amount=42.50", "amount=0.01", 1)
	p := b.get(tampered)
	wantStatus(t, p, http.StatusForbidden)
	wantBody(t, p, "does not match")
	if strings.Contains(p.Body, "status=failed") {
		t.Fatalf("a tampered link's page links to its result URL:\n%s", p.Body)
	}
	// Tampering did not spend the nonce: the genuine link still works.
	wantStatus(t, b.get(link), http.StatusOK)

	pr = s.params("R-2", "1.00")
	wantStatus(t, b.get("/pay?"+pr.Encode()), http.StatusForbidden) // no sig

	pr = s.params("R-3", "1.00")
	pr.Set("expires", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))
	p = b.get(s.signed(pr))
	wantStatus(t, p, http.StatusGone)
	wantBody(t, p, "expired")

	pr = s.params("R-4", "1.00")
	pr.Set("expires", strconv.FormatInt(now.Add(25*time.Hour).Unix(), 10))
	wantStatus(t, b.get(s.signed(pr)), http.StatusBadRequest)

	pr = s.params("R-5", "1.00")
	pr.Set("result_url", "http://shop.example/done")
	p = b.get(s.signed(pr))
	wantStatus(t, p, http.StatusBadRequest)
	wantBody(t, p, "result_url")

	pr = s.params("R-6", "1.00")
	pr.Set("purse", s.issPurs)
	p = b.get(s.signed(pr))
	wantStatus(t, p, http.StatusBadRequest)
	wantBody(t, p, "not the shop", "status=failed")

	for _, amt := range []string{"0", "-1.00", "1.001", "ten"} {
		pr = s.params("R-7", amt)
		wantStatus(t, b.get(s.signed(pr)), http.StatusBadRequest)
	}

	// A signed request replayed by another browser.
	pr = s.params("R-8", "1.00")
	link = s.signed(pr)
	wantStatus(t, b.get(link), http.StatusOK)
	wantStatus(t, b.get(link), http.StatusOK) // this browser's own checkout
	p = s.e.browser(t).get(link)
	wantStatus(t, p, http.StatusConflict)
	wantBody(t, p, "already used")
}

// TestCheckout_RaceOnePayment: two payers with links for the same order
// pay at once: one pays, the other is refused; the order's next link is
// refused as paid.
func TestCheckout_RaceOnePayment(t *testing.T) {
	s := newCheckoutEnv(t)
	ctx := context.Background()
	b1, _, from1 := s.payer(t, "one@example.com")
	b2, _, from2 := s.payer(t, "two@example.com")
	f1 := payForm(t, b1.get(s.signed(s.params("RACE-1", "25.00"))), from1)
	f2 := payForm(t, b2.get(s.signed(s.params("RACE-1", "25.00"))), from2)
	var wg sync.WaitGroup
	var p1, p2 page
	wg.Add(2)
	go func() { defer wg.Done(); p1 = b1.post("/pay", f1) }()
	go func() { defer wg.Done(); p2 = b2.post("/pay", f2) }()
	wg.Wait()
	paid := 0
	for _, p := range []page{p1, p2} {
		switch {
		case p.Status == http.StatusSeeOther && strings.HasSuffix(p.Location(), "status=paid"):
			paid++
		case p.Status == http.StatusConflict:
		default:
			t.Fatalf("got %d to %q; body:\n%s", p.Status, p.Location(), p.Body)
		}
	}
	if paid != 1 {
		t.Fatalf("%d payments of one order, want 1", paid)
	}
	if got, err := s.e.svc.Purse(ctx, s.id, s.purse); err != nil || got.Balance != 25_00 {
		t.Fatalf("shop purse = %+v, %v; want 25.00", got, err)
	}
	p := b1.get(s.signed(s.params("RACE-1", "25.00")))
	wantStatus(t, p, http.StatusConflict)
	wantBody(t, p, "already paid")
}

// TestCheckout_Confirmation: a payer whose settings ask for a code pays
// through the same confirmation as any invoice, then lands on the result
// URL; a wrong code keeps the payment waiting.
func TestCheckout_Confirmation(t *testing.T) {
	s := newCheckoutEnv(t)
	ctx := context.Background()
	b, id, from := s.payer(t, "careful@example.com")
	en, err := s.e.svc.EnrolGenerator(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.svc.VerifyGenerator(ctx, id, s.e.totp(t, en.Secret)); err != nil {
		t.Fatal(err)
	}
	p := b.get(s.signed(s.params("C-1", "12.00")))
	p = b.post("/pay", payForm(t, p, from))
	wantRedirect(t, p, "/pay/confirm")
	p = b.follow(p)
	wantStatus(t, p, http.StatusOK)
	wantRedirect(t, b.post("/pay/confirm", url.Values{"code": {"12345678"}}), "/pay/confirm")
	p = b.get("/pay/confirm")
	code := ""
	if m := strings.Index(p.Body, `id="challenge">`); m >= 0 {
		code = ocra(t, en.Secret, find(t, `id="challenge">([^<]+)<`, p.Body))
	} else {
		s.e.clock.Advance(30 * time.Second)
		code = s.e.totp(t, en.Secret)
	}
	wantRedirect(t, b.post("/pay/confirm", url.Values{"code": {code}}), "http://127.0.0.1:9/done?order=C-1&shop=1&status=paid")
}
