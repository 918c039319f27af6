package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/otp"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/web"
)

// testPassword is long enough and not on the common-password list.
const testPassword = "correct horse battery staple 42"

// cheapHasher keeps registrations and logins fast; the pages behave the same.
var cheapHasher = password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}

// clock is the service's clock: real time plus an offset a test advances,
// so that a TOTP code of the next time step can be made without waiting.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is the web keeper on a fresh database, wired like `cofferd serve`.
type env struct {
	srv   *httptest.Server
	web   *web.Server
	svc   *app.Service
	db    *sqlite.DB
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, web.Config{})
}

// newEnvWith is newEnv with the keeper configured by cfg.
func newEnvWith(t *testing.T, cfg web.Config) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, DocumentKey: make([]byte, 32),
		Uploads: app.UploadConfig{Dir: t.TempDir()}})
	keeper, err := web.New(svc, log, cfg)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	srv := httptest.NewServer(keeper)
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &env{srv: srv, web: keeper, svc: svc, db: db, clock: clk}
}

// issuer makes a member with a funded issuing purse of currency and returns
// the member ID and the purse.
func (e *env) issuer(t *testing.T, currency string) (string, string) {
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
	if err := e.db.SetIssuer(ctx, p.Number, 1_000_000_00); err != nil {
		t.Fatalf("SetIssuer: %v", err)
	}
	return m.ID, p.Number
}

// fund sends amount from the issuer's purse to purse.
func (e *env) fund(t *testing.T, issuer, from, to, amount string) {
	t.Helper()
	_, _, err := e.svc.Transfer(context.Background(), issuer, app.TransferInput{TransferID: "fund-" + to + "-" + amount, From: from, To: to, Amount: amount})
	if err != nil {
		t.Fatalf("fund %s with %s: %v", to, amount, err)
	}
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so that tests see each answer.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string // the token of the last page read
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer with its body read.
type page struct {
	Status int
	Header http.Header
	Body   string
}

// Location is where a redirect leads.
func (p page) Location() string { return p.Header.Get("Location") }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if m := csrfRE.FindStringSubmatch(p.Body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form with the CSRF token of the last page read, unless the
// form has its own csrf field.
func (b *browser) post(path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// follow reads the page a redirect leads to.
func (b *browser) follow(p page) page {
	b.t.Helper()
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("got %d, want 303 See Other; body:\n%s", p.Status, p.Body)
	}
	return b.get(p.Location())
}

var memberIDRE = regexp.MustCompile(`id="new-member-id">(\d{12})<`)

// register opens an account through the pages and returns the member ID.
func (b *browser) register(email string) string {
	b.t.Helper()
	b.get("/register")
	p := b.follow(b.post("/register", url.Values{"email": {email}, "password": {testPassword}, "password2": {testPassword}}))
	m := memberIDRE.FindStringSubmatch(p.Body)
	if m == nil || !coffer.ValidMemberID(m[1]) {
		b.t.Fatalf("registration page shows no member ID:\n%s", p.Body)
	}
	return m[1]
}

// login logs in with the password; it returns the page the login led to.
func (b *browser) login(login string) page {
	b.t.Helper()
	b.get("/login")
	return b.follow(b.post("/login", url.Values{"login": {login}, "password": {testPassword}}))
}

// totp is the code of seed (base32) at the service's clock.
func (e *env) totp(t *testing.T, secret string) string {
	t.Helper()
	seed, err := otp.DecodeSecret(secret)
	if err != nil {
		t.Fatalf("decode secret %q: %v", secret, err)
	}
	code, err := otp.TOTP(otp.SHA1, seed, e.clock.Now(), 6)
	if err != nil {
		t.Fatalf("TOTP: %v", err)
	}
	return code
}

// ocra answers a payment challenge with seed (base32).
func ocra(t *testing.T, secret, challenge string) string {
	t.Helper()
	seed, err := otp.DecodeSecret(secret)
	if err != nil {
		t.Fatalf("decode secret: %v", err)
	}
	su, err := otp.ParseSuite(app.OCRASuite)
	if err != nil {
		t.Fatal(err)
	}
	a, err := su.Answer(seed, otp.Inputs{Question: challenge})
	if err != nil {
		t.Fatalf("OCRA answer to %q: %v", challenge, err)
	}
	return a
}
