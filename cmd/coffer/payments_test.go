package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestPayments_FlagValidation(t *testing.T) {
	k := newKeeper(t)
	k.register()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--protect-code", "4711"}, "--protect-code needs --protect-days"},
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--protect-days", "3"}, "--protect-days goes with --protect-code"},
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--protect-code", "12", "--protect-days", "3"}, "4 to 32 characters"},
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--protect-code", "4711", "--protect-days", "256"}, "1 to 255 days"},
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--protect-time-days", "121"}, "1 to 120 days"},
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--protect-time-days", "3", "--protect-code", "4711"}, "excludes"},
		{[]string{"send", "--from", "Z1", "--to", "Z2", "--amount", "1", "--invoice", "I", "--trust", "T"}, "at most one of"},
		{[]string{"quote", "--from", "Z1"}, "quote: missing --to, --amount"},
		{[]string{"release", "T1"}, "release: missing --from"},
		{[]string{"release", "--from", "Z1"}, "missing argument"},
		{[]string{"refuse", "T1", "T2", "--from", "Z1"}, "unexpected argument"},
		{[]string{"refund", "T1", "--from", "Z1"}, "refund: missing --amount"},
		{[]string{"refund", "T1", "--from", "Z1", "--amount", "1", "--id", "bad id"}, "invalid transfer ID"},
		{[]string{"invoice", "new", "--payer", "1", "--purse", "Z1", "--amount", "1"}, "missing --order"},
		{[]string{"invoice", "new", "--payer", "1", "--purse", "Z1", "--amount", "1", "--order", "A", "--expires-in", "721h"}, "up to 720h"},
		{[]string{"invoice", "new", "--payer", "1", "--purse", "Z1", "--amount", "1", "--order", "A", "--expires-in", "90m"}, "whole hours"},
		{[]string{"invoice", "list", "--role", "buyer"}, "payer or merchant"},
		{[]string{"invoice", "pay", "I1"}, "missing --from"},
		{[]string{"invoice", "show"}, "name the invoice ID"},
		{[]string{"invoice", "burn", "I1"}, "unknown subcommand"},
		{[]string{"trust", "grant", "--merchant", "1"}, "missing --purse"},
		{[]string{"trust", "grant", "--merchant", "1", "--purse", "Z1", "--per-day", "1,5"}, "--per-day \"1,5\""},
		{[]string{"trust", "grant", "--merchant", "1", "--purse", "Z1", "--confirm", "nocolon"}, "CONFIRMATION_ID:CODE"},
		{[]string{"trust", "revoke"}, "name the trust ID"},
		{[]string{"history", "Z1", "--csv", "--limit", "5"}, "has no pages"},
		{[]string{"--json", "history", "Z1", "--csv"}, "choose --csv or --json"},
		{[]string{"send-batch"}, "missing argument"},
	} {
		r := k.run("", tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("coffer %s: got exit %d, stderr %q, want 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	if n := len(k.f.transferRequests); n != 0 {
		t.Errorf("bad usage reached the server %d times", n)
	}
}

func TestPayments_SendBatch(t *testing.T) {
	k := newKeeper(t)
	k.fast = true
	k.register()
	var calls atomic.Int32
	var body string
	k.f.mux.HandleFunc("POST /v1/transfers/batch", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			problem(w, 503, "unavailable", "Try again.")
			return
		}
		body = string(b)
		writeJSON(w, 200, map[string]any{"results": []any{
			map[string]any{"transfer_id": "b-1", "result": "applied", "transfer": map[string]any{"transfer_id": "b-1", "amount": "1.50", "status": "applied"}},
			map[string]any{"transfer_id": "b-2", "result": "replayed", "transfer": map[string]any{"transfer_id": "b-2", "amount": "2.25", "status": "applied"}},
			map[string]any{"transfer_id": "b-3", "result": "refused", "code": "purse_not_found", "detail": "Purse Z9 does not exist."},
		}, "applied": 2, "refused": 1})
	})
	file := filepath.Join(t.TempDir(), "pay.csv")
	os.WriteFile(file, []byte("transfer_id,from,to,amount,description\nb-1,Z1,Z2,1.50,rent\nb-2,Z1,Z3,2.25,\nb-3,Z1,Z9,4,\n"), 0o600)
	r := k.run("", "send-batch", file, "--all-or-nothing")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 3 transfers were refused") {
		t.Errorf("got exit %d, stderr %q, want 1 and the refusal count", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Made 2 of 3 transfers (total 3.75), refused 1.") || !strings.Contains(r.stdout, "purse_not_found: Purse Z9 does not exist.") {
		t.Errorf("got stdout %q", r.stdout)
	}
	var sent struct {
		Transfers    []map[string]string `json:"transfers"`
		AllOrNothing bool                `json:"all_or_nothing"`
	}
	if err := json.Unmarshal([]byte(body), &sent); err != nil || len(sent.Transfers) != 3 || !sent.AllOrNothing ||
		sent.Transfers[0]["description"] != "rent" || sent.Transfers[2]["amount"] != "4" || calls.Load() != 2 {
		t.Errorf("got body %s after %d calls, want the three rows, all or nothing, after a retry", body, calls.Load())
	}

	// From standard input; a bad file never reaches the server.
	if r := k.run("x,Z1,Z2,1\nx,Z1,Z2,2\n", "send-batch", "-"); r.code != 1 || !strings.Contains(r.stderr, "line 2: transfer_id x is already used on line 1") {
		t.Errorf("duplicate IDs: got %+v", r)
	}
	if calls.Load() != 2 {
		t.Errorf("a bad file reached the server")
	}
}

func TestPayments_Amounts(t *testing.T) {
	for s, want := range map[string]bool{"0.00": true, "0": true, "0.0001": false, "10.00": false, "": false} {
		if zeroAmount(s) != want {
			t.Errorf("zeroAmount(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]string{"": "none", "0.00": "none", "20.00": "20.00"} {
		if got := noLimit(s); got != want {
			t.Errorf("noLimit(%q) = %q, want %q", s, got, want)
		}
	}
	for s, want := range map[string]int{"": 0, "72h": 72, "3d": 72, "720h": 720, "30d": 720, "1h": 1} {
		if got, err := parseHours(s); err != nil || got != want {
			t.Errorf("parseHours(%q) = %d %v, want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"0h", "31d", "1.5h", "-2h", "x", "3"} {
		if _, err := parseHours(s); err == nil {
			t.Errorf("parseHours(%q): got no error", s)
		}
	}
}
