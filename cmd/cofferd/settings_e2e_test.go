package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/sqlite"
)

// TestCoffer_SecuritySettings runs the built keeper against the built server
// with its default e-mail outbox: limits, notifications, and a refused login
// unblocked with the code read by `coffer dev mail`.
func TestCoffer_SecuritySettings(t *testing.T) {
	needKeeper(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	keeper := newKeeperEnv(t, s, "cfg", "COFFER_KEY=").run
	out := keeper(0, "register", "--email", "e2e-settings@example.org")
	m := regexp.MustCompile(`Your member ID: ([0-9]{12})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("register: %q", out)
	}
	member := m[1]
	issuer := registerMember(t, s)
	issPurse := adminIssuerAdd(t, data, issuer.id, "USD", "1000.00")
	var np struct{ Purse string }
	json.Unmarshal([]byte(keeper(0, "--json", "purse", "new", "USD")), &np)

	keeper(0, "security", "notifications", "--incoming-payment", "on")
	s.must(t, "POST", "/v1/transfers", issuer.token, map[string]string{"transfer_id": "fund", "from": issPurse, "to": np.Purse, "amount": "50.00"}, http.StatusCreated, nil)
	if !waitFor(5*time.Second, func() bool {
		o := keeper(0, "dev", "mail", "--data", data)
		return strings.Contains(o, "Subject: coffer: 50.00 USD received")
	}) {
		t.Fatalf("no payment notification; last mail:\n%s", keeper(0, "dev", "mail", "--data", data))
	}

	out = keeper(0, "purse", "limits", np.Purse, "--per-day", "10.00")
	if !strings.Contains(out, "per day       10.00 USD") {
		t.Fatalf("purse limits: %q", out)
	}
	keeper(0, "send", "--from", np.Purse, "--to", issPurse, "--amount", "10.00")
	if out := keeper(1, "send", "--from", np.Purse, "--to", issPurse, "--amount", "0.01"); !strings.Contains(out, "limit") {
		t.Fatalf("send over the limit: %q", out)
	}

	keeper(0, "security", "ip-ranges", "set", "127.0.0.1/32")
	// Shut the member out the way another process would (the API refuses
	// a list without the caller's own address) and let the server's
	// settings cache expire.
	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetIPRanges(context.Background(), member, []string{"192.0.2.0/24"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	time.Sleep(5500 * time.Millisecond)
	if out := keeper(1, "purses"); !strings.Contains(out, "ip_not_allowed") && !strings.Contains(out, "does not allow access") {
		t.Fatalf("purses from outside the ranges: %q", out)
	}
	keeper(1, "login", member)
	code := regexp.MustCompile(`(?m)^\s+(\d{8})$`).FindStringSubmatch(keeper(0, "dev", "mail", "--data", data))
	if code == nil {
		t.Fatalf("no unblock code in the outbox:\n%s", keeper(0, "dev", "mail", "--data", data))
	}
	if out := keeper(0, "security", "unblock", "--member", member, "--code", code[1]); !strings.Contains(out, "127.0.0.1/32") {
		t.Fatalf("unblock: %q", out)
	}
	keeper(0, "purses")
	if out := keeper(0, "security", "log"); !strings.Contains(out, "unblock.used") || !strings.Contains(out, "limits.changed") {
		t.Fatalf("security log: %q", out)
	}
}
