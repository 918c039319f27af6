package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/mail"
	"github.com/coffer-money/coffer/sqlite"
)

// newMailEnv is newEnv with an e-mail outbox and the engine on the test
// clock too. It returns the outbox file.
func newMailEnv(t *testing.T) (*env, string) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	outbox := filepath.Join(dir, "outbox", "mail.log")
	mq := mail.NewQueue(&mail.Outbox{Path: outbox, From: "coffer@test"}, log, 100)
	metrics := httpapi.NewMetrics()
	clk := &clock{}
	engine := ledger.New(db, log, ledger.Config{Now: clk.Now, Observer: ledger.Observer{Batch: metrics.Batch, Outcome: metrics.Outcome}})
	go engine.Run()
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Mail: mq})
	api := httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		mq.Close()
		db.Close()
	})
	return &env{t: t, srv: srv, db: db, clock: clk}, outbox
}

// waitMail waits for an outbox message whose text matches re and returns
// the first submatch (or the whole match).
func waitMail(t *testing.T, outbox string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		msgs, _ := mail.ReadOutbox(outbox)
		for i := len(msgs) - 1; i >= 0; i-- {
			if m := re.FindStringSubmatch(msgs[i]); m != nil {
				return m[len(m)-1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	msgs, _ := mail.ReadOutbox(outbox)
	t.Fatalf("no e-mail matching %s; outbox holds %d: %q", re, len(msgs), msgs)
	return ""
}

// restrict sets m's ranges directly in the store (the API refuses a list
// that shuts out the caller) and lets the settings cache expire.
func (e *env) restrict(t *testing.T, memberID string, ranges ...string) {
	t.Helper()
	if err := e.db.SetIPRanges(context.Background(), memberID, ranges, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Second)
}

func TestServer_IPRanges(t *testing.T) {
	e, outbox := newMailEnv(t)
	m := e.register(t, "ipr@example.org")
	k := e.addKey(t, m, "script")

	t.Run("Validation", func(t *testing.T) {
		wantProblem(t, e.request(t, "PUT", "/v1/security/ip-ranges", m.token, map[string]any{"ip_ranges": []string{"10.0.0.0/33"}}), 400, "invalid_request")
		// A list without the caller's own address would lock them out.
		wantProblem(t, e.request(t, "PUT", "/v1/security/ip-ranges", m.token, map[string]any{"ip_ranges": []string{"10.0.0.0/8"}}), 400, "invalid_request")
		a := e.request(t, "PUT", "/v1/security/ip-ranges", m.token, map[string]any{"ip_ranges": []string{"10.1.2.3/8", "127.0.0.1", "10.0.0.0/8"}})
		wantStatus(t, a, 200)
		var out struct {
			IPRanges []string `json:"ip_ranges"`
		}
		a.decode(t, &out)
		if strings.Join(out.IPRanges, " ") != "10.0.0.0/8 127.0.0.1/32" {
			t.Fatalf("got ranges %q, want normalised [10.0.0.0/8 127.0.0.1/32]", out.IPRanges)
		}
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), 200)
		wantStatus(t, e.signedRequest(t, k, "GET", "/v1/purses", nil, signOpts{}), 200)
	})

	t.Run("RefusedForEveryMethod", func(t *testing.T) {
		e.restrict(t, m.id, "192.0.2.0/24", "2001:db8::/32")
		wantProblem(t, e.request(t, "GET", "/v1/purses", m.token, nil), 403, "ip_not_allowed")
		wantProblem(t, e.signedRequest(t, k, "GET", "/v1/purses", nil, signOpts{}), 403, "ip_not_allowed")
		right := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword})
		wrong := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword + "x"})
		pr := wantProblem(t, right, 403, "ip_not_allowed")
		pw := wantProblem(t, wrong, 403, "ip_not_allowed")
		if pr != pw {
			t.Fatalf("right password got %+v, wrong one %+v; want the same answer", pr, pw)
		}
	})

	t.Run("Unblock", func(t *testing.T) {
		code := waitMail(t, outbox, regexp.MustCompile(`(?s)To: ipr@example.org.*enter this code.*?\n\s+(\d{8})\n`))
		wantProblem(t, e.request(t, "POST", "/v1/security/ip-ranges/unblock", "", map[string]string{"member_id": m.id, "code": "00000000"}), 401, "unauthorized")
		a := e.request(t, "POST", "/v1/security/ip-ranges/unblock", "", map[string]string{"member_id": m.id, "code": code})
		wantStatus(t, a, 200)
		wantProblem(t, e.request(t, "POST", "/v1/security/ip-ranges/unblock", "", map[string]string{"member_id": m.id, "code": code}), 401, "unauthorized")
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), 200)
		wantStatus(t, e.signedRequest(t, k, "GET", "/v1/purses", nil, signOpts{}), 200)
		a = e.request(t, "GET", "/v1/security/ip-ranges", m.token, nil)
		if !strings.Contains(string(a.Body), `"127.0.0.1/32"`) || !strings.Contains(string(a.Body), `"192.0.2.0/24"`) {
			t.Fatalf("got %s, want 127.0.0.1/32 added to the list", a)
		}
		e.login(t, m.id, testPassword)
		kinds := e.securityKinds(t, m)
		for _, want := range []string{"ip_ranges.changed", "ip.refused", "unblock.sent", "unblock.failed", "unblock.used"} {
			if !contains(kinds, want) {
				t.Errorf("security log %q lacks %s", kinds, want)
			}
		}
	})

	t.Run("Clear", func(t *testing.T) {
		wantStatus(t, e.request(t, "PUT", "/v1/security/ip-ranges", m.token, map[string]any{"ip_ranges": []string{}}), 200)
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), 200)
	})
}

// An unblock code cannot add its address to a full list: the member hears
// why.
func TestServer_UnblockFullList(t *testing.T) {
	e, outbox := newMailEnv(t)
	m := e.register(t, "full@example.org")
	full := make([]string, coffer.MaxIPRanges)
	for i := range full {
		full[i] = fmt.Sprintf("10.0.0.%d/32", i)
	}
	e.restrict(t, m.id, full...)
	wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}), 403, "ip_not_allowed")
	code := waitMail(t, outbox, regexp.MustCompile(`(?s)To: full@example.org.*enter this code.*?\n\s+(\d{8})\n`))
	p := wantProblem(t, e.request(t, "POST", "/v1/security/ip-ranges/unblock", "", map[string]string{"member_id": m.id, "code": code}), 422, "limit_exceeded")
	if p.Detail != "The list of IP ranges is full." {
		t.Fatalf("got detail %q, want %q", p.Detail, "The list of IP ranges is full.")
	}
}

func TestServer_IPRangesCertificate(t *testing.T) {
	e, _ := newCertEnv(t, 10, false)
	m := e.register(t, "")
	_, pair := e.issue(t, m, p256(t))
	hc := e.certClient(t, pair)
	wantStatus(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), 200)
	e.restrict(t, m.id, "::1/128")
	wantProblem(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), 403, "ip_not_allowed")
	e.restrict(t, m.id, "127.0.0.1/32", "::1/128")
	wantStatus(t, e.certDo(t, hc, "GET", "/v1/purses", "", nil), 200)
}

type limitsJSON struct {
	PerTransfer        *string `json:"per_transfer"`
	PerDay             *string `json:"per_day"`
	PerMonth           *string `json:"per_month"`
	SpentToday         string  `json:"spent_today"`
	SpentThisMonth     string  `json:"spent_this_month"`
	RemainingToday     *string `json:"remaining_today"`
	RemainingThisMonth *string `json:"remaining_this_month"`
}

func TestServer_PurseLimits(t *testing.T) {
	e, outbox := newMailEnv(t)
	iss, ip := e.issuer(t, "USD", 1_000_000_00)
	a := e.register(t, "payer@example.org")
	b := e.register(t, "payee@example.org")
	ap, bp := e.newPurse(t, a, "USD"), e.newPurse(t, b, "USD")
	e.send(t, iss, ip, ap, "1000.00")

	lim := e.request(t, "PUT", "/v1/purses/"+ap+"/limits", a.token, map[string]any{"per_transfer": "50.00", "per_day": "100.00", "per_month": nil})
	wantStatus(t, lim, 200)
	e.send(t, a, ap, bp, "50.00") // exactly the per-transfer limit
	res := e.request(t, "POST", "/v1/transfers", a.token, transferBody{TransferID: e.nextID("t"), From: ap, To: bp, Amount: "50.01"})
	wantProblem(t, res, 422, "limit_exceeded")
	e.send(t, a, ap, bp, "30.00")
	e.send(t, a, ap, bp, "20.00") // exactly the daily limit
	res = e.request(t, "POST", "/v1/transfers", a.token, transferBody{TransferID: e.nextID("t"), From: ap, To: bp, Amount: "0.01"})
	wantProblem(t, res, 422, "limit_exceeded")
	var rem struct {
		Remaining string `json:"remaining"`
	}
	res.decode(t, &rem)
	if rem.Remaining != "0.00" {
		t.Fatalf("got %s, want remaining 0.00", res)
	}
	g := e.request(t, "GET", "/v1/purses/"+ap+"/limits", a.token, nil)
	wantStatus(t, g, 200)
	var l limitsJSON
	g.decode(t, &l)
	if l.SpentToday != "100.00" || l.RemainingToday == nil || *l.RemainingToday != "0.00" || l.PerDay == nil || *l.PerDay != "100.00" || l.PerMonth != nil {
		t.Fatalf("got limits %s", g)
	}
	// Another member's purse is not found.
	wantProblem(t, e.request(t, "GET", "/v1/purses/"+ap+"/limits", b.token, nil), 404, "purse_not_found")
	wantProblem(t, e.request(t, "PUT", "/v1/purses/"+ap+"/limits", a.token, map[string]any{"per_day": "-1"}), 400, "invalid_amount")
	// Raising takes effect at once too (confirmation, when one is due, is
	// asked for by RequireConfirmation).
	wantStatus(t, e.request(t, "PUT", "/v1/purses/"+ap+"/limits", a.token, map[string]any{"per_day": "100.01"}), 200)
	e.send(t, a, ap, bp, "0.01")
	if !contains(e.securityKinds(t, a), "limits.changed") {
		t.Fatal("no limits.changed event")
	}
	waitMail(t, outbox, regexp.MustCompile(`(?s)To: payer@example.org.*Subject: coffer: limits of purse`))

	// The next UTC day starts afresh: the engine runs on the test clock.
	now := e.clock.Now().UTC()
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 1, 0, time.UTC)
	e.clock.Advance(next.Sub(now))
	a.token = e.login(t, a.id, testPassword)
	e.send(t, a, ap, bp, "50.00")
}

func TestServer_Notifications(t *testing.T) {
	e, outbox := newMailEnv(t)
	iss, ip := e.issuer(t, "USD", 1_000_000_00)
	b := e.register(t, "note@example.org")
	bp := e.newPurse(t, b, "USD")
	a := e.request(t, "PUT", "/v1/security/notifications", b.token, map[string]any{"incoming_payment": true})
	wantStatus(t, a, 200)
	if !strings.Contains(string(a.Body), `"incoming_payment":true`) || !strings.Contains(string(a.Body), `"security":true`) {
		t.Fatalf("got %s", a)
	}
	waitMail(t, outbox, regexp.MustCompile(`(?s)To: note@example.org.*Subject: coffer: login from a new address 127.0.0.1`))
	waitMail(t, outbox, regexp.MustCompile(`(?s)To: note@example.org.*Subject: coffer: notification settings changed`))
	e.send(t, iss, ip, bp, "12.34")
	waitMail(t, outbox, regexp.MustCompile(`(?s)To: note@example.org.*Subject: coffer: 12.34 USD received`))
	if !contains(e.securityKinds(t, b), "notifications.changed") {
		t.Fatal("no notifications.changed event")
	}
}
