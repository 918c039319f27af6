package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestCofferd_PostgresSyncStandbyMissing runs the server on a PostgreSQL
// primary whose synchronous standby goes missing: every commit then waits
// for a standby that does not come. Writes must be answered 503 with
// Retry-After within the write deadline instead of hanging, reads must
// still answer, /readyz must say why, and once a standby confirms again
// the writes that were cut off are either applied once or not at all.
func TestCofferd_PostgresSyncStandbyMissing(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	pg := pgtest.StartServer(t)
	data := t.TempDir()
	s := startServerWith(t, data, "--db", pg.SchemaURL(t), "--db-timeout", "2s", "--request-timeout", "10s")
	e := newEconomy(t, s, 2)
	a, b := e.members[0], e.members[1]
	waitReadyz(t, s, http.StatusOK)
	var before struct {
		Balance string `json:"balance"`
	}
	s.must(t, "GET", "/v1/purses/"+a.purse, a.token, nil, http.StatusOK, &before)

	// The standby goes: the primary is told to wait for one that is not
	// there (as when the only synchronous standby dies under
	// synchronous_mode_strict).
	pgExec(t, pg.URL, `ALTER SYSTEM SET synchronous_standby_names = 'coffer_missing_standby'`, `SELECT pg_reload_conf()`)
	if reason := waitReadyz(t, s, http.StatusServiceUnavailable); !strings.Contains(reason, "synchronous standby is missing") {
		t.Errorf("GET /readyz without the standby: got reason %q, want it to name the missing synchronous standby", reason)
	}

	unavailable := func(what string, status int, h http.Header, body []byte) string {
		t.Helper()
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		json.Unmarshal(body, &p)
		if status != http.StatusServiceUnavailable || p.Code != coffer.EUNAVAILABLE || h.Get("Retry-After") == "" {
			t.Errorf("%s without the standby: got %d %s (Retry-After %q), want 503 unavailable with Retry-After", what, status, body, h.Get("Retry-After"))
		}
		return p.Detail
	}
	transfer := map[string]string{"transfer_id": "during-outage", "from": a.purse, "to": b.purse, "amount": "1.25"}
	start := time.Now()
	status, h, body := request(t, s, "POST", "/v1/transfers", a.token, transfer)
	unavailable("a transfer", status, h, body)
	t.Logf("transfer answered %d after %v", status, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	status, h, body = request(t, s, "PUT", "/v1/security/notifications", a.token, map[string]bool{"login": false})
	if d := unavailable("a settings change", status, h, body); !strings.Contains(d, "may still be made") {
		t.Errorf("a settings change cut off at its commit: got %q, want it to say the change may still be made", d)
	}
	t.Logf("settings change answered %d after %v", status, time.Since(start).Round(time.Millisecond))
	status, h, body = request(t, s, "POST", "/v1/sessions", "", map[string]string{"login": b.id, "password": e2ePassword})
	unavailable("a login", status, h, body)
	// Reads do not wait for the standby.
	s.must(t, "GET", "/v1/purses/"+b.purse+"/history", b.token, nil, http.StatusOK, nil)
	// The server may have committed the cut-off transfer locally (PostgreSQL
	// does when a wait for a standby is cancelled), but no standby has it:
	// the same ID resent must not be answered as applied yet.
	status, h, body = request(t, s, "POST", "/v1/transfers", a.token, transfer)
	unavailable("the transfer resent during the outage", status, h, body)

	// The standby is back (or the operator stops waiting for it): the
	// commits that waited complete, and the server takes writes again
	// without a restart.
	pgExec(t, pg.URL, `ALTER SYSTEM RESET synchronous_standby_names`, `SELECT pg_reload_conf()`)
	waitReadyz(t, s, http.StatusOK)
	status, _, body = request(t, s, "POST", "/v1/transfers", a.token, transfer)
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("the transfer resent after the outage: got %d %s, want 201 or 200 (applied once)", status, body)
	}
	t.Logf("the transfer resent after the outage: %d (200: the cut-off commit had been applied)", status)
	var after struct {
		Balance string `json:"balance"`
	}
	s.must(t, "GET", "/v1/purses/"+a.purse, a.token, nil, http.StatusOK, &after)
	b0, _ := coffer.ParseAmount(before.Balance, 2)
	b1, _ := coffer.ParseAmount(after.Balance, 2)
	if b0-b1 != 125 {
		t.Errorf("sender's balance went from %s to %s, want 1.25 debited exactly once", before.Balance, after.Balance)
	}
	s.must(t, "PUT", "/v1/security/notifications", a.token, map[string]bool{"login": true}, http.StatusOK, nil)
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data, s.dbFlags()...)
}

// pgExec runs statements on the server at url, each on its own.
func pgExec(t *testing.T, url string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range stmts {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// pgQuery reads one row of the server at url into dst.
func pgQuery(t *testing.T, url, q string, dst ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.QueryRow(ctx, q).Scan(dst...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
