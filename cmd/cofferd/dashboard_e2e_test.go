package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// dashboardFile is the Grafana dashboard shipped in the repository.
const dashboardFile = "../../deploy/grafana/coffer.json"

// TestCofferd_Dashboard: every metric the Grafana dashboard's queries use
// is one the server exposes (a histogram's _bucket, _sum and _count are
// its own), and the dashboard shows what an operator watches. The server's
// webhook, e-mail and scheduler counters count what the server does.
func TestCofferd_Dashboard(t *testing.T) {
	needBinaries(t)
	names := dashboardMetrics(t, dashboardFile)
	for _, want := range []string{
		"coffer_http_requests_total", "coffer_http_request_duration_seconds_bucket", "coffer_transfers_total",
		"coffer_ledger_batch_size_bucket", "coffer_db_pool_in_use_connections", "coffer_sqlite_wal_bytes",
		"coffer_data_dir_free_bytes", "coffer_scheduler_lag_seconds", "coffer_scheduler_runs_total",
		"coffer_webhook_backlog", "coffer_webhook_delivery_attempts_total", "coffer_mail_total", "coffer_sms_total",
		"coffer_build_info",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}

	s := startServerWith(t, t.TempDir(), "--webhooks-allow-loopback")
	e := newEconomy(t, s, 2)
	// A delivery to an endpoint that fails, and an e-mail: registering
	// with a taken address tells its owner.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	m := e.members[0]
	s.must(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": failing.URL + "/coffer",
		"events": []string{coffer.EventTransferIncoming}, "signing": coffer.SigningHMAC}, http.StatusCreated, nil)
	s.must(t, "POST", "/v1/transfers", e.issuer.token, map[string]string{"transfer_id": "dash-1",
		"from": e.issuer.purse, "to": m.purse, "amount": "1.00"}, http.StatusCreated, nil)
	for range 2 {
		s.must(t, "POST", "/v1/members", "", map[string]string{"password": e2ePassword, "email": "owner@example.org"}, http.StatusCreated, nil)
	}

	// The worker, the mail queue and the scheduler work in the
	// background: wait for each to have done its part.
	var types map[string]string
	var samples map[string]float64
	for _, k := range []string{`coffer_webhook_delivery_attempts_total{outcome="retry"}`, `coffer_mail_total{outcome="sent"}`,
		`coffer_scheduler_runs_total{outcome="ok"}`} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			types, samples = scrapeTypes(t, s.scrape)
			if samples[k] >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s stayed %v", k, samples[k])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if samples[`coffer_webhook_delivery_attempts_total{outcome="delivered"}`] != 0 || samples[`coffer_mail_total{outcome="dropped"}`] != 0 {
		t.Errorf("got %v delivered webhook attempts and %v dropped e-mails, want 0 and 0", samples[`coffer_webhook_delivery_attempts_total{outcome="delivered"}`], samples[`coffer_mail_total{outcome="dropped"}`])
	}
	build := false
	for k, v := range samples {
		build = build || strings.HasPrefix(k, "coffer_build_info{") && strings.Contains(k, `goversion="go`) && v == 1
	}
	if !build {
		t.Error("coffer_build_info{goversion=…} 1 not exposed")
	}

	for _, n := range names {
		if _, ok := types[n]; ok {
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suffix); ok && (types[base] == "histogram" || types[base] == "summary") {
				found = true
			}
		}
		if !found {
			t.Errorf("the dashboard uses %s, which the server does not expose", n)
		}
	}
}

// TestPromMetricNames checks the reading of metric names from queries
// that the dashboard test relies on.
func TestPromMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (route, status) (rate(coffer_http_requests_total{instance=~"$instance", status=~"5.."}[$__rate_interval]))`, []string{"coffer_http_requests_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="by (y)"}[5m]))) / on (pool) group_left b_total * 1e3`, []string{"a_bucket", "b_total"}},
		{`sum(rate(x_sum[1m])) without (instance) / ignoring (le) sum(rate(x_count[1m])) > bool 0 and up offset 5m`, []string{"x_sum", "x_count", "up"}},
		{`coffer_build_info`, []string{"coffer_build_info"}},
	} {
		if got := promMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promMetricNames(%q): got %v, want %v", c.expr, got, c.want)
		}
	}
}

// dashboardMetrics reads a Grafana dashboard and returns the metric names
// its panels' queries and its variables' label_values use.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		ID      int      `json:"id"`
		Type    string   `json:"type"`
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
	}
	var d struct {
		Title     string  `json:"title"`
		UID       string  `json:"uid"`
		Panels    []panel `json:"panels"`
		Templates struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: got title %q, uid %q and %d panels, want a dashboard", path, d.Title, d.UID, len(d.Panels))
	}
	var names []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d taken twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			n := promMetricNames(tg.Expr)
			if len(n) == 0 {
				t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
			}
			names = append(names, n...)
		}
	}
	for _, v := range d.Templates.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
	promString  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatcher = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promLabels  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promWord    = regexp.MustCompile(`[0-9.]*[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promKeyword = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"}
)

// promMetricNames returns the metric names a PromQL expression selects,
// in order of first use: the names left once strings, label matchers,
// ranges and label lists are taken out, that are neither functions,
// keywords nor numbers.
func promMetricNames(expr string) []string {
	expr = promString.ReplaceAllString(expr, `""`)
	expr = promMatcher.ReplaceAllString(expr, " ")
	expr = promLabels.ReplaceAllString(expr, " ")
	var out []string
	for _, w := range promWord.FindAllString(expr, -1) {
		if strings.HasSuffix(w, "(") || strings.ContainsAny(w[:1], "0123456789.") {
			continue // a function or aggregation; a number such as 1e3
		}
		w = strings.TrimSpace(w)
		if slices.Contains(promKeyword, strings.ToLower(w)) || slices.Contains(out, w) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// scrapeTypes reads the metrics listener's families (name → type, from
// the # TYPE lines) and samples (as scrapeGauges).
func scrapeTypes(t *testing.T, url string) (map[string]string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, err %v", url, resp.StatusCode, err)
	}
	types := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return types, scrapeGauges(t, url)
}
