package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// payEnv is an env whose ledger shares the service's clock, with an issuer
// of USD and an operator fee of 1 % (min 0.10, max 5.00) on USD.
type payEnv struct {
	*env
	svc    *app.Service
	iss    *member
	issUSD string
	op     *member
	feeUSD string
}

func newPayEnv(t *testing.T, invoicesPerHour int) *payEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	metrics := httpapi.NewMetrics()
	clk := &clock{}
	engine := ledger.New(db, log, ledger.Config{Now: clk.Now})
	go engine.Run()
	// Sessions outlive the days the tests move the clock by.
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, InvoicesPerHour: invoicesPerHour,
		SessionIdle: 1000 * time.Hour, SessionMax: 1000 * time.Hour})
	srv := httptest.NewServer(httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	e := &payEnv{env: &env{t: t, srv: srv, db: db, clock: clk}, svc: svc}
	e.iss, e.issUSD = e.issuer(t, "USD", 1_000_000_00)
	e.op = e.register(t, "")
	e.feeUSD = e.newPurse(t, e.op, "USD")
	rule := &coffer.FeeRule{Currency: "USD", PPM: 10_000, Min: 10, Max: 500, Purse: e.feeUSD, UpdatedAt: time.Now()}
	if err := db.SetFeeRule(ctx, rule, coffer.NewAuditEvent(time.Now(), coffer.AuditFeeRuleSet, "", nil)); err != nil {
		t.Fatalf("SetFeeRule: %v", err)
	}
	return e
}

// funded registers a member with a USD purse holding amount.
func (e *payEnv) funded(t *testing.T, amount string) (*member, string) {
	t.Helper()
	m := e.register(t, "")
	p := e.newPurse(t, m, "USD")
	e.send(t, e.iss, e.issUSD, p, amount)
	return m, p
}

// obj decodes a JSON object answer.
func obj(t *testing.T, a answer) map[string]any {
	t.Helper()
	var m map[string]any
	a.decode(t, &m)
	return m
}

// purseMoney returns a purse's available and held money.
func (e *payEnv) purseMoney(t *testing.T, m *member, purse string) (string, string) {
	t.Helper()
	a := e.request(t, "GET", "/v1/purses/"+purse, m.token, nil)
	wantStatus(t, a, http.StatusOK)
	j := obj(t, a)
	if j["balance"] != j["available"] {
		t.Errorf("purse %s: got balance %v and available %v, want them equal", purse, j["balance"], j["available"])
	}
	return fmt.Sprint(j["available"]), fmt.Sprint(j["held"])
}

func wantMoney(t *testing.T, e *payEnv, m *member, purse, avail, held string) {
	t.Helper()
	if a, h := e.purseMoney(t, m, purse); a != avail || h != held {
		t.Errorf("purse %s: got available %s held %s, want %s and %s", purse, a, h, avail, held)
	}
}

func protectBody(id, from, to, amount, code string, days int) map[string]any {
	p := map[string]any{"days": days}
	if code != "" {
		p["code"] = code
	}
	return map[string]any{"transfer_id": id, "from": from, "to": to, "amount": amount, "protect": p}
}

func TestPayments_ProtectedByCode(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "100.00")
	b, bUSD := e.funded(t, "0.01")
	c, _ := e.funded(t, "1.00")
	feeBase, _ := e.purseMoney(t, e.op, e.feeUSD) // the fundings paid fees too
	fees := func(v string) string {
		base, _ := coffer.ParseLimit(feeBase, 2)
		add, _ := coffer.ParseLimit(v, 2)
		return coffer.FormatAmount(base+add, 2)
	}

	// Refused shapes change nothing.
	before := e.snapshot(t)
	for _, body := range []map[string]any{
		protectBody("p0", aUSD, bUSD, "10.00", "abc", 5),
		protectBody("p0", aUSD, bUSD, "10.00", "abcd", 256),
		protectBody("p0", aUSD, bUSD, "10.00", "", 121),
		protectBody("p0", aUSD, bUSD, "10.00", "abcd", 0),
	} {
		wantProblem(t, e.request(t, "POST", "/v1/transfers", a.token, body), http.StatusBadRequest, "invalid_request")
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers", a.token, `{"transfer_id":"p0","from":"`+aUSD+`","to":"`+bUSD+`","amount":"1.00","protect":{"days":3,"pin":"x"}}`),
		http.StatusBadRequest, "invalid_request")
	wantUnchanged(t, before, e.snapshot(t))

	// Wrong code eight times: the transfer and its fee go back.
	ans := e.request(t, "POST", "/v1/transfers", a.token, protectBody("p1", aUSD, bUSD, "10.00", "s3cret", 5))
	wantStatus(t, ans, http.StatusCreated)
	j := obj(t, ans)
	prot, _ := j["protection"].(map[string]any)
	if j["kind"] != "protected" || j["status"] != "held" || j["fee"] != "0.10" || prot == nil || prot["by_code"] != true || prot["attempts_left"] != float64(8) {
		t.Fatalf("got %s, want a held protected transfer with fee 0.10 and 8 attempts", ans)
	}
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("p1", aUSD, bUSD, "10.00", "s3cret", 5)), http.StatusOK)
	wantProblem(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("p1", aUSD, bUSD, "10.00", "s3cret", 6)), http.StatusConflict, "idempotency_conflict")
	wantMoney(t, e, a, aUSD, "89.90", "0.00")
	wantMoney(t, e, b, bUSD, "0.01", "10.00")
	wantMoney(t, e, e.op, e.feeUSD, fees("0.00"), "0.10")

	var held struct {
		Sent     []map[string]any `json:"sent"`
		Incoming []map[string]any `json:"incoming"`
	}
	e.request(t, "GET", "/v1/transfers/held", a.token, nil).decode(t, &held)
	if len(held.Sent) != 1 || len(held.Incoming) != 0 {
		t.Errorf("sender's held list: got %d sent %d incoming, want 1 and 0", len(held.Sent), len(held.Incoming))
	}
	e.request(t, "GET", "/v1/transfers/held", b.token, nil).decode(t, &held)
	if len(held.Sent) != 0 || len(held.Incoming) != 1 || held.Incoming[0]["transfer_id"] != "p1" {
		t.Errorf("payee's held list: got %v, want p1 incoming", held)
	}

	// Only the payee may act; the others learn nothing.
	for _, m := range []*member{a, c} {
		wantProblem(t, e.request(t, "POST", "/v1/transfers/p1/release", m.token, map[string]string{"from": aUSD, "code": "s3cret"}), http.StatusNotFound, "not_found")
		wantProblem(t, e.request(t, "POST", "/v1/transfers/p1/refuse", m.token, map[string]string{"from": aUSD}), http.StatusNotFound, "not_found")
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers/p1/release", b.token, map[string]string{"from": bUSD, "code": "s3cret"}), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "POST", "/v1/transfers/p1/release", b.token, map[string]string{"from": aUSD, "code": "x", "extra": "1"}), http.StatusBadRequest, "invalid_request")

	for i := 1; i <= coffer.MaxProtectAttempts; i++ {
		wantProblem(t, e.request(t, "POST", "/v1/transfers/p1/release", b.token, map[string]string{"from": aUSD, "code": fmt.Sprintf("wrong%d", i)}),
			http.StatusUnprocessableEntity, "wrong_protection_code")
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers/p1/release", b.token, map[string]string{"from": aUSD, "code": "s3cret"}), http.StatusConflict, "transfer_not_held")
	wantMoney(t, e, a, aUSD, "100.00", "0.00")
	wantMoney(t, e, b, bUSD, "0.01", "0.00")
	wantMoney(t, e, e.op, e.feeUSD, fees("0.00"), "0.00")
	j = obj(t, e.request(t, "GET", "/v1/transfers/p1", a.token, nil))
	if j["status"] != "returned" {
		t.Errorf("got status %v, want returned", j["status"])
	}

	// The right code releases it, fee included.
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("p2", aUSD, bUSD, "20.00", "s3cret", 5)), http.StatusCreated)
	wantProblem(t, e.request(t, "POST", "/v1/transfers/p2/release", b.token, map[string]string{"from": aUSD, "code": "nope"}), http.StatusUnprocessableEntity, "wrong_protection_code")
	ans = e.request(t, "POST", "/v1/transfers/p2/release", b.token, map[string]string{"from": aUSD, "code": "s3cret"})
	wantStatus(t, ans, http.StatusOK)
	if j := obj(t, ans); j["status"] != "released" {
		t.Errorf("release: got %s, want status released", ans)
	}
	wantMoney(t, e, a, aUSD, "79.80", "0.00")
	wantMoney(t, e, b, bUSD, "20.01", "0.00")
	wantMoney(t, e, e.op, e.feeUSD, fees("0.20"), "0.00")

	// Refused by the payee: back to the sender with the fee.
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("p3", aUSD, bUSD, "5.00", "s3cret", 1)), http.StatusCreated)
	ans = e.request(t, "POST", "/v1/transfers/p3/refuse", b.token, map[string]string{"from": aUSD})
	wantStatus(t, ans, http.StatusOK)
	if j := obj(t, ans); j["status"] != "returned" {
		t.Errorf("refuse: got %s, want status returned", ans)
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers/p3/refuse", b.token, map[string]string{"from": aUSD}), http.StatusConflict, "transfer_not_held")
	wantMoney(t, e, a, aUSD, "79.80", "0.00")
	e.snapshot(t) // invariants hold
}

func TestPayments_ProtectedByTimeScheduler(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "100.00")
	b, bUSD := e.funded(t, "0.01")
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("t1", aUSD, bUSD, "10.00", "", 1)), http.StatusCreated)
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("c1", aUSD, bUSD, "3.00", "code1", 2)), http.StatusCreated)
	// No code releases a transfer protected by time.
	wantProblem(t, e.request(t, "POST", "/v1/transfers/t1/release", b.token, map[string]string{"from": aUSD, "code": "anything"}), http.StatusBadRequest, "invalid_request")

	ctx := context.Background()
	if n, err := e.svc.SchedulerTick(ctx); err != nil || n != 0 {
		t.Fatalf("tick before the period ends: got %d, %v, want 0", n, err)
	}
	e.clock.Advance(25 * time.Hour)
	if n, err := e.svc.SchedulerTick(ctx); err != nil || n != 1 {
		t.Fatalf("tick after a day: got %d, %v, want 1 (the time-protected transfer)", n, err)
	}
	if n, err := e.svc.SchedulerTick(ctx); err != nil || n != 0 {
		t.Fatalf("repeated tick: got %d, %v, want 0", n, err)
	}
	wantMoney(t, e, b, bUSD, "10.01", "3.00")
	e.clock.Advance(24 * time.Hour)
	// The scheduler run as the server runs it catches up at once.
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunScheduler(sctx, time.Hour) }()
	ok := waitUntil(5*time.Second, func() bool { _, h := e.purseMoney(t, b, bUSD); return h == "0.00" })
	cancel()
	<-done
	if !ok {
		t.Fatalf("the code-protected transfer was not returned after its period")
	}
	wantMoney(t, e, b, bUSD, "10.01", "0.00")
	wantMoney(t, e, a, aUSD, "89.90", "0.00") // 100 − 10 − 0.10 fee; the returned one came back whole
	if j := obj(t, e.request(t, "GET", "/v1/transfers/c1", a.token, nil)); j["status"] != "returned" {
		t.Errorf("got %v, want returned", j["status"])
	}
	e.snapshot(t)
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func TestPayments_Invoices(t *testing.T) {
	e := newPayEnv(t, 5)
	merchant := e.register(t, "")
	shop := e.newPurse(t, merchant, "USD")
	payer, payerUSD := e.funded(t, "100.00")
	stranger, strangerUSD := e.funded(t, "100.00")

	newInv := func(order string) answer {
		return e.request(t, "POST", "/v1/invoices", merchant.token, map[string]any{"payer": payer.id, "purse": shop,
			"amount": "12.50", "description": "two mugs", "order_number": order})
	}
	// Refusals.
	for _, tc := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"payer": payer.id, "purse": shop, "amount": "12.50", "order_number": "x", "extra": 1}, 400, "invalid_request"},
		{map[string]any{"payer": payer.id, "purse": shop, "amount": 12.5, "order_number": "x"}, 400, "invalid_amount"},
		{map[string]any{"payer": payer.id, "purse": shop, "amount": "12.50", "order_number": ""}, 400, "invalid_request"},
		{map[string]any{"payer": merchant.id, "purse": shop, "amount": "12.50", "order_number": "x"}, 400, "invalid_request"},
		{map[string]any{"payer": payer.id, "purse": payerUSD, "amount": "12.50", "order_number": "x"}, 404, "purse_not_found"},
		{map[string]any{"payer": payer.id, "purse": shop, "amount": "12.50", "order_number": "x", "expires_in_hours": 721}, 400, "invalid_request"},
		{map[string]any{"payer": "999999999999", "purse": shop, "amount": "12.50", "order_number": "x"}, 403, "not_a_contact"},
	} {
		wantProblem(t, e.request(t, "POST", "/v1/invoices", merchant.token, tc.body), tc.status, tc.code)
	}

	a := newInv("order-1")
	wantStatus(t, a, http.StatusCreated)
	inv := obj(t, a)
	id, _ := inv["invoice_id"].(string)
	if !strings.HasPrefix(id, "inv_") || len(id) < 20 || inv["state"] != "pending" || inv["amount"] != "12.50" || inv["merchant"] != merchant.id || inv["payer"] != payer.id {
		t.Fatalf("got invoice %s, want a pending one with a random ID", a)
	}
	wantProblem(t, newInv("order-1"), http.StatusConflict, "conflict")

	// Visible to merchant and payer only.
	wantStatus(t, e.request(t, "GET", "/v1/invoices/"+id, merchant.token, nil), http.StatusOK)
	wantStatus(t, e.request(t, "GET", "/v1/invoices/"+id, payer.token, nil), http.StatusOK)
	wantProblem(t, e.request(t, "GET", "/v1/invoices/"+id, stranger.token, nil), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "GET", "/v1/invoices/inv_aaaaaaaaaaaaaaaaaaaaaaaaaa", payer.token, nil), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id+"/pay", stranger.token, map[string]string{"transfer_id": "s1", "from": strangerUSD}), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id+"/refuse", stranger.token, nil), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id+"/cancel", payer.token, nil), http.StatusForbidden, "forbidden")
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id+"/refuse", merchant.token, nil), http.StatusForbidden, "forbidden")

	var list struct {
		Invoices []map[string]any `json:"invoices"`
	}
	e.request(t, "GET", "/v1/invoices?role=payer", payer.token, nil).decode(t, &list)
	if len(list.Invoices) != 1 || list.Invoices[0]["invoice_id"] != id {
		t.Errorf("payer's list: got %v, want the invoice", list.Invoices)
	}
	e.request(t, "GET", "/v1/invoices?role=merchant&state=pending", merchant.token, nil).decode(t, &list)
	if len(list.Invoices) != 1 {
		t.Errorf("merchant's list: got %d, want 1", len(list.Invoices))
	}
	e.request(t, "GET", "/v1/invoices?role=merchant", stranger.token, nil).decode(t, &list)
	if len(list.Invoices) != 0 {
		t.Errorf("stranger's list: got %d, want 0", len(list.Invoices))
	}
	wantProblem(t, e.request(t, "GET", "/v1/invoices?role=boss", payer.token, nil), http.StatusBadRequest, "invalid_request")

	// Twenty payments at once: exactly one pays.
	before, _ := e.purseMoney(t, payer, payerUSD)
	var wg sync.WaitGroup
	statuses := make([]answer, 20)
	for i := range statuses {
		wg.Go(func() {
			statuses[i], _ = e.tryRequest("POST", "/v1/invoices/"+id+"/pay", payer.token, map[string]string{"transfer_id": fmt.Sprintf("pay-%d", i), "from": payerUSD})
		})
	}
	wg.Wait()
	paid, winner := 0, -1
	for i, s := range statuses {
		switch {
		case s.Status == http.StatusCreated:
			paid, winner = paid+1, i
		case s.Status == http.StatusConflict && bytes.Contains(s.Body, []byte("invoice_not_payable")):
		default:
			t.Errorf("parallel pay %d: got %s, want 201 or invoice_not_payable", i, s)
		}
	}
	if paid != 1 {
		t.Fatalf("got %d payments of one invoice, want exactly 1", paid)
	}
	if before != "100.00" {
		t.Fatalf("payer started with %s", before)
	}
	wantMoney(t, e, payer, payerUSD, "87.37", "0.00") // 12.50 + 0.13 fee
	wantMoney(t, e, merchant, shop, "12.50", "0.00")
	// A retry of the winning payment answers it again.
	wantStatus(t, e.request(t, "POST", "/v1/invoices/"+id+"/pay", payer.token, map[string]string{"transfer_id": fmt.Sprintf("pay-%d", winner), "from": payerUSD}), http.StatusOK)
	inv = obj(t, e.request(t, "GET", "/v1/invoices/"+id, merchant.token, nil))
	if inv["state"] != "paid" || inv["transfer_id"] != fmt.Sprintf("pay-%d", winner) {
		t.Errorf("got %v, want paid by pay-%d", inv, winner)
	}
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id+"/cancel", merchant.token, nil), http.StatusConflict, "invoice_not_payable")

	// Refused by the payer, cancelled by the merchant: no longer payable.
	id2, _ := obj(t, newInv("order-2"))["invoice_id"].(string)
	wantStatus(t, e.request(t, "POST", "/v1/invoices/"+id2+"/refuse", payer.token, nil), http.StatusOK)
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id2+"/pay", payer.token, map[string]string{"transfer_id": "late", "from": payerUSD}), http.StatusConflict, "invoice_not_payable")
	id3, _ := obj(t, newInv("order-3"))["invoice_id"].(string)
	wantStatus(t, e.request(t, "POST", "/v1/invoices/"+id3+"/cancel", merchant.token, "{}"), http.StatusOK)
	// Expiry.
	a = e.request(t, "POST", "/v1/invoices", merchant.token, map[string]any{"payer": payer.id, "purse": shop, "amount": "1.00", "order_number": "order-4", "expires_in_hours": 1})
	wantStatus(t, a, http.StatusCreated)
	id4, _ := obj(t, a)["invoice_id"].(string)
	e.clock.Advance(61 * time.Minute)
	wantProblem(t, e.request(t, "POST", "/v1/invoices/"+id4+"/pay", payer.token, map[string]string{"transfer_id": "late2", "from": payerUSD}), http.StatusConflict, "invoice_not_payable")
	if j := obj(t, e.request(t, "GET", "/v1/invoices/"+id4, payer.token, nil)); j["state"] != "expired" {
		t.Errorf("got state %v, want expired", j["state"])
	}
	// Five invoices an hour here (the clock has moved on): the sixth is refused.
	for i := 5; i < 10; i++ {
		wantStatus(t, newInv(fmt.Sprintf("order-%d", i)), http.StatusCreated)
	}
	a = newInv("order-10")
	wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
	if a.Header.Get("Retry-After") == "" {
		t.Errorf("got no Retry-After on rate_limited")
	}
	e.snapshot(t)
}

func TestPayments_Trusts(t *testing.T) {
	e := newPayEnv(t, 0)
	owner, ownerUSD := e.funded(t, "100.00")
	merchant := e.register(t, "")
	shop := e.newPurse(t, merchant, "USD")
	stranger, strangerUSD := e.funded(t, "1.00")

	wantProblem(t, e.request(t, "POST", "/v1/trusts", owner.token, map[string]string{"merchant": merchant.id, "purse": strangerUSD}), http.StatusNotFound, "purse_not_found")
	wantProblem(t, e.request(t, "POST", "/v1/trusts", owner.token, map[string]string{"merchant": owner.id, "purse": ownerUSD}), http.StatusBadRequest, "invalid_request")
	wantProblem(t, e.request(t, "POST", "/v1/trusts", owner.token, map[string]string{"merchant": merchant.id, "purse": ownerUSD, "per_day": "1.001"}), http.StatusBadRequest, "invalid_amount")
	a := e.request(t, "POST", "/v1/trusts", owner.token, map[string]string{"merchant": merchant.id, "purse": ownerUSD, "per_transfer": "10.00", "per_day": "15.00"})
	wantStatus(t, a, http.StatusCreated)
	tr := obj(t, a)
	id, _ := tr["trust_id"].(string)
	if tr["state"] != "active" || tr["per_transfer"] != "10.00" || tr["per_day"] != "15.00" || tr["per_month"] != nil {
		t.Fatalf("got trust %s, want active with per_transfer 10.00 and per_day 15.00", a)
	}
	var lists struct {
		Given []map[string]any `json:"given"`
		Held  []map[string]any `json:"held"`
	}
	e.request(t, "GET", "/v1/trusts", merchant.token, nil).decode(t, &lists)
	if len(lists.Given) != 0 || len(lists.Held) != 1 || lists.Held[0]["trust_id"] != id {
		t.Fatalf("merchant's trusts: got %+v, want the trust held", lists)
	}

	debit := func(tid, amount, to string, who *member) answer {
		return e.request(t, "POST", "/v1/transfers", who.token, map[string]string{"transfer_id": tid, "from": ownerUSD, "to": to, "amount": amount, "trust_id": id})
	}
	a = debit("d1", "10.00", shop, merchant)
	wantStatus(t, a, http.StatusCreated)
	if j := obj(t, a); j["trust_id"] != id || j["fee"] != "0.10" {
		t.Errorf("got %s, want the trust and a fee of 0.10", a)
	}
	wantProblem(t, debit("d2", "10.01", shop, merchant), http.StatusUnprocessableEntity, "limit_exceeded")
	wantProblem(t, debit("d3", "5.01", shop, merchant), http.StatusUnprocessableEntity, "limit_exceeded") // day: 15 − 10
	wantStatus(t, debit("d4", "5.00", shop, merchant), http.StatusCreated)
	// The merchant may debit only into its own purse; nobody else may use the trust.
	wantProblem(t, debit("d5", "1.00", strangerUSD, merchant), http.StatusForbidden, "forbidden")
	wantProblem(t, debit("d6", "1.00", strangerUSD, stranger), http.StatusForbidden, "trust_invalid")
	wantMoney(t, e, owner, ownerUSD, "84.80", "0.00") // 15.00 and two fees of 0.10

	// Revocation: owner or merchant only, at once.
	wantProblem(t, e.request(t, "DELETE", "/v1/trusts/"+id, stranger.token, nil), http.StatusNotFound, "not_found")
	wantProblem(t, e.request(t, "DELETE", "/v1/trusts/trust_nonsense", owner.token, nil), http.StatusNotFound, "not_found")
	e.clock.Advance(25 * time.Hour) // a new day: only the revocation stops the next debit
	wantStatus(t, e.request(t, "DELETE", "/v1/trusts/"+id, owner.token, nil), http.StatusNoContent)
	wantProblem(t, debit("d7", "1.00", shop, merchant), http.StatusForbidden, "trust_invalid")
	e.request(t, "GET", "/v1/trusts", owner.token, nil).decode(t, &lists)
	if len(lists.Given) != 1 || lists.Given[0]["state"] != "revoked" {
		t.Errorf("owner's trusts: got %+v, want one revoked", lists)
	}
	e.snapshot(t)
}

func TestPayments_Refunds(t *testing.T) {
	e := newPayEnv(t, 0)
	buyer, buyerUSD := e.funded(t, "100.00")
	shop, shopUSD := e.funded(t, "0.01")
	stranger, _ := e.funded(t, "0.01")
	wantStatus(t, e.request(t, "POST", "/v1/transfers", buyer.token, transferBody{TransferID: "buy", From: buyerUSD, To: shopUSD, Amount: "30.00"}), http.StatusCreated)

	refund := func(m *member, id, amount string) answer {
		return e.request(t, "POST", "/v1/refunds", m.token, map[string]any{"transfer_id": id, "of": map[string]string{"transfer_id": "buy", "from": buyerUSD}, "amount": amount})
	}
	wantProblem(t, refund(stranger, "r0", "1.00"), http.StatusNotFound, "not_found")
	wantProblem(t, refund(buyer, "r0", "1.00"), http.StatusNotFound, "not_found") // the sender is not the payee
	wantProblem(t, e.request(t, "POST", "/v1/refunds", shop.token, map[string]any{"transfer_id": "r0", "amount": "1.00"}), http.StatusBadRequest, "invalid_request")

	a := refund(shop, "r1", "10.00")
	wantStatus(t, a, http.StatusCreated)
	j := obj(t, a)
	of, _ := j["refund_of"].(map[string]any)
	if j["kind"] != "refund" || j["fee"] != "0.00" || of["transfer_id"] != "buy" || of["from"] != buyerUSD || j["to"] != buyerUSD {
		t.Fatalf("got %s, want a fee-free refund of buy back to the buyer", a)
	}
	wantStatus(t, refund(shop, "r1", "10.00"), http.StatusOK)
	wantProblem(t, refund(shop, "r1", "11.00"), http.StatusConflict, "idempotency_conflict")
	wantStatus(t, refund(shop, "r2", "15.00"), http.StatusCreated)
	before := e.snapshot(t)
	wantProblem(t, refund(shop, "r3", "5.01"), http.StatusUnprocessableEntity, "refund_not_allowed")
	wantUnchanged(t, before, e.snapshot(t))
	wantStatus(t, refund(shop, "r3", "5.00"), http.StatusCreated)
	wantProblem(t, refund(shop, "r4", "0.01"), http.StatusUnprocessableEntity, "refund_not_allowed")

	orig := obj(t, e.request(t, "GET", "/v1/transfers/buy", buyer.token, nil))
	if orig["refunded"] != "30.00" {
		t.Errorf("original: got refunded %v, want 30.00", orig["refunded"])
	}
	wantMoney(t, e, buyer, buyerUSD, "99.70", "0.00") // only the fee of 0.30 is gone
	wantMoney(t, e, shop, shopUSD, "0.01", "0.00")
}

func TestPayments_FeesAndQuote(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "1000.00")
	b, bUSD := e.funded(t, "1.00")
	aUSD2 := e.newPurse(t, a, "USD")
	feeBase, _ := e.purseMoney(t, e.op, e.feeUSD)

	ans := e.request(t, "GET", "/v1/fees", a.token, nil)
	wantStatus(t, ans, http.StatusOK)
	if bytes.Contains(ans.Body, []byte(e.feeUSD)) {
		t.Errorf("GET /v1/fees shows the fee purse: %s", ans)
	}
	var fees struct {
		Fees []map[string]string `json:"fees"`
	}
	ans.decode(t, &fees)
	if len(fees.Fees) != 1 || fees.Fees[0]["currency"] != "USD" || fees.Fees[0]["percent"] != "1" || fees.Fees[0]["min"] != "0.10" || fees.Fees[0]["max"] != "5.00" {
		t.Errorf("got %s, want USD 1 %% min 0.10 max 5.00", ans)
	}
	wantProblem(t, e.request(t, "GET", "/v1/fees", "", nil), http.StatusUnauthorized, "unauthorized")

	for _, tc := range []struct{ to, amount, fee, total string }{
		{bUSD, "1.00", "0.10", "1.10"},      // min
		{bUSD, "123.45", "1.23", "124.68"},  // 1 %, rounded half up
		{bUSD, "900.00", "5.00", "905.00"},  // max
		{aUSD2, "100.00", "0.00", "100.00"}, // own purses: free
	} {
		a2 := e.request(t, "POST", "/v1/transfers/quote", a.token, map[string]string{"from": aUSD, "to": tc.to, "amount": tc.amount})
		wantStatus(t, a2, http.StatusOK)
		var q map[string]string
		a2.decode(t, &q)
		if q["fee"] != tc.fee || q["total"] != tc.total || q["amount"] != tc.amount || q["currency"] != "USD" {
			t.Errorf("quote %s: got %s, want fee %s total %s", tc.amount, a2, tc.fee, tc.total)
		}
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers/quote", b.token, map[string]string{"from": aUSD, "to": bUSD, "amount": "1.00"}), http.StatusNotFound, "purse_not_found")
	wantProblem(t, e.request(t, "POST", "/v1/transfers/quote", a.token, map[string]string{"from": aUSD, "to": bUSD, "amount": "-1"}), http.StatusBadRequest, "invalid_amount")
	wantProblem(t, e.request(t, "POST", "/v1/transfers/quote", a.token, map[string]string{"from": aUSD, "to": aUSD, "amount": "1.00"}), http.StatusBadRequest, "same_purse")

	// What the quote says is what the ledger charges.
	tr := e.send(t, a, aUSD, bUSD, "123.45")
	if got := obj(t, e.request(t, "GET", "/v1/transfers/"+tr.TransferID, a.token, nil))["fee"]; got != "1.23" {
		t.Errorf("charged fee %v, want 1.23", got)
	}
	wantMoney(t, e, a, aUSD, "875.32", "0.00")
	if got, _ := e.purseMoney(t, e.op, e.feeUSD); got != "" {
		base, _ := coffer.ParseLimit(feeBase, 2)
		if want := coffer.FormatAmount(base+123, 2); got != want {
			t.Errorf("fee purse: got %s, want %s", got, want)
		}
	}
	// Less than amount plus fee is refused, and nothing moves.
	before := e.snapshot(t)
	wantProblem(t, e.request(t, "POST", "/v1/transfers", b.token, transferBody{TransferID: "all", From: bUSD, To: aUSD, Amount: "124.45"}), http.StatusUnprocessableEntity, "insufficient_funds")
	wantUnchanged(t, before, e.snapshot(t))
}

// TestPayments_PendingShowsFee: a transfer waiting for confirmation says
// what fee it will carry, and the SMS names it.
func TestPayments_PendingShowsFee(t *testing.T) {
	e := newConfirmEnv(t)
	op := e.register(t, "")
	feePurse := e.newPurse(t, op, "USD")
	if err := e.db.SetFeeRule(context.Background(), &coffer.FeeRule{Currency: "USD", PPM: 8000, Min: 1, Purse: feePurse, UpdatedAt: time.Now()},
		coffer.NewAuditEvent(time.Now(), coffer.AuditFeeRuleSet, "", nil)); err != nil {
		t.Fatal(err)
	}
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	payee, to := e.funded(t)

	// Granting a trust needs a step-up confirmation once there is a factor.
	grant := map[string]string{"merchant": payee.id, "purse": from, "per_day": "10.00"}
	p := wantProblem(t, e.request(t, "POST", "/v1/trusts", m.token, grant), http.StatusForbidden, "confirmation_required")
	var pj struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	e.request(t, "POST", "/v1/trusts", m.token, grant).decode(t, &pj)
	if pj.ConfirmationID == "" {
		t.Fatalf("got problem %+v, want a confirmation to answer", p)
	}
	wantStatus(t, e.request(t, "POST", "/v1/trusts", m.token, grant, httpapi.ConfirmationHeader, pj.ConfirmationID+":"+e.totp(seed)), http.StatusCreated)
	e.clock.Advance(30 * time.Second)
	a := e.request(t, "POST", "/v1/transfers", m.token, map[string]any{"transfer_id": "pp", "from": from, "to": to, "amount": "50.00",
		"protect": map[string]any{"code": "open-sesame", "days": 3}})
	wantStatus(t, a, http.StatusAccepted)
	j := obj(t, a)
	if j["fee"] != "0.40" || j["total"] != "50.40" || j["amount"] != "50.00" || j["currency"] != "USD" || j["confirmation_id"] == nil {
		t.Fatalf("got %s, want a pending transfer with fee 0.40 and total 50.40", a)
	}
	// The same protected transfer asked for again is the same pending one;
	// another code is another transfer.
	a2 := e.request(t, "POST", "/v1/transfers", m.token, map[string]any{"transfer_id": "pp", "from": from, "to": to, "amount": "50.00",
		"protect": map[string]any{"code": "open-sesame", "days": 3}})
	if a2.Status != http.StatusAccepted || obj(t, a2)["confirmation_id"] != j["confirmation_id"] {
		t.Errorf("repeated POST: got %s, want the same 202", a2)
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers", m.token, map[string]any{"transfer_id": "pp", "from": from, "to": to, "amount": "50.00",
		"protect": map[string]any{"code": "other-code", "days": 3}}), http.StatusConflict, "idempotency_conflict")

	// A batch is not confirmed by code: refused whole for a session.
	before := e.snapshot(t)
	a = e.request(t, "POST", "/v1/transfers/batch", m.token, map[string]any{"transfers": []map[string]string{{"transfer_id": "b1", "from": from, "to": to, "amount": "1.00"}}})
	p = wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	if !strings.Contains(p.Detail, "key file") {
		t.Errorf("got detail %q, want it to say to sign with a key file", p.Detail)
	}
	wantUnchanged(t, before, e.snapshot(t))
}

func TestPayments_Statement(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "100.00")
	b, bUSD := e.funded(t, "0.01")
	e.send(t, a, aUSD, bUSD, "10.00")
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("sp1", aUSD, bUSD, "7.00", "letmein", 3)), http.StatusCreated)
	wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody("sp2", aUSD, bUSD, "2.00", "letmein", 3)), http.StatusCreated)
	wantStatus(t, e.request(t, "POST", "/v1/transfers/sp1/release", b.token, map[string]string{"from": aUSD, "code": "letmein"}), http.StatusOK)
	e.send(t, b, bUSD, aUSD, "1.00")

	type money struct{ Available, Held string }
	var st struct {
		Purse, Currency string
		Since, Until    string
		Opening         money
		Closing         money
		Entries         []struct {
			At, Kind                  string
			Held                      bool
			Amount                    string `json:"amount"`
			BalanceAfter              string `json:"balance_after"`
			Counterparty, Description string
			TransferID                string `json:"transfer_id"`
		}
	}
	ans := e.request(t, "GET", "/v1/purses/"+bUSD+"/statement", b.token, nil)
	wantStatus(t, ans, http.StatusOK)
	ans.decode(t, &st)
	if st.Purse != bUSD || st.Opening.Available != "0.00" || st.Closing.Available != "15.91" || st.Closing.Held != "2.00" {
		t.Fatalf("got statement %s, want opening 0.00 and closing 15.91 available, 2.00 held", ans)
	}
	parse := func(s string) int64 {
		neg := strings.HasPrefix(s, "-")
		v, err := coffer.ParseLimit(strings.TrimPrefix(s, "-"), 2)
		if err != nil {
			t.Fatalf("amount %q: %v", s, err)
		}
		if neg {
			v = -v
		}
		return v
	}
	avail, held := parse(st.Opening.Available), parse(st.Opening.Held)
	for _, en := range st.Entries {
		if en.Held {
			held += parse(en.Amount)
			if held != parse(en.BalanceAfter) {
				t.Errorf("entry %+v: held %d, want balance_after", en, held)
			}
		} else {
			avail += parse(en.Amount)
			if avail != parse(en.BalanceAfter) {
				t.Errorf("entry %+v: available %d, want balance_after", en, avail)
			}
		}
	}
	if avail != parse(st.Closing.Available) || held != parse(st.Closing.Held) {
		t.Errorf("opening + entries = %d/%d, want closing %s/%s", avail, held, st.Closing.Available, st.Closing.Held)
	}
	kinds := map[string]int{}
	for _, en := range st.Entries {
		kinds[en.Kind]++
	}
	if kinds["hold"] != 2 || kinds["release"] != 2 || kinds["transfer"] != 3 || kinds["fee"] != 1 {
		t.Errorf("got entry kinds %v, want 2 hold, 2 release, 3 transfer, 1 fee", kinds)
	}

	// CSV: the same data, then opening and closing rows.
	ans = e.request(t, "GET", "/v1/purses/"+bUSD+"/statement?format=csv&since="+time.Now().UTC().Format(time.DateOnly), b.token, nil)
	wantStatus(t, ans, http.StatusOK)
	if ct := ans.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.HasPrefix(ans.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("got Content-Type %q Content-Disposition %q, want a CSV attachment", ct, ans.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(bytes.NewReader(ans.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, ans.Body)
	}
	if strings.Join(rows[0], ",") != "at,kind,held,amount,balance_after,counterparty,transfer_id,description" || len(rows) != 1+len(st.Entries)+4 {
		t.Fatalf("got CSV %q, want a header, %d entries and 4 opening/closing rows", ans.Body, len(st.Entries))
	}
	var sum [2]int64
	var open, closing [2]int64
	for _, r := range rows[1:] {
		h := 0
		if r[2] == "true" {
			h = 1
		}
		switch r[1] {
		case "opening":
			open[h] = parse(r[4])
		case "closing":
			closing[h] = parse(r[4])
		default:
			sum[h] += parse(r[3])
		}
	}
	if open[0]+sum[0] != closing[0] || open[1]+sum[1] != closing[1] {
		t.Errorf("CSV: opening %v + entries %v != closing %v", open, sum, closing)
	}

	// Refusals: another's purse, bad periods, bad format.
	wantProblem(t, e.request(t, "GET", "/v1/purses/"+bUSD+"/statement", a.token, nil), http.StatusNotFound, "purse_not_found")
	for _, q := range []string{"?since=yesterday", "?since=2025-01-01&until=2026-06-01", "?since=2026-02-01&until=2026-01-01", "?format=xml"} {
		wantProblem(t, e.request(t, "GET", "/v1/purses/"+bUSD+"/statement"+q, b.token, nil), http.StatusBadRequest, "invalid_request")
	}
	// A period before everything is empty and balances at zero.
	ans = e.request(t, "GET", "/v1/purses/"+bUSD+"/statement?since=2020-01-01&until=2020-12-31", b.token, nil)
	wantStatus(t, ans, http.StatusOK)
	ans.decode(t, &st)
	if len(st.Entries) != 0 || st.Closing.Available != "0.00" {
		t.Errorf("got %s, want an empty statement", ans)
	}
}

func TestPayments_Batch(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "50.00")
	_, bUSD := e.funded(t, "0.01")
	_, cUSD := e.funded(t, "0.01")
	item := func(id, to, amount string) map[string]string {
		return map[string]string{"transfer_id": id, "from": aUSD, "to": to, "amount": amount}
	}
	type result struct {
		TransferID string         `json:"transfer_id"`
		Result     string         `json:"result"`
		Code       string         `json:"code"`
		Transfer   map[string]any `json:"transfer"`
	}
	var out struct {
		Results          []result `json:"results"`
		Applied, Refused int
	}

	// All or nothing: one refusal undoes the rest.
	before := e.snapshot(t)
	ans := e.request(t, "POST", "/v1/transfers/batch", a.token, map[string]any{"all_or_nothing": true,
		"transfers": []map[string]string{item("g1", bUSD, "10.00"), item("g2", cUSD, "45.00"), item("g3", bUSD, "1.00")}})
	wantStatus(t, ans, http.StatusOK)
	ans.decode(t, &out)
	if out.Applied != 0 || out.Refused != 3 || out.Results[1].Code != "insufficient_funds" || out.Results[0].Code != "not_applied" || out.Results[2].Code != "not_applied" {
		t.Fatalf("got %s, want all refused: insufficient_funds for g2, not_applied for the others", ans)
	}
	wantUnchanged(t, before, e.snapshot(t))
	ans = e.request(t, "POST", "/v1/transfers/batch", a.token, map[string]any{"all_or_nothing": true,
		"transfers": []map[string]string{item("h1", bUSD, "1.00"), item("h2", "Z1", "1.00")}})
	ans.decode(t, &out)
	if out.Applied != 0 || out.Results[1].Code != "purse_not_found" || out.Results[0].Code != "not_applied" {
		t.Fatalf("got %s, want a bad purse to stop the whole batch", ans)
	}
	wantUnchanged(t, before, e.snapshot(t))

	// Each on its own: the good ones apply.
	ans = e.request(t, "POST", "/v1/transfers/batch", a.token, map[string]any{
		"transfers": []map[string]string{item("i1", bUSD, "10.00"), item("i2", cUSD, "45.00"), item("i3", cUSD, "5.00")}})
	wantStatus(t, ans, http.StatusOK)
	ans.decode(t, &out)
	if out.Applied != 2 || out.Refused != 1 || out.Results[0].Result != "applied" || out.Results[1].Code != "insufficient_funds" || out.Results[2].Result != "applied" || out.Results[0].Transfer["fee"] != "0.10" {
		t.Fatalf("got %s, want i1 and i3 applied with fees, i2 refused", ans)
	}
	wantMoney(t, e, a, aUSD, "34.80", "0.00")
	// A retry replays.
	ans = e.request(t, "POST", "/v1/transfers/batch", a.token, map[string]any{"transfers": []map[string]string{item("i1", bUSD, "10.00")}})
	ans.decode(t, &out)
	if out.Results[0].Result != "replayed" {
		t.Errorf("retry: got %s, want replayed", ans)
	}

	// Refusals of the whole request.
	for _, body := range []any{
		map[string]any{"transfers": []map[string]string{}},
		map[string]any{"transfers": []map[string]string{item("d", bUSD, "1.00"), item("d", cUSD, "1.00")}},
		map[string]any{"transfers": []map[string]string{item("x", bUSD, "1.00")}, "all": true},
	} {
		wantProblem(t, e.request(t, "POST", "/v1/transfers/batch", a.token, body), http.StatusBadRequest, "invalid_request")
	}
	many := make([]map[string]string, coffer.MaxBatchTransfers+1)
	for i := range many {
		many[i] = item(fmt.Sprintf("m%d", i), bUSD, "0.01")
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers/batch", a.token, map[string]any{"transfers": many}), http.StatusBadRequest, "invalid_request")
	wantProblem(t, e.request(t, "POST", "/v1/transfers/batch", a.token, strings.Repeat(" ", httpapi.MaxBatchBody+1)), http.StatusRequestEntityTooLarge, "request_too_large")
	e.snapshot(t)
}

// TestPayments_InvoiceSweepClockBack: after the clock went back, the
// scheduler still records the expiry of invoices past their time (its
// once-a-minute sweep is not put off for as long as the clock went back).
func TestPayments_InvoiceSweepClockBack(t *testing.T) {
	e := newPayEnv(t, 0)
	ctx := context.Background()
	merchant := e.register(t, "")
	shop := e.newPurse(t, merchant, "USD")
	payer, _ := e.funded(t, "10.00")
	if _, err := e.svc.SchedulerTick(ctx); err != nil { // a sweep now
		t.Fatal(err)
	}
	e.clock.Advance(-2 * time.Hour)
	a := e.request(t, "POST", "/v1/invoices", merchant.token, map[string]any{"payer": payer.id, "purse": shop, "amount": "1.00", "order_number": "o-1", "expires_in_hours": 1})
	wantStatus(t, a, http.StatusCreated)
	id, _ := obj(t, a)["invoice_id"].(string)
	e.clock.Advance(61 * time.Minute) // past its time, still before the last sweep's
	if _, err := e.svc.SchedulerTick(ctx); err != nil {
		t.Fatal(err)
	}
	inv, err := e.db.Invoice(ctx, id) // as stored, not as read through the service
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != coffer.InvoiceExpired {
		t.Errorf("invoice past its time after a sweep: stored state %q, want %q", inv.State, coffer.InvoiceExpired)
	}
}
