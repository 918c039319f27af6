package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/client"
)

// TestCoffer_PaymentsWalkthrough drives the payment forms through the
// keeper against a real server: fees and quotes, a protected transfer
// released with its code, one refused, an invoice paid and one cancelled, a
// trust used, exceeded and revoked, a refund, statements and a mass payment.
func TestCoffer_PaymentsWalkthrough(t *testing.T) {
	needKeeper(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	k := newKeeperEnv(t, s, "coffer-config", "COFFER_CODE=", "COFFER_PROTECT_CODE=")
	k.stdoutOnSuccess = true
	home := k.home
	keeper, jsonOf, register, newPurse := k.run, k.json, k.register, k.newPurse
	type purse struct {
		Balance, Available, Held string
	}
	purseOf := func(member, number string) purse {
		t.Helper()
		var p purse
		jsonOf(&p, "--as", member, "purse", number)
		return p
	}

	issuer := register("issuer@example.org")
	alice := register("alice@example.org")
	shop := register("shop@example.org")
	adminMemberLevel(t, data, shop, "initial") // a merchant level: invoices and trusts
	issPurse := adminIssuerAdd(t, data, issuer, "USD", "1000000.00")
	feePurse := newPurse(issuer)
	alicePurse, shopPurse := newPurse(alice), newPurse(shop)
	keeper(0, "--as", issuer, "send", "--from", issPurse, "--to", alicePurse, "--amount", "1000.00", "--id", "fund-alice")

	// The operator sets a fee; members see it and what a transfer costs.
	if out, errOut, code := cofferd(t, "admin", "fee", "set", "--data", data, "--currency", "USD", "--percent", "0.8",
		"--min", "0.01", "--max", "50.00", "--purse", feePurse); code != 0 {
		t.Fatalf("cofferd admin fee set: exit %d\n%s%s", code, out, errOut)
	}
	if out := keeper(0, "--as", alice, "fees"); !strings.Contains(out, "USD") || !strings.Contains(out, "0.8") || !strings.Contains(out, "50.00") {
		t.Errorf("coffer fees: got %q, want USD 0.8 %% max 50.00", out)
	}
	var q struct{ Amount, Fee, Total, Currency string }
	jsonOf(&q, "--as", alice, "quote", "--from", alicePurse, "--to", shopPurse, "--amount", "100.00")
	if q.Fee != "0.80" || q.Total != "100.80" || q.Currency != "USD" {
		t.Errorf("coffer quote: got %+v, want fee 0.80, total 100.80 USD", q)
	}

	// A transfer protected by code: held for the shop until it enters the code.
	out := keeper(0, "--as", alice, "send", "--from", alicePurse, "--to", shopPurse, "--amount", "100.00",
		"--protect-code", "4711", "--protect-days", "3", "--id", "prot-1", "--desc", "deposit")
	if !strings.Contains(out, "held") || !strings.Contains(out, "fee 0.80") || !strings.Contains(out, "Protected by code") {
		t.Errorf("protected send: got %q, want it held, with the fee", out)
	}
	keeper(0, "--as", alice, "send", "--from", alicePurse, "--to", shopPurse, "--amount", "100.00",
		"--protect-code", "4711", "--protect-days", "3", "--id", "prot-1", "--desc", "deposit") // a repeat never pays twice
	if p := purseOf(shop, shopPurse); p.Available != "0.00" || p.Held != "100.00" {
		t.Errorf("shop purse with a held transfer: got %+v, want available 0.00, held 100.00", p)
	}
	if out := keeper(0, "--as", shop, "purses"); !strings.Contains(out, "HELD") || !strings.Contains(out, "100.00") {
		t.Errorf("coffer purses: got %q, want the held column with 100.00", out)
	}
	var held struct {
		Sent, Incoming []struct {
			TransferID string `json:"transfer_id"`
			Status     string
		}
	}
	jsonOf(&held, "--as", shop, "held")
	if len(held.Incoming) != 1 || held.Incoming[0].TransferID != "prot-1" || held.Incoming[0].Status != "held" || len(held.Sent) != 0 {
		t.Errorf("coffer held (shop): got %+v, want prot-1 incoming", held)
	}
	if out := keeper(0, "--as", alice, "held"); !strings.Contains(out, "prot-1") || !strings.Contains(out, "waiting for the payee") {
		t.Errorf("coffer held (alice): got %q, want prot-1 among the sent", out)
	}
	if out := keeper(1, "--as", shop, "release", "prot-1", "--from", alicePurse, "--code", "0000"); !strings.Contains(out, "wrong") || !strings.Contains(out, "7 tries left") {
		t.Errorf("release with a wrong code: got %q, want it wrong with 7 tries left", out)
	}
	keeper(1, "--as", alice, "release", "prot-1", "--from", alicePurse, "--code", "4711") // only the payee may
	if out := keeper(0, "--as", shop, "release", "prot-1", "--from", alicePurse, "--code", "4711"); !strings.Contains(out, "Released 100.00 USD") {
		t.Errorf("release: got %q", out)
	}
	if p := purseOf(shop, shopPurse); p.Available != "100.00" || p.Held != "0.00" || p.Balance != "100.00" {
		t.Errorf("shop purse after release: got %+v, want available 100.00, held 0.00", p)
	}
	if out := keeper(1, "--as", shop, "release", "prot-1", "--from", alicePurse, "--code", "4711"); !strings.Contains(out, "no longer held") {
		t.Errorf("release twice: got %q, want no longer held", out)
	}

	// A transfer protected by time, refused by the payee: all back, fee included.
	keeper(0, "--as", alice, "send", "--from", alicePurse, "--to", shopPurse, "--amount", "10.00", "--protect-time-days", "2", "--id", "prot-2")
	if out := keeper(0, "--as", shop, "refuse", "prot-2", "--from", alicePurse); !strings.Contains(out, "Refused 10.00 USD") || !strings.Contains(out, "returned") {
		t.Errorf("refuse: got %q", out)
	}
	if p := purseOf(alice, alicePurse); p.Available != "899.20" || p.Held != "0.00" {
		t.Errorf("alice after a released and a refused transfer: got %+v, want 899.20 (1000 - 100 - 0.80)", p)
	}
	keeper(2, "--as", alice, "send", "--from", alicePurse, "--to", shopPurse, "--amount", "1", "--protect-code", "4711") // no --protect-days
	keeper(2, "--as", alice, "send", "--from", alicePurse, "--to", shopPurse, "--amount", "1", "--protect-time-days", "121")

	// An invoice: the shop asks, alice pays; another is cancelled.
	var inv struct {
		InvoiceID string `json:"invoice_id"`
		State     string
	}
	jsonOf(&inv, "--as", shop, "invoice", "new", "--payer", alice, "--purse", shopPurse, "--amount", "25.00", "--order", "A-1", "--desc", "tea", "--expires-in", "2d")
	if inv.InvoiceID == "" || inv.State != "pending" {
		t.Fatalf("invoice new: got %+v", inv)
	}
	if out := keeper(1, "--as", shop, "invoice", "new", "--payer", alice, "--purse", shopPurse, "--amount", "5.00", "--order", "A-1"); !strings.Contains(out, "A-1") {
		t.Errorf("invoice new with a used order number: got %q", out)
	}
	if out := keeper(0, "--as", alice, "invoice", "list", "--role", "payer"); !strings.Contains(out, inv.InvoiceID) || !strings.Contains(out, "25.00") {
		t.Errorf("invoice list: got %q, want %s", out, inv.InvoiceID)
	}
	if out := keeper(0, "--as", alice, "invoice", "pay", inv.InvoiceID, "--from", alicePurse, "--id", "pay-a1"); !strings.Contains(out, "25.00") || !strings.Contains(out, inv.InvoiceID) {
		t.Errorf("invoice pay: got %q", out)
	}
	keeper(0, "--as", alice, "invoice", "pay", inv.InvoiceID, "--from", alicePurse, "--id", "pay-a1") // a repeat
	if out := keeper(0, "--as", shop, "invoice", "show", inv.InvoiceID); !strings.Contains(out, "paid") || !strings.Contains(out, "pay-a1") {
		t.Errorf("invoice show: got %q, want paid by pay-a1", out)
	}
	keeper(1, "--as", alice, "invoice", "pay", inv.InvoiceID, "--from", alicePurse, "--id", "pay-a1-again")
	jsonOf(&inv, "--as", shop, "invoice", "new", "--payer", alice, "--purse", shopPurse, "--amount", "7.00", "--order", "A-2")
	if out := keeper(0, "--as", shop, "invoice", "cancel", inv.InvoiceID); !strings.Contains(out, "cancelled") {
		t.Errorf("invoice cancel: got %q", out)
	}
	keeper(1, "--as", alice, "invoice", "pay", inv.InvoiceID, "--from", alicePurse)
	keeper(2, "--as", shop, "invoice", "new", "--payer", alice, "--purse", shopPurse, "--amount", "7.00", "--order", "A-3", "--expires-in", "721h")

	// A trust: the shop debits alice within the limit, until she revokes it.
	var tr struct {
		TrustID string `json:"trust_id"`
	}
	jsonOf(&tr, "--as", alice, "trust", "grant", "--merchant", shop, "--purse", alicePurse, "--per-transfer", "20.00")
	if tr.TrustID == "" {
		t.Fatal("trust grant: no trust ID")
	}
	if out := keeper(0, "--as", shop, "trust", "list"); !strings.Contains(out, tr.TrustID) || !strings.Contains(out, "20.00") {
		t.Errorf("trust list (merchant): got %q", out)
	}
	keeper(0, "--as", shop, "send", "--trust", tr.TrustID, "--from", alicePurse, "--to", shopPurse, "--amount", "15.00", "--id", "debit-1")
	keeper(1, "--as", shop, "send", "--trust", tr.TrustID, "--from", alicePurse, "--to", shopPurse, "--amount", "20.01", "--id", "debit-2")
	keeper(0, "--as", alice, "trust", "revoke", tr.TrustID)
	keeper(1, "--as", shop, "send", "--trust", tr.TrustID, "--from", alicePurse, "--to", shopPurse, "--amount", "1.00", "--id", "debit-3")
	if out := keeper(0, "--as", alice, "trust", "list"); !strings.Contains(out, "revoked") {
		t.Errorf("trust list after revoke: got %q", out)
	}

	// A refund of part of the released transfer, made once however often asked.
	if out := keeper(0, "--as", shop, "refund", "prot-1", "--from", alicePurse, "--amount", "40.00", "--id", "ref-1"); !strings.Contains(out, "Refunded 40.00") {
		t.Errorf("refund: got %q", out)
	}
	if out := keeper(0, "--as", shop, "refund", "prot-1", "--from", alicePurse, "--amount", "40.00", "--id", "ref-1"); !strings.Contains(out, "not paid again") {
		t.Errorf("refund repeated: got %q, want it not paid again", out)
	}
	keeper(1, "--as", shop, "refund", "prot-1", "--from", alicePurse, "--amount", "60.01", "--id", "ref-2") // more than is left
	if out := keeper(0, "--as", alice, "transfer", "prot-1"); !strings.Contains(out, "Refunded:") || !strings.Contains(out, "40.00") {
		t.Errorf("coffer transfer of a refunded transfer: got %q", out)
	}
	// alice: 899.20 - 25.20 (invoice + fee) - 15.12 (debit + fee) + 40.00
	if p := purseOf(alice, alicePurse); p.Available != "898.88" {
		t.Errorf("alice after invoice, debit and refund: got %+v, want 898.88", p)
	}

	// Mass payment from a CSV file: one row refused; again, nothing paid twice.
	batch := filepath.Join(home, "batch.csv")
	os.WriteFile(batch, []byte("transfer_id,from,to,amount,description\n"+
		"b-1,"+alicePurse+","+shopPurse+",1.00,first\n"+
		"b-2,"+alicePurse+","+issPurse+",\"2.50\",\"second, with a comma\"\n"+
		"b-3,"+alicePurse+","+shopPurse+",100000.00,too much\n"), 0o600)
	out = keeper(1, "--as", alice, "send-batch", batch)
	if !strings.Contains(out, "Made 2 of 3 transfers (total 3.50), refused 1") || !strings.Contains(out, "insufficient_funds") {
		t.Errorf("send-batch: got %q", out)
	}
	out = keeper(1, "--as", alice, "send-batch", batch)
	if strings.Count(out, "replayed") != 2 {
		t.Errorf("send-batch again: got %q, want two replayed", out)
	}
	var res struct {
		Results []struct {
			TransferID string `json:"transfer_id"`
			Result     string
			Code       string
		}
		Applied, Refused int
	}
	os.WriteFile(batch, []byte("b-4,"+alicePurse+","+shopPurse+",1.00\nb-5,"+alicePurse+","+shopPurse+",100000.00\n"), 0o600)
	// The JSON comes first, the sentence about the refusals after it.
	if err := json.NewDecoder(strings.NewReader(keeper(1, "--as", alice, "--json", "send-batch", batch, "--all-or-nothing"))).Decode(&res); err != nil {
		t.Errorf("send-batch --json: %v", err)
	}
	if res.Applied != 0 || res.Refused != 2 || len(res.Results) != 2 || res.Results[0].Code != "not_applied" {
		t.Errorf("send-batch --all-or-nothing: got %+v, want both refused, b-4 not_applied", res)
	}
	os.WriteFile(batch, []byte("b-6,"+alicePurse+","+shopPurse+",1,00\n"), 0o600)
	keeper(1, "--as", alice, "send-batch", batch) // a decimal comma is refused before sending

	// Statements: CSV and JSON, where opening plus the entries makes closing.
	out = keeper(0, "--as", alice, "history", alicePurse, "--csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 3 {
		t.Fatalf("history --csv: got %v %q", err, out)
	}
	if !strings.Contains(strings.Join(rows[0], ","), "transfer_id") || !strings.Contains(out, "prot-1") || !strings.Contains(out, "ref-1") {
		t.Errorf("history --csv: got %q, want a header and the transfers", out)
	}
	var st struct {
		Purse            string
		Opening, Closing struct{ Available, Held string }
		Entries          []struct {
			Kind       string
			Held       bool
			Amount     string
			TransferID string `json:"transfer_id"`
		}
	}
	jsonOf(&st, "--as", alice, "history", alicePurse) // less b-1 and b-2 with their fees
	if st.Purse != alicePurse || st.Closing.Available != "895.35" || len(st.Entries) == 0 {
		t.Errorf("history --json statement: got %+v", st)
	}
	for _, bucket := range []struct {
		held                   bool
		opening, closing, name string
	}{{false, st.Opening.Available, st.Closing.Available, "available"}, {true, st.Opening.Held, st.Closing.Held, "held"}} {
		amounts := []string{bucket.opening}
		for _, e := range st.Entries {
			if e.Held == bucket.held {
				amounts = append(amounts, e.Amount)
			}
		}
		if sum, ok := client.SumAmounts(amounts...); !ok || sum != bucket.closing {
			t.Errorf("statement, %s: opening plus entries is %s, closing %s", bucket.name, sum, bucket.closing)
		}
	}
	if out := keeper(0, "--as", shop, "history", shopPurse, "--statement"); !strings.Contains(out, "Opening") || !strings.Contains(out, "hold (held)") || !strings.Contains(out, "Closing") {
		t.Errorf("history --statement: got %q", out)
	}
	keeper(2, "--as", alice, "history", alicePurse, "--csv", "--all")

	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data)
}
