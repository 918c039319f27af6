package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a handler that answers from a script, one step per request,
// and keeps every request body.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	paths  []string
	steps  []func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	n := len(rec.paths)
	rec.bodies = append(rec.bodies, string(b))
	rec.paths = append(rec.paths, r.Method+" "+r.URL.RequestURI())
	rec.mu.Unlock()
	if n >= len(rec.steps) {
		problem(w, 500, "internal", "Internal Server Error", "script ran out")
		return
	}
	rec.steps[n](w, r)
}

func unavailable(w http.ResponseWriter, r *http.Request) {
	problem(w, 503, "unavailable", "Service Unavailable", "try again")
}

func TestSend_ProtectedRetriesSameBody(t *testing.T) {
	answer := map[string]any{"transfer_id": "p-1", "from": "Z1", "to": "Z2", "amount": "10.00", "currency": "USD",
		"kind": "protected", "status": "held", "fee": "0.08",
		"protection": map[string]any{"by_code": true, "until": "2030-01-05T00:00:00Z", "attempts_left": 8}}
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		unavailable,
		func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }, // connection cut
		func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, answer) },
	}}
	c := newTestClient(t, rec)
	tr, err := c.Send(context.Background(), TransferRequest{TransferID: "p-1", From: "Z1", To: "Z2", Amount: "10.00",
		Protect: &Protect{Code: "4711", Days: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.bodies) != 3 || rec.bodies[0] != rec.bodies[1] || rec.bodies[1] != rec.bodies[2] {
		t.Fatalf("got bodies %q, want three identical", rec.bodies)
	}
	var sent map[string]any
	json.Unmarshal([]byte(rec.bodies[0]), &sent)
	if p, _ := sent["protect"].(map[string]any); p["code"] != "4711" || p["days"] != 3.0 || sent["invoice_id"] != nil || sent["trust_id"] != nil {
		t.Errorf("got body %s, want protect {code 4711, days 3} and no invoice or trust", rec.bodies[0])
	}
	if tr.Kind != KindProtected || tr.Status != StatusHeld || tr.Fee != "0.08" || tr.Protection == nil ||
		!tr.Protection.ByCode || tr.Protection.AttemptsLeft != 8 || !tr.Protection.Until.Equal(time.Date(2030, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v (protection %+v)", tr, tr.Protection)
	}
}

func TestProtect_Check(t *testing.T) {
	for _, tt := range []struct {
		p  *Protect
		ok bool
	}{
		{nil, true},
		{&Protect{Code: "1234", Days: 1}, true},
		{&Protect{Code: "1234", Days: 255}, true},
		{&Protect{Code: "1234", Days: 256}, false},
		{&Protect{Code: "123", Days: 3}, false},
		{&Protect{Code: strings.Repeat("x", 33), Days: 3}, false},
		{&Protect{Days: 120}, true},
		{&Protect{Days: 121}, false},
		{&Protect{Days: 0}, false},
	} {
		if err := tt.p.Check(); (err == nil) != tt.ok {
			t.Errorf("%+v: got %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestRefund_RetryAndReplay(t *testing.T) {
	refund := map[string]any{"transfer_id": "r-1", "from": "Z2", "to": "Z1", "amount": "4.00", "currency": "USD",
		"kind": "refund", "status": "applied", "fee": "0.00", "refund_of": map[string]any{"transfer_id": "t-9", "from": "Z1"}}
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		unavailable,
		func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, refund) },
	}}
	c := newTestClient(t, rec)
	got, err := c.Refund(context.Background(), RefundRequest{TransferID: "r-1", Of: TransferRef{"t-9", "Z1"}, Amount: "4.00"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Replayed || got.Kind != KindRefund || got.RefundOf == nil || got.RefundOf.TransferID != "t-9" {
		t.Errorf("got %+v, want the replayed refund of t-9", got)
	}
	if rec.paths[0] != "POST /v1/refunds" || rec.bodies[0] != rec.bodies[1] ||
		rec.bodies[0] != `{"transfer_id":"r-1","of":{"transfer_id":"t-9","from":"Z1"},"amount":"4.00"}` {
		t.Errorf("got %q %q", rec.paths, rec.bodies)
	}

	// A refusal is final and keeps the refund ID for the caller.
	rec = &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 409, "refund_not_allowed", "Conflict", "Only 1.00 of the transfer is left to refund.")
		},
	}}
	c = newTestClient(t, rec)
	_, err = c.Refund(context.Background(), RefundRequest{Of: TransferRef{"t-9", "Z1"}, Amount: "4.00"})
	var se *SendError
	if !errors.As(err, &se) || !ValidTransferID(se.TransferID) || se.Attempts != 1 || !IsCode(err, "refund_not_allowed") {
		t.Errorf("got %v, want a SendError with a made-up ID after one attempt", err)
	}
}

func TestRelease_LostAnswer(t *testing.T) {
	released := map[string]any{"transfer_id": "p-1", "from": "Z1", "to": "Z2", "amount": "10.00", "kind": "protected", "status": "released"}
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		unavailable, // the server released it, but the answer was lost
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 409, "transfer_not_held", "Conflict", "The transfer is no longer held.")
		},
		func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, released) },
	}}
	c := newTestClient(t, rec)
	got, err := c.Release(context.Background(), "p-1", "Z1", "4711")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusReleased || !got.Replayed {
		t.Errorf("got %+v, want released, replayed", got)
	}
	want := []string{"POST /v1/transfers/p-1/release", "POST /v1/transfers/p-1/release", "GET /v1/transfers/p-1?from=Z1"}
	if strings.Join(rec.paths, "|") != strings.Join(want, "|") || rec.bodies[0] != `{"from":"Z1","code":"4711"}` {
		t.Errorf("got %q %q, want %q", rec.paths, rec.bodies, want)
	}

	// Not held on the first attempt is the server's word: no lookup.
	rec = &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 409, "transfer_not_held", "Conflict", "The transfer is no longer held.")
		},
	}}
	c = newTestClient(t, rec)
	if _, err := c.Refuse(context.Background(), "p-1", "Z1"); !IsCode(err, "transfer_not_held") || len(rec.paths) != 1 {
		t.Errorf("refuse: got %v after %d requests, want transfer_not_held after 1", err, len(rec.paths))
	}
	if rec.bodies[0] != `{"from":"Z1"}` {
		t.Errorf("refuse body: got %s", rec.bodies[0])
	}
}

func TestPayInvoice_Pending(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 202, map[string]any{"status": "pending_confirmation", "transfer_id": "pay-1",
				"confirmation_id": "c1", "method": "totp", "fee": "0.10"})
		},
	}}
	c := newTestClient(t, rec)
	got, err := c.PayInvoice(context.Background(), "INV/1", "pay-1", "Z1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusPendingConfirmation || got.ConfirmationID != "c1" || got.Fee != "0.10" {
		t.Errorf("got %+v", got)
	}
	if rec.paths[0] != "POST /v1/invoices/INV%2F1/pay" || rec.bodies[0] != `{"transfer_id":"pay-1","from":"Z1"}` {
		t.Errorf("got %q %q", rec.paths, rec.bodies)
	}
}

func TestCreateInvoice_LostAnswer(t *testing.T) {
	inv := map[string]any{"invoice_id": "iv7", "merchant": "111111111111", "payer": "222222222222", "purse": "Z1",
		"currency": "USD", "amount": "25.00", "description": "tea", "order_number": "A-1", "state": "pending"}
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		unavailable,
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 409, "conflict", "Conflict", "Order number A-1 is already used.")
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"invoices": []any{inv}, "next_cursor": ""})
		},
	}}
	c := newTestClient(t, rec)
	got, err := c.CreateInvoice(context.Background(), InvoiceRequest{Payer: "222222222222", Purse: "Z1", Amount: "25",
		Description: "tea", OrderNumber: "A-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.InvoiceID != "iv7" {
		t.Errorf("got %+v, want invoice iv7", got)
	}
	if rec.paths[2] != "GET /v1/invoices?limit=100&role=merchant&state=pending" {
		t.Errorf("got %q", rec.paths)
	}
	// A conflict on the first attempt is a real one.
	rec = &recorder{steps: rec.steps[1:]}
	c = newTestClient(t, rec)
	if _, err := c.CreateInvoice(context.Background(), InvoiceRequest{OrderNumber: "A-1"}); !IsCode(err, "conflict") || len(rec.paths) != 1 {
		t.Errorf("got %v after %d requests, want conflict after 1", err, len(rec.paths))
	}
	if _, err := c.CreateInvoice(context.Background(), InvoiceRequest{OrderNumber: "A-2", ExpiresInHours: 721}); err == nil {
		t.Error("721 hours: got no error")
	}
}

func TestInvoices_EndAndTrusts(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"invoice_id": "iv7", "state": "cancelled"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 403, "confirmation_required", "Forbidden", "This change needs a confirmation: repeat the request with the header Coffer-Confirmation: cf1:<code>.")
		},
		func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Coffer-Confirmation") != "cf1:123456" {
				problem(w, 403, "confirmation_required", "Forbidden", "no proof")
				return
			}
			writeJSON(w, 201, map[string]any{"trust_id": "tr1", "merchant": "111111111111", "purse": "Z1", "per_day": "50.00"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"given": []any{map[string]any{"trust_id": "tr1"}}, "held": []any{}})
		},
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	inv, err := c.CancelInvoice(ctx, "iv7")
	if err != nil || inv.State != InvoiceCancelled {
		t.Fatalf("cancel: got %+v %v", inv, err)
	}
	req := TrustRequest{Merchant: "111111111111", Purse: "Z1", PerDay: "50.00"}
	if _, err := c.GrantTrust(ctx, req); !IsCode(err, "confirmation_required") {
		t.Fatalf("grant without proof: got %v", err)
	}
	tr, err := c.GrantTrust(WithConfirmation(ctx, "cf1", "123456"), req)
	if err != nil || tr.TrustID != "tr1" || tr.PerDay != "50.00" {
		t.Fatalf("grant: got %+v %v", tr, err)
	}
	list, err := c.Trusts(ctx)
	if err != nil || len(list.Given) != 1 || list.Held == nil {
		t.Fatalf("trusts: got %+v %v", list, err)
	}
	if err := c.RevokeTrust(ctx, "tr1"); err != nil {
		t.Fatal(err)
	}
	want := "POST /v1/invoices/iv7/cancel|GET /v1/invoices/iv7|POST /v1/trusts|POST /v1/trusts|GET /v1/trusts|DELETE /v1/trusts/tr1"
	if got := strings.Join(rec.paths, "|"); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if rec.bodies[2] != `{"merchant":"111111111111","purse":"Z1","per_day":"50.00"}` {
		t.Errorf("grant body: got %s", rec.bodies[2])
	}
}

func TestQuoteFeesHeld(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"amount": "100.00", "fee": "0.80", "total": "100.80", "currency": "USD"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"fees": []any{map[string]any{"currency": "USD", "percent": "0.8", "min": "0.01", "max": "50.00"}}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"sent": []any{}, "incoming": []any{map[string]any{"transfer_id": "p-1", "status": "held"}}})
		},
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	q, err := c.Quote(ctx, "Z1", "Z2", "100.00")
	if err != nil || q.Total != "100.80" || q.Fee != "0.80" {
		t.Fatalf("quote: got %+v %v", q, err)
	}
	fees, err := c.Fees(ctx)
	if err != nil || len(fees) != 1 || fees[0].Percent != "0.8" {
		t.Fatalf("fees: got %+v %v", fees, err)
	}
	h, err := c.HeldTransfers(ctx)
	if err != nil || len(h.Incoming) != 1 || h.Incoming[0].Status != StatusHeld {
		t.Fatalf("held: got %+v %v", h, err)
	}
}

func TestStatement(t *testing.T) {
	const csvBody = "at,kind,held,amount,balance_after,counterparty,transfer_id,description\n2030-01-02T00:00:00Z,transfer,false,5.00,5.00,Z9,t1,tea\n"
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"purse": "Z1", "currency": "USD", "since": "2030-01-01T00:00:00Z", "until": "2030-02-01T00:00:00Z",
				"opening": map[string]any{"available": "0.00", "held": "0.00"}, "closing": map[string]any{"available": "5.00", "held": "1.00"},
				"entries": []any{
					map[string]any{"at": "2030-01-02T00:00:00Z", "kind": "transfer", "held": false, "amount": "5.00", "balance_after": "5.00", "counterparty": "Z9", "transfer_id": "t1"},
					map[string]any{"at": "2030-01-03T00:00:00Z", "kind": "hold", "held": true, "amount": "1.00", "balance_after": "1.00", "counterparty": "Z9", "transfer_id": "t2"},
				}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.Header.Get("Accept"), "text/csv") {
				problem(w, 406, "invalid_request", "Not Acceptable", "bad accept")
				return
			}
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="statement.csv"`)
			io.WriteString(w, csvBody)
		},
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 400, "invalid_request", "Bad Request", "The period may be at most 366 days.")
		},
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	since := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := c.Statement(ctx, "Z1", StatementOptions{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if st.Closing.Held != "1.00" || len(st.Entries) != 2 || !st.Entries[1].Held || st.Entries[1].Kind != "hold" {
		t.Errorf("got %+v", st)
	}
	var buf bytes.Buffer
	n, err := c.StatementCSV(ctx, "Z1", StatementOptions{}, &buf)
	if err != nil || buf.String() != csvBody || n != int64(len(csvBody)) {
		t.Fatalf("csv: got %d %q %v", n, buf.String(), err)
	}
	if _, err := c.StatementCSV(ctx, "Z1", StatementOptions{}, &buf); !IsCode(err, "invalid_request") || !strings.Contains(err.Error(), "366 days") {
		t.Errorf("got %v, want the server's problem", err)
	}
	if rec.paths[0] != "GET /v1/purses/Z1/statement?format=json&since=2030-01-01T00%3A00%3A00Z" || rec.paths[1] != "GET /v1/purses/Z1/statement?format=csv" {
		t.Errorf("got %q", rec.paths)
	}
}

func TestSendBatch(t *testing.T) {
	transfers := []BatchTransfer{{TransferID: "b1", From: "Z1", To: "Z2", Amount: "1.00"}, {TransferID: "b2", From: "Z1", To: "Z3", Amount: "2.00", Description: "x"}}
	answer := map[string]any{"results": []any{
		map[string]any{"transfer_id": "b1", "result": "replayed", "transfer": map[string]any{"transfer_id": "b1", "status": "applied"}},
		map[string]any{"transfer_id": "b2", "result": "refused", "code": "insufficient_funds", "detail": "no"},
	}, "applied": 1, "refused": 1}
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		unavailable,
		func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, answer) },
	}}
	c := newTestClient(t, rec)
	got, err := c.SendBatch(context.Background(), transfers, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Applied != 1 || got.Refused != 1 || got.Results[0].Result != BatchReplayed || got.Results[1].Code != "insufficient_funds" {
		t.Errorf("got %+v", got)
	}
	want := `{"transfers":[{"transfer_id":"b1","from":"Z1","to":"Z2","amount":"1.00"},{"transfer_id":"b2","from":"Z1","to":"Z3","amount":"2.00","description":"x"}],"all_or_nothing":true}`
	if rec.bodies[0] != want || rec.bodies[1] != want {
		t.Errorf("got %q, want twice %s", rec.bodies, want)
	}
	for _, bad := range [][]BatchTransfer{
		nil,
		{{TransferID: "", From: "Z1", To: "Z2", Amount: "1"}},
		{{TransferID: "a", From: "Z1", To: "Z2", Amount: "1"}, {TransferID: "a", From: "Z1", To: "Z2", Amount: "1"}},
		{{TransferID: "a", From: "Z1", To: "Z2", Amount: "-1"}},
		{{TransferID: "a", To: "Z2", Amount: "1"}},
		make([]BatchTransfer, MaxBatchTransfers+1),
	} {
		if _, err := c.SendBatch(context.Background(), bad, false); err == nil {
			t.Errorf("%d transfers %.60v: got no error", len(bad), bad)
		}
	}
	if len(rec.paths) != 2 {
		t.Errorf("bad batches reached the server: %q", rec.paths)
	}
}

func TestParseBatchCSV(t *testing.T) {
	got, err := ParseBatchCSV(strings.NewReader("\uFEFFtransfer_id,from,to,amount,description\n" +
		"pay-1, Z111111111111 ,Z222222222222,12.50,\"rent, March\"\n\n" +
		"pay-2,Z111111111111,Z333333333333,3\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []BatchTransfer{
		{TransferID: "pay-1", From: "Z111111111111", To: "Z222222222222", Amount: "12.50", Description: "rent, March"},
		{TransferID: "pay-2", From: "Z111111111111", To: "Z333333333333", Amount: "3"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// No header is fine too.
	if got, err := ParseBatchCSV(strings.NewReader("a,Z1,Z2,1.00,x\n")); err != nil || len(got) != 1 {
		t.Errorf("no header: got %+v %v", got, err)
	}
	for _, tt := range []struct{ in, want string }{
		{"", "no transfers"},
		{"transfer_id,from,to,amount\n", "no transfers"},
		{"transfer_id,to,from,amount\n", "header"},
		{",Z1,Z2,1.00\n", "line 1: the transfer_id is empty"},
		{"a,Z1,Z2,1.00\nb,Z1,Z2,1,five\nb,Z1,Z2,1\n", "line 3: transfer_id b is already used on line 2"},
		{"a,Z1,Z2,1.00\nb,Z1,Z2\n", "line 2: want 4 or 5 columns"},
		{"a b,Z1,Z2,1.00\n", "invalid transfer ID"},
		{"a,Z1,Z2,1,00\n", "line 1: amount \"1\" followed by description \"00\" looks like a decimal comma"},
		{"a,Z1,Z2,1.5e3\n", "not a positive decimal"},
		{"a,Z1,,1\n", "purses are required"},
		{"a,Z1,Z2,\"1\n", "batch file: "},
		{strings.Repeat("x,Z1,Z2,1\n", 1), ""},
	} {
		_, err := ParseBatchCSV(strings.NewReader(tt.in))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: got %v", tt.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.in, err, tt.want)
		}
	}
	var big strings.Builder
	for i := range MaxBatchTransfers + 1 {
		big.WriteString("t" + strings.Repeat("0", 4-len(itoa(i))) + itoa(i) + ",Z1,Z2,1\n")
	}
	if _, err := ParseBatchCSV(strings.NewReader(big.String())); err == nil || !strings.Contains(err.Error(), "more than 1000") {
		t.Errorf("1001 rows: got %v", err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestAmounts(t *testing.T) {
	for s, ok := range map[string]bool{"1": true, "12.50": true, "0.01": true, "0": false, "0.00": false, "01": false,
		"1.": false, ".5": false, "-1": false, "1e3": false, "1,000": false, " 1": false, "": false} {
		if ValidAmount(s) != ok {
			t.Errorf("ValidAmount(%q) = %v, want %v", s, !ok, ok)
		}
	}
	for _, tt := range []struct {
		in   []string
		want string
		ok   bool
	}{
		{[]string{"12.50", "0.25", "3"}, "15.75", true},
		{[]string{"0.1", "0.2"}, "0.3", true},
		{[]string{"-5.00", "1.005"}, "-3.995", true},
		{[]string{"90071992547409.91", "0.09"}, "90071992547410.00", true},
		{nil, "0", true},
		{[]string{"1", "x"}, "", false},
		{[]string{"1e2"}, "", false},
	} {
		got, ok := SumAmounts(tt.in...)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SumAmounts(%q) = %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if !sameAmount("5", "5.00") || sameAmount("5", "5.01") {
		t.Error("sameAmount")
	}
}
