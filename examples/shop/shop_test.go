package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/oidcprov"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/web"
)

const testPassword = "correct horse battery staple 42"

// cofferServer is a real coffer on a fresh SQLite database, wired as
// `cofferd serve --webhooks-allow-loopback` wires it: the API, the web
// keeper, the OpenID Connect provider and the webhook worker.
type cofferServer struct {
	*httptest.Server
	db       *sqlite.DB
	svc      *app.Service
	provider *oidcprov.Provider
}

func startCoffer(t *testing.T) *cofferServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	levels, currencies := coffer.DefaultLevels(), app.NewCurrencies(db)
	engine := ledger.New(db, log, ledger.Config{Levels: levels, Currencies: currencies})
	go engine.Run()
	fast := password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}
	svc := app.New(db, engine, log, app.Config{Hasher: fast, Levels: levels, Currencies: currencies, DocumentKey: make([]byte, 32),
		Webhooks: app.WebhookConfig{AllowLoopback: true}})
	secretsKey := make([]byte, 32)
	rand.Read(secretsKey)
	// The issuer is the server's own URL, known once its listener is open.
	var provider *oidcprov.Provider
	var keeper http.Handler
	api := httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/v1/"):
			api.ServeHTTP(w, r)
		case oidcprov.Handles(p):
			provider.ServeHTTP(w, r)
		default:
			keeper.ServeHTTP(w, r)
		}
	}))
	publicURL := "http://" + srv.Listener.Addr().String()
	provider, err = oidcprov.New(db, log, oidcprov.Config{Issuer: publicURL, SecretsKey: secretsKey})
	if err != nil {
		t.Fatal(err)
	}
	if keeper, err = web.New(svc, log, web.Config{SignIn: provider, PublicURL: publicURL}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	hooks := app.NewWebhookWorker(svc)
	hooksDone := make(chan struct{})
	go func() { defer close(hooksDone); hooks.Run(ctx, 50*time.Millisecond) }()
	t.Cleanup(func() {
		cancel()
		<-hooksDone
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &cofferServer{Server: srv, db: db, svc: svc, provider: provider}
}

// member registers a member through the API, logs in and opens a USD
// purse; it returns the member ID, a client with the session and the purse.
func (c *cofferServer) member(t *testing.T) (string, *client.Client, string) {
	t.Helper()
	ctx := context.Background()
	api := client.New(c.URL)
	m, err := api.Register(ctx, client.RegisterRequest{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.Login(ctx, m.MemberID, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	api.SetToken(auth.Token)
	p, err := api.CreatePurse(ctx, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return m.MemberID, api, p.Purse
}

// fund gives purse amount from a new issuer.
func (c *cofferServer) fund(t *testing.T, purse, amount string) {
	t.Helper()
	ctx := context.Background()
	issuer, _, issuerPurse := c.member(t)
	if err := c.db.SetIssuer(ctx, issuerPurse, 1_000_000_00); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.svc.Transfer(ctx, issuer, app.TransferInput{TransferID: "fund-" + purse, From: issuerPurse, To: purse, Amount: amount}); err != nil {
		t.Fatal(err)
	}
}

// browser follows redirects and keeps cookies. The shop and coffer both
// run on 127.0.0.1, so they share the jar; their cookie names differ.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func get(t *testing.T, b *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func post(t *testing.T, b *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := b.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	idField   = regexp.MustCompile(`name="id" value="([^"]+)"`)
)

// shopEnv is a coffer server, a merchant with a purse, the shop (signed up
// for Sign in with coffer and registered for webhooks) and a payer with
// 100.00 USD.
type shopEnv struct {
	coffer      *cofferServer
	shop        *Shop
	shopURL     string
	payer       string
	payerAPI    *client.Client
	payerPurse  string
	merchantAPI *client.Client
}

func newShopEnv(t *testing.T) *shopEnv { return newShopEnvWith(t, false) }

// newShopEnvWith, withKey set, runs the shop as the merchant's registered
// key (a key file) rather than with a session token and checkout secret.
func newShopEnvWith(t *testing.T, withKey bool) *shopEnv {
	ctx := context.Background()
	c := startCoffer(t)
	e := &shopEnv{coffer: c}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.shop.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e.shopURL = srv.URL

	// What the operator does: register the shop as an OpenID Connect
	// client (`cofferd admin oidc-client add`) and make its owner a
	// merchant (`cofferd admin member level`).
	oc, clientSecret, err := c.provider.NewClient(ctx, "Tea Shop", []string{srv.URL + "/callback"}, false)
	if err != nil {
		t.Fatal(err)
	}
	merchant, merchantAPI, merchantPurse := c.member(t)
	e.merchantAPI = merchantAPI
	if _, err := app.SetMemberLevel(ctx, c.db, c.svc.Levels(), app.SetLevelInput{MemberID: merchant, Level: "initial", Reason: "the tea shop"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	// What the merchant does once: register the webhook endpoint and make
	// a checkout secret (shop -register-webhook -new-checkout-secret).
	webhookSecret, err := RegisterWebhook(ctx, nil, c.URL, merchantAPI.Token(), srv.URL+"/webhook")
	if err != nil {
		t.Fatal(err)
	}
	checkoutSecret, err := NewCheckoutSecret(ctx, nil, c.URL, merchantAPI.Token())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{PublicURL: srv.URL, CofferURL: c.URL, ClientID: oc.ID, ClientSecret: clientSecret,
		Merchant: merchant, Purse: merchantPurse, Currency: "USD", CheckoutSecret: checkoutSecret,
		WebhookSecret: webhookSecret, API: merchantAPI, Log: slog.New(slog.DiscardHandler)}
	if withKey {
		cfg.CheckoutSecret = ""
		cfg.CheckoutKeyID, cfg.CheckoutKey = merchantKeyFile(t, merchantAPI)
		cfg.API = client.New(c.URL, client.WithSigner(cfg.CheckoutKeyID, cfg.CheckoutKey))
	}
	e.shop, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.payer, e.payerAPI, e.payerPurse = c.member(t)
	c.fund(t, e.payerPurse, "100.00")
	return e
}

// signIn signs the payer in to the shop with coffer: the shop sends the
// browser to coffer, which asks for the password and then for consent.
func (e *shopEnv) signIn(t *testing.T, b *http.Client) {
	t.Helper()
	resp, page := get(t, b, e.shopURL+"/login")
	m := csrfField.FindStringSubmatch(page)
	if resp.Request.URL.Path != "/login" || m == nil {
		t.Fatalf("the shop's sign-in led to %s, want coffer's login page:\n%s", resp.Request.URL, page)
	}
	resp, page = post(t, b, e.coffer.URL+"/login", url.Values{"csrf": {m[1]}, "login": {e.payer}, "password": {testPassword}})
	csrf, id := csrfField.FindStringSubmatch(page), idField.FindStringSubmatch(page)
	if resp.Request.URL.Path != "/signin" || csrf == nil || id == nil {
		t.Fatalf("coffer's login led to %s, want the consent page:\n%s", resp.Request.URL, page)
	}
	if !strings.Contains(page, "Tea Shop") {
		t.Errorf("the consent page does not name the shop:\n%s", page)
	}
	resp, page = post(t, b, e.coffer.URL+"/signin", url.Values{"csrf": {csrf[1]}, "id": {id[1]}, "action": {"allow"}, "scope": {"profile"}})
	if resp.Request.URL.String() != e.shopURL+"/" || !strings.Contains(page, "member "+e.payer) {
		t.Fatalf("consent led to %s (status %d), want the shop signed in as %s:\n%s", resp.Request.URL, resp.StatusCode, e.payer, page)
	}
}

// waitPaid reloads the order page until the shop shows the order paid.
func (e *shopEnv) waitPaid(t *testing.T, b *http.Client, orderURL string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, page := get(t, b, orderURL)
		if strings.Contains(page, "Paid. Thank you!") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the order is not paid after 10 s:\n%s", page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func orderID(t *testing.T, u *url.URL) string {
	t.Helper()
	id, ok := strings.CutPrefix(u.Path, "/orders/")
	if !ok {
		t.Fatalf("at %s, want an order page", u)
	}
	return id
}

// TestShop_SignInAndInvoice: the payer signs in with coffer, asks for an
// invoice, pays it with their own coffer client, and the shop learns of it
// from the signed invoice.paid webhook.
func TestShop_SignInAndInvoice(t *testing.T) {
	ctx := context.Background()
	e := newShopEnv(t)
	b := browser()
	e.signIn(t, b)

	resp, page := post(t, b, e.shopURL+"/buy", url.Values{"sku": {"green"}, "method": {"invoice"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Awaiting payment") {
		t.Fatalf("buy: status %d at %s:\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	id := orderID(t, resp.Request.URL)

	invoices, err := e.payerAPI.Invoices(ctx, client.InvoiceOptions{Role: "payer"})
	if err != nil || len(invoices.Invoices) != 1 || invoices.Invoices[0].OrderNumber != id {
		t.Fatalf("the payer's invoices: %+v, %v; want one for order %s", invoices, err, id)
	}
	inv := invoices.Invoices[0]
	if _, err := e.payerAPI.PayInvoice(ctx, inv.InvoiceID, "", e.payerPurse); err != nil {
		t.Fatal(err)
	}
	e.waitPaid(t, b, resp.Request.URL.String())
	if o, _ := e.shop.Order(id); !o.Paid || o.PaidBy == "" {
		t.Fatalf("order %+v, want paid by an event", o)
	}
}

// deliver posts a delivery signed as coffer signs one (HMAC-SHA256 of
// "timestamp.body", hex, as v1=).
func deliver(t *testing.T, shopURL, secret, eventID, body string) int {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	req, _ := http.NewRequest(http.MethodPost, shopURL+"/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Coffer-Timestamp", ts)
	req.Header.Set("Coffer-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("Coffer-Event-Id", eventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestShop_WebhookChecks: a delivery that does not match its order leaves
// it unpaid, and an event ID seen before is ignored even when it would now
// match.
func TestShop_WebhookChecks(t *testing.T) {
	e := newShopEnv(t)
	b := browser()
	e.signIn(t, b)
	resp, _ := post(t, b, e.shopURL+"/buy", url.Values{"sku": {"oolong"}, "method": {"invoice"}})
	id := orderID(t, resp.Request.URL)
	event := func(amount string) string {
		return `{"event_id":"ev1","type":"invoice.paid","created_at":"2026-01-01T00:00:00Z","data":{"order_number":"` + id +
			`","amount":"` + amount + `","currency":"USD","to":"` + e.shop.cfg.Purse + `"}}`
	}
	if code := deliver(t, e.shopURL, e.shop.cfg.WebhookSecret, "ev1", event("0.01")); code != http.StatusNoContent {
		t.Fatalf("delivery answered %d", code)
	}
	if code := deliver(t, e.shopURL, e.shop.cfg.WebhookSecret, "ev1", event("7.20")); code != http.StatusNoContent {
		t.Fatalf("repeated delivery answered %d", code)
	}
	if o, _ := e.shop.Order(id); o.Paid {
		t.Fatal("an order was paid by a mismatched amount or a repeated event")
	}
	if code := deliver(t, e.shopURL, "wrong secret", "ev2", event("7.20")); code != http.StatusUnauthorized {
		t.Fatalf("a delivery signed with another secret answered %d", code)
	}
	if resp, err := http.Post(e.shopURL+"/webhook", "application/json", strings.NewReader(event("7.20"))); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unsigned delivery was not refused with 401 (%v)", err)
	}
	if code := deliver(t, e.shopURL, e.shop.cfg.WebhookSecret, "ev3", strings.ReplaceAll(event("7.20"), "ev1", "ev3")); code != http.StatusNoContent {
		t.Fatalf("delivery answered %d", code)
	}
	if o, _ := e.shop.Order(id); !o.Paid || o.PaidBy != "ev3" {
		t.Fatalf("order %+v, want paid by ev3", o)
	}
}

// merchantKeyFile registers a new key for the merchant, writes it as the
// plain text of a coffer key file and reads it back as the shop does.
func merchantKeyFile(t *testing.T, api *client.Client) (string, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, err := api.AddKey(context.Background(), "tea shop", pub)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	text := "coffer key file 1\nKey-ID: " + k.KeyID + "\nName: tea shop\n\n" + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	path := filepath.Join(t.TempDir(), "merchant.key")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	keyID, key, err := readKeyFile(path)
	if err != nil || keyID != k.KeyID || !key.Equal(priv) {
		t.Fatalf("readKeyFile = %s, %v; want %s", keyID, err, k.KeyID)
	}
	return keyID, key
}

var (
	payQuery      = regexp.MustCompile(`name="q" value="([^"]+)"`)
	payTransferID = regexp.MustCompile(`name="transfer_id" value="([^"]*)"`)
)

// TestShop_Checkout: the payer signs in with coffer, buys, pays on
// coffer's hosted checkout page, comes back to the shop, and the shop shows
// the order paid once the signed checkout.paid webhook arrives.
func TestShop_Checkout(t *testing.T) {
	t.Run("checkout secret", func(t *testing.T) { testCheckout(t, false) })
	t.Run("key file", func(t *testing.T) { testCheckout(t, true) })
}

func testCheckout(t *testing.T, withKey bool) {
	e := newShopEnvWith(t, withKey)
	b := browser()
	e.signIn(t, b)

	// "Pay with coffer" leads to coffer's /pay with the signed order; the
	// payer is still logged in to coffer from signing in to the shop.
	resp, page := post(t, b, e.shopURL+"/buy", url.Values{"sku": {"black"}})
	if resp.Request.URL.Path != "/pay" || !strings.HasPrefix(resp.Request.URL.String(), e.coffer.URL) {
		t.Fatalf("buy led to %s (status %d), want coffer's /pay:\n%s", resp.Request.URL, resp.StatusCode, page)
	}
	id := resp.Request.URL.Query().Get("order")
	csrf, q, tid := csrfField.FindStringSubmatch(page), payQuery.FindStringSubmatch(page), payTransferID.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || csrf == nil || q == nil || tid == nil || !strings.Contains(page, "3.90") {
		t.Fatalf("the /pay page (status %d) has no payment form for 3.90:\n%s", resp.StatusCode, page)
	}
	resp, page = post(t, b, e.coffer.URL+"/pay", url.Values{"csrf": {html.UnescapeString(csrf[1])}, "q": {html.UnescapeString(q[1])},
		"transfer_id": {html.UnescapeString(tid[1])}, "from": {e.payerPurse}})
	if resp.Request.URL.Path != "/orders/"+id || resp.Request.URL.Query().Get("status") != "paid" {
		t.Fatalf("paying led to %s (status %d), want the shop's order page:\n%s", resp.Request.URL, resp.StatusCode, page)
	}
	e.waitPaid(t, b, resp.Request.URL.String())
	if o, _ := e.shop.Order(id); !o.Paid {
		t.Fatalf("order %+v, want paid", o)
	}
	// coffer's side: the shop acknowledged a checkout.paid delivery.
	deadline := time.Now().Add(10 * time.Second)
	for !e.delivered(t, "checkout.paid") {
		if time.Now().After(deadline) {
			t.Fatal("no checkout.paid delivery was acknowledged")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delivered reports whether coffer lists a delivered event of type typ
// for the merchant's webhook endpoint.
func (e *shopEnv) delivered(t *testing.T, typ string) bool {
	t.Helper()
	var hooks struct {
		Webhooks []struct {
			ID string `json:"webhook_id"`
		} `json:"webhooks"`
	}
	var deliveries struct {
		Deliveries []struct{ Type, State string } `json:"deliveries"`
	}
	e.merchantGet(t, "/v1/webhooks", &hooks)
	if len(hooks.Webhooks) != 1 {
		t.Fatalf("the merchant has %d webhooks, want 1", len(hooks.Webhooks))
	}
	e.merchantGet(t, "/v1/webhooks/"+hooks.Webhooks[0].ID+"/deliveries", &deliveries)
	for _, d := range deliveries.Deliveries {
		if d.Type == typ && d.State == "delivered" {
			return true
		}
	}
	return false
}

func (e *shopEnv) merchantGet(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.coffer.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.merchantAPI.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
	}
}
