// Shop is a tiny web shop that uses coffer as a merchant would: members
// sign in with their coffer account (OpenID Connect), pay on coffer's
// hosted checkout page (or by an invoice the shop sends them), and the
// shop learns of each payment from a signed webhook.
//
// It keeps everything in memory and is meant to be read: see main.go for
// its flags and shop_test.go for a run against a real coffer server.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/coffer-money/coffer/client"
)

// Config is what the shop needs to know about itself and its coffer.
type Config struct {
	PublicURL      string // where members reach the shop, e.g. https://tea.example
	CofferURL      string // the coffer server, e.g. https://coffer.example
	ClientID       string // from `cofferd admin oidc-client add`
	ClientSecret   string
	Merchant       string // the shop's coffer member ID
	Purse          string // the purse payments go to
	Currency       string // the purse's currency
	CheckoutSecret string // the merchant's checkout secret (POST /v1/checkout/secret), or:
	CheckoutKeyID  string // a key of the merchant's (a key file's) to sign checkout links with
	CheckoutKey    ed25519.PrivateKey
	WebhookSecret  string         // the secret coffer showed when the webhook was registered
	API            *client.Client // signed in as the merchant (token or key)
	HTTPClient     *http.Client   // for OpenID Connect; nil: http.DefaultClient
	Log            *slog.Logger
}

// Item is something the shop sells.
type Item struct {
	SKU, Name, Price string
}

// Catalogue is the shop's whole range.
var Catalogue = []Item{
	{"green", "Green tea, 100 g", "4.50"},
	{"black", "Black tea, 100 g", "3.90"},
	{"oolong", "Oolong, 50 g", "7.20"},
}

// Order is one purchase. Its ID is the order number coffer carries back.
type Order struct {
	ID      string
	Member  string // coffer member ID of the buyer
	Item    Item
	Created time.Time
	Paid    bool
	PaidBy  string // the event that told us
}

// session is a browser's state at the shop, keyed by a random cookie.
type session struct {
	Member, Name string
	// During sign-in: what the callback must see again.
	State, Nonce, Verifier string
}

// Shop is the shop's HTTP handler. Create it with New.
type Shop struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	mux      *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session
	orders   map[string]*Order
	seen     map[string]bool // webhook event IDs already handled
}

// New discovers the coffer OpenID Connect provider and builds the shop.
func New(ctx context.Context, cfg Config) (*Shop, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.CofferURL = strings.TrimSuffix(cfg.CofferURL, "/")
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, cfg.CofferURL)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", cfg.CofferURL, err)
	}
	s := &Shop{
		cfg: cfg,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: cfg.PublicURL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile"}},
		verifier: provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		mux:      http.NewServeMux(),
		sessions: map[string]*session{},
		orders:   map[string]*Order{},
		seen:     map[string]bool{},
	}
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /login", s.login)
	s.mux.HandleFunc("GET /callback", s.callback)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("POST /buy", s.buy)
	s.mux.HandleFunc("GET /orders/{id}", s.order)
	s.mux.HandleFunc("POST /webhook", s.webhook)
	return s, nil
}

func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Order returns a copy of an order, for tests and the order page.
func (s *Shop) Order(id string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionOf returns the browser's session, or nil. The caller holds s.mu.
func (s *Shop) sessionOf(r *http.Request) *session {
	if c, err := r.Cookie("shop"); err == nil {
		return s.sessions[c.Value]
	}
	return nil
}

// newSession starts a session and gives the browser its cookie. The caller
// holds s.mu. The cookie is SameSite=Lax, so other sites cannot post the
// shop's forms with it.
func (s *Shop) newSession(w http.ResponseWriter) *session {
	id := randomID()
	s.sessions[id] = &session{}
	secure := strings.HasPrefix(s.cfg.PublicURL, "https://")
	http.SetCookie(w, &http.Cookie{Name: "shop", Value: id, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	return s.sessions[id]
}

// member is the coffer member ID signed in on this browser, or "".
func (s *Shop) member(r *http.Request) (id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessionOf(r); sess != nil {
		return sess.Member, sess.Name
	}
	return "", ""
}

// --- Sign in with coffer -------------------------------------------------

// login sends the browser to coffer with a fresh state, nonce and PKCE
// verifier, remembered in the session.
func (s *Shop) login(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sess := s.sessionOf(r)
	if sess == nil {
		sess = s.newSession(w)
	}
	sess.State, sess.Nonce, sess.Verifier = randomID(), randomID(), oauth2.GenerateVerifier()
	to := s.oauth.AuthCodeURL(sess.State, oauth2.S256ChallengeOption(sess.Verifier), oidc.Nonce(sess.Nonce))
	s.mu.Unlock()
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// callback takes coffer's answer: it exchanges the code, verifies the ID
// token and its nonce, and signs the member in.
func (s *Shop) callback(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var state, nonce, verifier string
	if sess := s.sessionOf(r); sess != nil {
		state, nonce, verifier = sess.State, sess.Nonce, sess.Verifier
		sess.State, sess.Nonce, sess.Verifier = "", "", "" // each sign-in is answered once
	}
	s.mu.Unlock()
	if state == "" || r.FormValue("state") != state {
		http.Error(w, "This sign-in was not started here; try again.", http.StatusBadRequest)
		return
	}
	if e := r.FormValue("error"); e != "" {
		http.Error(w, "coffer did not sign you in: "+e, http.StatusForbidden)
		return
	}
	ctx := r.Context()
	if s.cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, s.cfg.HTTPClient)
	}
	tok, err := s.oauth.Exchange(ctx, r.FormValue("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		s.fail(w, "token exchange", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := s.verifier.Verify(ctx, raw)
	if err == nil && idt.Nonce != nonce {
		err = errors.New("the nonce is not this sign-in's")
	}
	if err != nil {
		s.fail(w, "ID token", err)
		return
	}
	var claims struct {
		GivenName string `json:"given_name"`
	}
	idt.Claims(&claims)
	// A new session for the signed-in member: a cookie planted before the
	// sign-in is worth nothing after it.
	s.mu.Lock()
	s.endSession(r)
	sess := s.newSession(w)
	sess.Member, sess.Name = idt.Subject, claims.GivenName
	s.mu.Unlock()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Shop) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.endSession(r)
	s.mu.Unlock()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// endSession forgets the browser's session. The caller holds s.mu.
func (s *Shop) endSession(r *http.Request) {
	if c, err := r.Cookie("shop"); err == nil {
		delete(s.sessions, c.Value)
	}
}

func (s *Shop) fail(w http.ResponseWriter, what string, err error) {
	s.cfg.Log.Warn("shop", "step", what, "err", err)
	http.Error(w, "Something went wrong with coffer; please try again.", http.StatusBadGateway)
}

// --- Checkout ------------------------------------------------------------

// buy records an order and sends the member to pay it: to coffer's hosted
// checkout page, or (method=invoice) by an invoice in their coffer account.
func (s *Shop) buy(w http.ResponseWriter, r *http.Request) {
	member, _ := s.member(r)
	if member == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	var item *Item
	for i := range Catalogue {
		if Catalogue[i].SKU == r.FormValue("sku") {
			item = &Catalogue[i]
		}
	}
	if item == nil {
		http.Error(w, "No such item.", http.StatusBadRequest)
		return
	}
	o := &Order{ID: "order-" + randomID()[:12], Member: member, Item: *item, Created: time.Now()}
	s.mu.Lock()
	s.orders[o.ID] = o
	s.mu.Unlock()

	if r.FormValue("method") == "invoice" {
		_, err := s.cfg.API.CreateInvoice(r.Context(), client.InvoiceRequest{Payer: o.Member, Purse: s.cfg.Purse,
			Amount: item.Price, Description: item.Name, OrderNumber: o.ID})
		if err != nil {
			s.fail(w, "invoice", err)
			return
		}
		http.Redirect(w, r, "/orders/"+o.ID, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, s.checkoutURL(o), http.StatusSeeOther)
}

// checkoutURL is the signed link to coffer's hosted checkout for an order.
// coffer sends the buyer back to result_url with ?status=paid, but only
// the webhook is proof of payment.
func (s *Shop) checkoutURL(o *Order) string {
	q := url.Values{
		"merchant":   {s.cfg.Merchant},
		"purse":      {s.cfg.Purse},
		"amount":     {o.Item.Price},
		"currency":   {s.cfg.Currency},
		"order":      {o.ID},
		"desc":       {o.Item.Name},
		"result_url": {s.cfg.PublicURL + "/orders/" + o.ID},
		"expires":    {strconv.FormatInt(time.Now().Add(30*time.Minute).Unix(), 10)},
		"nonce":      {randomID()},
	}
	if s.cfg.CheckoutSecret != "" {
		return client.CheckoutURL(s.cfg.CofferURL, q, []byte(s.cfg.CheckoutSecret), nil)
	}
	q.Set("key_id", s.cfg.CheckoutKeyID)
	return client.CheckoutURL(s.cfg.CofferURL, q, nil, s.cfg.CheckoutKey)
}

// --- Webhooks ------------------------------------------------------------

// webhook takes coffer's signed deliveries. An order is paid when coffer
// says so here, not when the browser comes back from checkout: the return
// trip can be lost or forged, the signed event cannot.
func (s *Shop) webhook(w http.ResponseWriter, r *http.Request) {
	ev, err := client.VerifyWebhook(r, s.cfg.WebhookSecret)
	if err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[ev.EventID] { // coffer may deliver an event more than once
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if ev.Type == "checkout.paid" || ev.Type == "invoice.paid" {
		d, err := ev.Decode()
		if err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		o := s.orders[d.OrderNumber]
		switch {
		case o == nil:
			s.cfg.Log.Warn("shop: payment for an unknown order", "order", d.OrderNumber, "event", ev.EventID)
		case !sameAmount(d.Amount, o.Item.Price) || d.Currency != s.cfg.Currency || d.To != s.cfg.Purse:
			s.cfg.Log.Warn("shop: payment does not match its order", "order", o.ID, "amount", d.Amount, "to", d.To)
		default:
			o.Paid, o.PaidBy = true, ev.EventID
		}
	}
	s.seen[ev.EventID] = true
	w.WriteHeader(http.StatusNoContent)
}

// sameAmount compares decimal amounts written with or without trailing zeros.
func sameAmount(a, b string) bool {
	norm := func(s string) string {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	return norm(a) == norm(b)
}

// --- Pages ---------------------------------------------------------------

func (s *Shop) home(w http.ResponseWriter, r *http.Request) {
	member, name := s.member(r)
	data := struct {
		Member, Name, Currency string
		Items                  []Item
		Orders                 []Order
	}{Member: member, Name: name, Currency: s.cfg.Currency, Items: Catalogue}
	s.mu.Lock()
	for _, o := range s.orders {
		if member != "" && o.Member == member {
			data.Orders = append(data.Orders, *o)
		}
	}
	s.mu.Unlock()
	sort.Slice(data.Orders, func(i, j int) bool { return data.Orders[i].Created.After(data.Orders[j].Created) })
	render(w, homePage, data)
}

// order is the page coffer's checkout sends the member back to.
func (s *Shop) order(w http.ResponseWriter, r *http.Request) {
	member, _ := s.member(r)
	o, ok := s.Order(r.PathValue("id"))
	if !ok || member == "" || member != o.Member {
		http.NotFound(w, r)
		return
	}
	render(w, orderPage, struct {
		Order
		Currency string
	}{o, s.cfg.Currency})
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		slog.Warn("shop: render", "err", err)
	}
}

const layout = `<!doctype html><html><head><meta charset="utf-8"><title>Tea Shop</title></head><body>
<h1><a href="/">Tea Shop</a></h1>{{template "body" .}}</body></html>`

var homePage = template.Must(template.Must(template.New("home").Parse(layout)).Parse(`{{define "body"}}
{{if .Member}}
<form method="post" action="/logout"><p>Signed in with coffer as {{with .Name}}{{.}}, {{end}}member {{.Member}}. <button>Sign out</button></p></form>
{{else}}
<p><a href="/login">Sign in with coffer</a> to buy.</p>
{{end}}
<table>{{range .Items}}<tr><td>{{.Name}}</td><td>{{.Price}} {{$.Currency}}</td>
{{if $.Member}}<td><form method="post" action="/buy"><input type="hidden" name="sku" value="{{.SKU}}">
<button>Pay with coffer</button> <button name="method" value="invoice">Send me an invoice</button></form></td>{{end}}</tr>
{{end}}</table>
{{with .Orders}}<h2>Your orders</h2><ul>{{range .}}
<li><a href="/orders/{{.ID}}">{{.ID}}</a>: {{.Item.Name}}, {{if .Paid}}<strong>paid</strong>{{else}}awaiting payment{{end}}</li>{{end}}</ul>{{end}}
{{end}}`))

var orderPage = template.Must(template.Must(template.New("order").Parse(layout)).Parse(`{{define "body"}}
<h2>Order {{.ID}}</h2>
<p>{{.Item.Name}}: {{.Item.Price}} {{.Currency}}</p>
{{if .Paid}}<p id="status">Paid. Thank you!</p>
{{else}}<p id="status">Awaiting payment. coffer tells us when it arrives; reload this page in a moment.</p>{{end}}
{{end}}`))
