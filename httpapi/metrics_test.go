package httpapi_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/httpapi"
)

// scrape returns the metrics' sample lines (name{labels} value).
func scrape(t *testing.T, m *httpapi.Metrics) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	out := map[string]string{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// TestMetrics_Counters: the build is reported; every outcome of the
// webhook, mail, SMS, scheduler and transfer counters is there at 0 before
// its first event, and counts its events.
func TestMetrics_Counters(t *testing.T) {
	m := httpapi.NewMetrics()
	got := scrape(t, m)
	var build string
	for k, v := range got {
		if strings.HasPrefix(k, "coffer_build_info{") && v == "1" {
			build = k
		}
	}
	if !strings.Contains(build, `goversion="`+runtime.Version()+`"`) || !strings.Contains(build, `revision="`) || !strings.Contains(build, `version="`) {
		t.Errorf("got build info %q, want coffer_build_info{goversion,revision,version} 1", build)
	}
	zero := []string{
		`coffer_webhook_delivery_attempts_total{outcome="delivered"}`, `coffer_webhook_delivery_attempts_total{outcome="retry"}`,
		`coffer_webhook_delivery_attempts_total{outcome="gave_up"}`,
		`coffer_mail_total{outcome="sent"}`, `coffer_mail_total{outcome="failed"}`, `coffer_mail_total{outcome="dropped"}`,
		`coffer_sms_total{outcome="sent"}`, `coffer_sms_total{outcome="limit_day"}`,
		`coffer_scheduler_runs_total{outcome="ok"}`, `coffer_scheduler_runs_total{outcome="error"}`, `coffer_scheduler_settled_total`,
		`coffer_transfers_total{outcome="applied"}`,
	}
	for _, k := range zero {
		if got[k] != "0" {
			t.Errorf("got %s %q, want 0 before any event", k, got[k])
		}
	}

	m.Webhook("retry")
	m.Webhook("retry")
	m.Mail("dropped")
	m.SchedulerPass(3, nil)
	m.SchedulerPass(0, errors.New("store unreachable"))
	got = scrape(t, m)
	for k, want := range map[string]string{
		`coffer_webhook_delivery_attempts_total{outcome="retry"}`: "2",
		`coffer_mail_total{outcome="dropped"}`:                    "1",
		`coffer_scheduler_runs_total{outcome="ok"}`:               "1",
		`coffer_scheduler_runs_total{outcome="error"}`:            "1",
		`coffer_scheduler_settled_total`:                          "3",
	} {
		if got[k] != want {
			t.Errorf("got %s %q, want %s", k, got[k], want)
		}
	}
}
