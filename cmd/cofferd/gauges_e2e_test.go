package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres/pgtest"
)

// TestCofferd_Gauges: the metrics listener reports the WAL size (SQLite),
// the data directory's free space, the database pools, the scheduler's lag
// and the webhook backlog, which grows when an endpoint does not answer.
func TestCofferd_Gauges(t *testing.T) {
	needBinaries(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testGauges(t, nil, []string{"writer", "reader"})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testGauges(t, []string{"--db", pgtest.URL(t)}, []string{"main"})
	})
}

func testGauges(t *testing.T, dbFlags []string, pools []string) {
	s := startServerWith(t, t.TempDir(), append([]string{"--webhooks-allow-loopback"}, dbFlags...)...)
	e := newEconomy(t, s, 2)
	m := e.members[0]

	got := scrapeGauges(t, s.scrape)
	_, wal := got["coffer_sqlite_wal_bytes"]
	if sqlite := dbFlags == nil; wal != sqlite {
		t.Errorf("coffer_sqlite_wal_bytes reported: %v, want %v", wal, sqlite)
	}
	if v := got["coffer_sqlite_wal_bytes"]; v < 0 {
		t.Errorf("coffer_sqlite_wal_bytes: got %v, want ≥ 0", v)
	}
	if v := got["coffer_data_dir_free_bytes"]; v <= 0 {
		t.Errorf("coffer_data_dir_free_bytes: got %v, want > 0", v)
	}
	for _, p := range pools {
		if v := got[`coffer_db_pool_open_connections{pool="`+p+`"}`]; v < 1 {
			t.Errorf("coffer_db_pool_open_connections of pool %s: got %v, want ≥ 1", p, v)
		}
		if v, ok := got[`coffer_db_pool_max_connections{pool="`+p+`"}`]; !ok || v < 1 {
			t.Errorf("coffer_db_pool_max_connections of pool %s: got %v (reported: %v), want ≥ 1", p, v, ok)
		}
		for _, name := range []string{"coffer_db_pool_in_use_connections", "coffer_db_pool_idle_connections", "coffer_db_pool_waits_total", "coffer_db_pool_wait_seconds_total"} {
			if _, ok := got[name+`{pool="`+p+`"}`]; !ok {
				t.Errorf("%s of pool %s not reported", name, p)
			}
		}
	}
	if v, ok := got["coffer_scheduler_lag_seconds"]; !ok || v < 0 || v > 600 {
		t.Errorf("coffer_scheduler_lag_seconds: got %v (reported: %v), want between 0 and 600", v, ok)
	}
	if v, ok := got["coffer_webhook_backlog"]; !ok || v != 0 {
		t.Errorf("coffer_webhook_backlog before any webhook: got %v (reported: %v), want 0", v, ok)
	}

	// An endpoint that always fails keeps its delivery pending.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	s.must(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": failing.URL + "/coffer",
		"events": []string{coffer.EventTransferIncoming}, "signing": coffer.SigningHMAC}, http.StatusCreated, nil)
	s.must(t, "POST", "/v1/transfers", e.issuer.token, map[string]string{"transfer_id": "gauge-1",
		"from": e.issuer.purse, "to": m.purse, "amount": "1.00"}, http.StatusCreated, nil)
	got = scrapeGauges(t, s.scrape)
	if v := got["coffer_webhook_backlog"]; v != 1 {
		t.Errorf("coffer_webhook_backlog after a transfer to a failing endpoint: got %v, want 1", v)
	}
	if v, ok := got["coffer_webhook_backlog_oldest_seconds"]; !ok || v < 0 {
		t.Errorf("coffer_webhook_backlog_oldest_seconds: got %v (reported: %v), want ≥ 0", v, ok)
	}
}

// scrapeGauges reads the metrics listener's samples, keyed by name with
// labels as written (name{label="value"}).
func scrapeGauges(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, err %v; body:\n%.2000s", url, resp.StatusCode, err, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
