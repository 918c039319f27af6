package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBench_Smoke runs a short load against an in-process server. It checks
// that the bench works end to end and that the ledger holds afterwards; it
// asserts nothing about speed.
func TestBench_Smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and registers members")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("text", func(t *testing.T) {
		var out, errb bytes.Buffer
		if err := run(ctx, []string{"bench", "-c", "4", "-d", "1s", "--members", "6"}, &out, &errb); err != nil {
			t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		}
		got := out.String()
		// "batches" comes from the metrics listener of the server.
		for _, want := range []string{"transfers/s", "admitted", "p99", "shed", "batches", "all invariants hold"} {
			if !strings.Contains(got, want) {
				t.Errorf("output lacks %q; got:\n%s", want, got)
			}
		}
	})

	t.Run("json hot capped", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := []string{"bench", "-c", "3", "-d", "30s", "-n", "50", "--members", "4", "--workload", "hot", "--json"}
		if err := run(ctx, args, &out, &errb); err != nil {
			t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		}
		var res struct {
			Runs []struct {
				Workload string           `json:"workload"`
				Sent     int64            `json:"sent"`
				Applied  int64            `json:"applied"`
				Admitted int64            `json:"admitted"`
				Shed     int64            `json:"shed"`
				Refused  int64            `json:"refused"`
				Errors   map[string]int64 `json:"errors"`
			} `json:"runs"`
			Check struct {
				OK        bool  `json:"ok"`
				Transfers int64 `json:"transfers"`
			} `json:"check"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out.String())
		}
		if len(res.Runs) != 1 {
			t.Fatalf("got %d runs, want 1", len(res.Runs))
		}
		r := res.Runs[0]
		if r.Workload != "hot" || r.Sent != 50 {
			t.Errorf("got workload %q, sent %d; want hot, 50", r.Workload, r.Sent)
		}
		if r.Admitted+r.Shed+r.Refused != r.Sent {
			t.Errorf("got %d admitted, %d shed, %d refused; want them to add up to the %d sent", r.Admitted, r.Shed, r.Refused, r.Sent)
		}
		if !res.Check.OK {
			t.Errorf("invariants do not hold: %s", out.String())
		}
		// Funding gives one transfer per member; the load adds the rest.
		if want := 4 + r.Applied; res.Check.Transfers != want {
			t.Errorf("got %d transfers in the ledger, want %d", res.Check.Transfers, want)
		}
	})
}

// TestBench_Shed runs the bench against a server that serves one request at
// a time, after a warm-up: whatever is shed, every request sent is counted
// once (admitted, shed or refused) and the ledger holds what was applied.
// Whether any is shed depends on timing, so that is not asserted.
func TestBench_Shed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and registers members")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"bench", "-c", "2,8", "--client-ips", "3", "--warmup", "300ms", "-d", "1s", "--members", "4", "--json",
		"--serve-args", "--max-inflight-requests 1 --max-conns-per-ip 3"}
	if err := run(ctx, args, &out, &errb); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	var res struct {
		Runs []struct {
			Clients       int              `json:"clients"`
			Sent          int64            `json:"sent"`
			Applied       int64            `json:"applied"`
			AppliedWarmup int64            `json:"applied_warmup"`
			Admitted      int64            `json:"admitted"`
			Shed          int64            `json:"shed"`
			Refused       int64            `json:"refused"`
			Errors        map[string]int64 `json:"errors"`
		} `json:"runs"`
		Check struct {
			OK        bool  `json:"ok"`
			Transfers int64 `json:"transfers"`
		} `json:"check"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if len(res.Runs) != 2 || res.Runs[0].Clients != 2 || res.Runs[1].Clients != 8 {
		t.Fatalf("got runs %+v, want 2 and 8 clients", res.Runs)
	}
	transfers := int64(4) // funding
	for _, r := range res.Runs {
		if r.Admitted+r.Shed+r.Refused != r.Sent {
			t.Errorf("%d clients: got %d admitted, %d shed, %d refused; want them to add up to the %d sent", r.Clients, r.Admitted, r.Shed, r.Refused, r.Sent)
		}
		if len(r.Errors) != 0 {
			t.Errorf("%d clients: got errors %v, want none", r.Clients, r.Errors)
		}
		transfers += r.Applied + r.AppliedWarmup
	}
	if !res.Check.OK || res.Check.Transfers != transfers {
		t.Errorf("ledger: got ok %v with %d transfers, want ok with %d", res.Check.OK, res.Check.Transfers, transfers)
	}
}

func TestBench_Flags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--workload", "zipf"},
		{"bench", "--members", "1"},
		{"bench", "-c", "0"},
		{"bench", "--target", "http://127.0.0.1:1"}, // --data missing
		{"bench", "-c", "16,x"},
		{"bench", "--client-ips", "0"},
		{"bench", "--warmup", "-1s"},
		{"bench", "--target", "http://127.0.0.1:1", "--data", "d", "--serve-args", "--max-conns 1"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: got no error, want one", args)
		}
	}
}
