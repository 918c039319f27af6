package main

// End-to-end test of the payment forms against the real cofferd binary, on
// SQLite and (when COFFER_TEST_POSTGRES is set) PostgreSQL: the operator's
// fee, protected transfers (by code and by time, the latter settled by the
// scheduler after a restart), invoices paid once under parallel attempts,
// trusts, refunds, statements and mass payments.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres/pgtest"
)

func TestCofferd_Payments(t *testing.T) {
	needBinaries(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testPayments(t)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testPayments(t, "--db", pgtest.URL(t))
	})
}

// payJSON sends a request and decodes any answer into a map; it fails the
// test unless the status is want (0: any).
func payJSON(t *testing.T, s *e2eServer, method, path, token string, in any, want int) (int, map[string]any) {
	t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	status, data, err := s.call(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if want != 0 && status != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, status, bytes.TrimSpace(data), want)
	}
	var out map[string]any
	json.Unmarshal(data, &out)
	return status, out
}

// wantCode fails unless the request is refused with status and code.
func wantCode(t *testing.T, s *e2eServer, method, path, token string, in any, status int, code string) {
	t.Helper()
	_, out := payJSON(t, s, method, path, token, in, status)
	if out["code"] != code {
		t.Fatalf("%s %s: got code %v, want %s", method, path, out["code"], code)
	}
}

func payMoney(t *testing.T, s *e2eServer, m *e2eMember, purse string) (avail, held string) {
	t.Helper()
	_, p := payJSON(t, s, "GET", "/v1/purses/"+purse, m.token, nil, http.StatusOK)
	return fmt.Sprint(p["available"]), fmt.Sprint(p["held"])
}

func wantPayMoney(t *testing.T, s *e2eServer, m *e2eMember, purse, avail, held string) {
	t.Helper()
	if a, h := payMoney(t, s, m, purse); a != avail || h != held {
		t.Fatalf("purse %s: got available %s held %s, want %s and %s", purse, a, h, avail, held)
	}
}

func signedAmount(t *testing.T, s string) int64 {
	t.Helper()
	v, err := coffer.ParseLimit(strings.TrimPrefix(s, "-"), 2)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	if strings.HasPrefix(s, "-") {
		return -v
	}
	return v
}

func testPayments(t *testing.T, extra ...string) {
	data := t.TempDir()
	s := startServerWith(t, data, extra...)
	e := newEconomy(t, s, 3)
	m0, m1, m2 := e.members[0], e.members[1], e.members[2]
	op := registerMember(t, s)
	op.purse = newPurse(t, s, op, "USD")

	// The operator's fee.
	admin := func(args ...string) (string, int) {
		out, errOut, code := cofferd(t, append(append([]string{"admin", "fee"}, args...), append([]string{"--data", data}, s.dbFlags()...)...)...)
		return out + errOut, code
	}
	for _, bad := range [][]string{
		{"set", "--currency", "USD", "--percent", "0.8.1", "--purse", op.purse},
		{"set", "--currency", "USD", "--percent", "101", "--purse", op.purse},
		{"set", "--currency", "USD", "--percent", "0.8", "--purse", "Z100000000000"},
		{"set", "--currency", "XXX", "--percent", "0.8", "--purse", op.purse},
		{"set", "--currency", "USD", "--percent", "0.8", "--min", "2.00", "--max", "1.00", "--purse", op.purse},
	} {
		if out, code := admin(bad...); code == 0 {
			t.Fatalf("cofferd admin fee %v: got exit 0 (%s), want a refusal", bad, out)
		}
	}
	if out, code := admin("set", "--currency", "USD", "--percent", "0.8", "--min", "0.01", "--max", "50.00", "--purse", op.purse); code != 0 {
		t.Fatalf("cofferd admin fee set: exit %d: %s", code, out)
	}
	if out, code := admin("list"); code != 0 || !strings.Contains(out, "USD") || !strings.Contains(out, "0.8") || !strings.Contains(out, op.purse) {
		t.Fatalf("cofferd admin fee list: got exit %d %q, want the USD rule", code, out)
	}
	_, fees := payJSON(t, s, "GET", "/v1/fees", m0.token, nil, http.StatusOK)
	if list, _ := fees["fees"].([]any); len(list) != 1 || fmt.Sprint(list[0]) != "map[currency:USD max:50.00 min:0.01 percent:0.8]" {
		t.Fatalf("GET /v1/fees: got %v, want USD 0.8 %% without the fee purse", fees)
	}
	_, q := payJSON(t, s, "POST", "/v1/transfers/quote", m0.token, map[string]string{"from": m0.purse, "to": m1.purse, "amount": "100.00"}, http.StatusOK)
	if q["fee"] != "0.80" || q["total"] != "100.80" {
		t.Fatalf("quote: got %v, want fee 0.80 total 100.80", q)
	}
	_, tr := payJSON(t, s, "POST", "/v1/transfers", m0.token, map[string]string{"transfer_id": "plain", "from": m0.purse, "to": m1.purse, "amount": "100.00"}, http.StatusCreated)
	if tr["fee"] != "0.80" || tr["kind"] != "transfer" || tr["status"] != "applied" {
		t.Fatalf("transfer: got %v, want fee 0.80", tr)
	}
	wantPayMoney(t, s, m0, m0.purse, "899.20", "0.00")
	wantPayMoney(t, s, op, op.purse, "0.80", "0.00")

	// Protected by code: eight wrong codes send it back with its fee.
	protect := func(id string, from *e2eMember, to, amount, code string, days int) map[string]any {
		p := map[string]any{"days": days}
		if code != "" {
			p["code"] = code
		}
		return map[string]any{"transfer_id": id, "from": from.purse, "to": to, "amount": amount, "protect": p}
	}
	_, tr = payJSON(t, s, "POST", "/v1/transfers", m0.token, protect("pc1", m0, m1.purse, "10.00", "open-sesame", 3), http.StatusCreated)
	if tr["status"] != "held" || tr["fee"] != "0.08" {
		t.Fatalf("protected transfer: got %v, want held with fee 0.08", tr)
	}
	wantPayMoney(t, s, m1, m1.purse, "1100.00", "10.00")
	wantCode(t, s, "POST", "/v1/transfers/pc1/release", m2.token, map[string]string{"from": m0.purse, "code": "open-sesame"}, http.StatusNotFound, "not_found")
	for i := range coffer.MaxProtectAttempts {
		wantCode(t, s, "POST", "/v1/transfers/pc1/release", m1.token, map[string]string{"from": m0.purse, "code": fmt.Sprintf("guess-%d", i)}, http.StatusUnprocessableEntity, "wrong_protection_code")
	}
	_, tr = payJSON(t, s, "GET", "/v1/transfers/pc1", m0.token, nil, http.StatusOK)
	if tr["status"] != "returned" {
		t.Fatalf("after 8 wrong codes: got %v, want returned", tr)
	}
	wantPayMoney(t, s, m0, m0.purse, "899.20", "0.00")
	wantPayMoney(t, s, m1, m1.purse, "1100.00", "0.00")
	// The right code releases it.
	payJSON(t, s, "POST", "/v1/transfers", m0.token, protect("pc2", m0, m1.purse, "10.00", "open-sesame", 3), http.StatusCreated)
	_, tr = payJSON(t, s, "POST", "/v1/transfers/pc2/release", m1.token, map[string]string{"from": m0.purse, "code": "open-sesame"}, http.StatusOK)
	if tr["status"] != "released" {
		t.Fatalf("release: got %v, want released", tr)
	}
	wantPayMoney(t, s, m0, m0.purse, "889.12", "0.00")
	wantPayMoney(t, s, m1, m1.purse, "1110.00", "0.00")

	// An invoice paid by twenty attempts at once is paid once.
	_, inv := payJSON(t, s, "POST", "/v1/invoices", m2.token, map[string]any{"payer": m0.id, "purse": m2.purse, "amount": "12.50",
		"description": "order 1", "order_number": "A-1"}, http.StatusCreated)
	invID, _ := inv["invoice_id"].(string)
	wantCode(t, s, "GET", "/v1/invoices/"+invID, m1.token, nil, http.StatusNotFound, "not_found")
	var wg sync.WaitGroup
	var mu sync.Mutex
	paid := 0
	for i := range 20 {
		wg.Go(func() {
			body, _ := json.Marshal(map[string]string{"transfer_id": fmt.Sprintf("inv-pay-%d", i), "from": m0.purse})
			status, data, err := s.call("POST", "/v1/invoices/"+invID+"/pay", m0.token, body)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("pay %d: %v", i, err)
			case status == http.StatusCreated:
				paid++
			case status != http.StatusConflict || !bytes.Contains(data, []byte("invoice_not_payable")):
				t.Errorf("pay %d: got %d %s, want 201 or invoice_not_payable", i, status, data)
			}
		})
	}
	wg.Wait()
	if paid != 1 {
		t.Fatalf("got %d payments of the invoice, want 1", paid)
	}
	_, inv = payJSON(t, s, "GET", "/v1/invoices/"+invID, m2.token, nil, http.StatusOK)
	if inv["state"] != "paid" {
		t.Fatalf("invoice: got %v, want paid", inv)
	}
	wantPayMoney(t, s, m0, m0.purse, "876.52", "0.00") // 12.50 + 0.10 fee

	// A trust: limits hold, revocation works at once.
	_, trust := payJSON(t, s, "POST", "/v1/trusts", m0.token, map[string]string{"merchant": m2.id, "purse": m0.purse, "per_transfer": "5.00", "per_day": "8.00"}, http.StatusCreated)
	trustID, _ := trust["trust_id"].(string)
	debit := func(id, amount string) (int, map[string]any) {
		return payJSON(t, s, "POST", "/v1/transfers", m2.token, map[string]string{"transfer_id": id, "from": m0.purse, "to": m2.purse, "amount": amount, "trust_id": trustID}, 0)
	}
	if st, out := debit("tr-1", "5.00"); st != http.StatusCreated {
		t.Fatalf("debit within the trust: got %d %v", st, out)
	}
	for _, amount := range []string{"5.01", "3.01"} {
		if st, out := debit("tr-x"+amount, amount); st != http.StatusUnprocessableEntity || out["code"] != "limit_exceeded" {
			t.Fatalf("debit of %s: got %d %v, want limit_exceeded", amount, st, out)
		}
	}
	if st, out := debit("tr-2", "3.00"); st != http.StatusCreated {
		t.Fatalf("debit up to the daily limit: got %d %v", st, out)
	}
	wantCode(t, s, "DELETE", "/v1/trusts/"+trustID, m1.token, nil, http.StatusNotFound, "not_found")
	payJSON(t, s, "DELETE", "/v1/trusts/"+trustID, m0.token, nil, http.StatusNoContent)
	if st, out := debit("tr-3", "0.01"); st != http.StatusForbidden || out["code"] != "trust_invalid" {
		t.Fatalf("debit after revocation: got %d %v, want trust_invalid", st, out)
	}
	wantPayMoney(t, s, m0, m0.purse, "868.46", "0.00") // 8.00 + fees of 0.04 and 0.02

	// Refunds of the plain transfer: twice in part, then no more than is left.
	refund := func(id, amount string) (int, map[string]any) {
		return payJSON(t, s, "POST", "/v1/refunds", m1.token, map[string]any{"transfer_id": id, "of": map[string]string{"transfer_id": "plain", "from": m0.purse}, "amount": amount}, 0)
	}
	for _, r := range []struct{ id, amount string }{{"rf-1", "40.00"}, {"rf-2", "50.00"}} {
		if st, out := refund(r.id, r.amount); st != http.StatusCreated || out["kind"] != "refund" || out["fee"] != "0.00" {
			t.Fatalf("refund %s: got %d %v, want a fee-free refund", r.id, st, out)
		}
	}
	if st, out := refund("rf-3", "10.01"); st != http.StatusUnprocessableEntity || out["code"] != "refund_not_allowed" {
		t.Fatalf("refund past the amount: got %d %v, want refund_not_allowed", st, out)
	}
	if st, _ := refund("rf-1", "40.00"); st != http.StatusOK {
		t.Fatalf("refund retry: got %d, want 200", st)
	}
	_, tr = payJSON(t, s, "GET", "/v1/transfers/plain", m0.token, nil, http.StatusOK)
	if tr["refunded"] != "90.00" {
		t.Fatalf("original: got refunded %v, want 90.00", tr["refunded"])
	}
	wantPayMoney(t, s, m0, m0.purse, "958.46", "0.00")

	// Mass payments: all or nothing, then each on its own.
	item := func(id, to, amount string) map[string]string {
		return map[string]string{"transfer_id": id, "from": m0.purse, "to": to, "amount": amount}
	}
	_, b := payJSON(t, s, "POST", "/v1/transfers/batch", m0.token, map[string]any{"all_or_nothing": true,
		"transfers": []map[string]string{item("b-1", m1.purse, "1.00"), item("b-2", m2.purse, "5000.00")}}, http.StatusOK)
	if b["applied"] != float64(0) || b["refused"] != float64(2) {
		t.Fatalf("all-or-nothing batch: got %v, want nothing applied", b)
	}
	wantPayMoney(t, s, m0, m0.purse, "958.46", "0.00")
	_, b = payJSON(t, s, "POST", "/v1/transfers/batch", m0.token, map[string]any{
		"transfers": []map[string]string{item("b-1", m1.purse, "1.00"), item("b-2", m2.purse, "5000.00"), item("b-3", m2.purse, "2.00")}}, http.StatusOK)
	if b["applied"] != float64(2) || b["refused"] != float64(1) {
		t.Fatalf("batch: got %v, want 2 applied and 1 refused", b)
	}
	wantPayMoney(t, s, m0, m0.purse, "955.43", "0.00") // 3.00 + fees of 0.01 and 0.02

	// Protected by time: settled by the scheduler after a restart a day later.
	payJSON(t, s, "POST", "/v1/transfers", m0.token, protect("pt1", m0, m1.purse, "7.00", "", 1), http.StatusCreated)
	wantPayMoney(t, s, m1, m1.purse, "1021.00", "7.00")
	if code := s.stop(); code != 0 {
		t.Fatalf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	s = startServerWith(t, data, append([]string{"--test-clock-offset", "25h"}, extra...)...)
	for _, m := range []*e2eMember{m0, m1, m2} {
		m.token = loginMember(t, s, m.id) // the sessions ended in the day that passed
	}
	if !waitFor(10*time.Second, func() bool { _, h := payMoney(t, s, m1, m1.purse); return h == "0.00" }) {
		t.Fatalf("the time-protected transfer was not released after its period")
	}
	wantPayMoney(t, s, m1, m1.purse, "1028.00", "0.00")
	_, tr = payJSON(t, s, "GET", "/v1/transfers/pt1", m1.token, nil, http.StatusOK)
	if tr["status"] != "released" {
		t.Fatalf("time-protected transfer: got %v, want released", tr)
	}

	// Statements reconcile: opening + entries == closing, in JSON and CSV.
	now := time.Now().UTC()
	period := "since=" + now.AddDate(0, 0, -2).Format(time.DateOnly) + "&until=" + now.AddDate(0, 0, 3).Format(time.DateOnly)
	for _, m := range []*e2eMember{m0, m1} {
		var st struct {
			Opening, Closing struct{ Available, Held string }
			Entries          []struct {
				Held   bool
				Amount string
			}
		}
		s.must(t, "GET", "/v1/purses/"+m.purse+"/statement?"+period, m.token, nil, http.StatusOK, &st)
		sum := [2]int64{signedAmount(t, st.Opening.Available), signedAmount(t, st.Opening.Held)}
		for _, en := range st.Entries {
			if en.Held {
				sum[1] += signedAmount(t, en.Amount)
			} else {
				sum[0] += signedAmount(t, en.Amount)
			}
		}
		avail, held := payMoney(t, s, m, m.purse)
		if sum != [2]int64{signedAmount(t, st.Closing.Available), signedAmount(t, st.Closing.Held)} || st.Closing.Available != avail || st.Closing.Held != held {
			t.Fatalf("statement of %s: opening + entries = %v, closing %+v, purse %s/%s", m.purse, sum, st.Closing, avail, held)
		}
		status, body, err := s.call("GET", "/v1/purses/"+m.purse+"/statement?format=csv&"+period, m.token, nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("CSV statement: got %d %s %v", status, body, err)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(rows) != len(st.Entries)+5 {
			t.Fatalf("CSV statement: got %d rows (%v), want %d", len(rows), err, len(st.Entries)+5)
		}
		var open, closing, csum [2]int64
		for _, r := range rows[1:] {
			h := 0
			if r[2] == "true" {
				h = 1
			}
			switch r[1] {
			case "opening":
				open[h] = signedAmount(t, r[4])
			case "closing":
				closing[h] = signedAmount(t, r[4])
			default:
				csum[h] += signedAmount(t, r[3])
			}
		}
		if open[0]+csum[0] != closing[0] || open[1]+csum[1] != closing[1] || closing[0] != signedAmount(t, avail) {
			t.Fatalf("CSV statement of %s: opening %v + entries %v != closing %v", m.purse, open, csum, closing)
		}
	}
	wantCode(t, s, "GET", "/v1/purses/"+m0.purse+"/statement", m1.token, nil, http.StatusNotFound, "purse_not_found")

	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data, s.dbFlags()...)
}
