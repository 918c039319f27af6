package httpapi

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/mail"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus metrics, on a registry of their own.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	transfers *prometheus.CounterVec
	batchSize prometheus.Histogram
	batchTime prometheus.Histogram
	sms       *prometheus.CounterVec
	clockBack prometheus.Counter
	webhooks  *prometheus.CounterVec
	mail      *prometheus.CounterVec
	schedRuns *prometheus.CounterVec
	settled   prometheus.Counter
}

// NewMetrics registers coffer's metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "coffer_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}, []string{"route"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_transfers_total", Help: "Transfers by outcome: applied or the refusal code."}, []string{"outcome"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "coffer_ledger_batch_size", Help: "Transfers per ledger commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	m.batchTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "coffer_ledger_batch_duration_seconds", Help: "Time to apply and commit one batch.",
		Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .5}})
	m.sms = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_sms_total",
		Help: "SMS by outcome: sent, failed (at the gateway) or the limit that refused it (limit_member, limit_number, limit_address, limit_day)."}, []string{"outcome"})
	m.clockBack = prometheus.NewCounter(prometheus.CounterOpts{Name: "coffer_clock_backward_jumps_total",
		Help: "Times the ledger found the clock earlier than its previous reading (each is logged with its size); stamps keep the ledger's last time meanwhile."})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_webhook_delivery_attempts_total",
		Help: "Webhook delivery attempts by outcome: delivered, retry (failed; another attempt is scheduled) or gave_up (failed, the last)."}, []string{"outcome"})
	m.mail = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_mail_total",
		Help: "E-mails by outcome: sent, failed (the mail server refused it or could not be reached) or dropped (the queue, --mail-queue, was full)."}, []string{"outcome"})
	m.schedRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_scheduler_runs_total",
		Help: "Passes of the scheduler by outcome: ok or error (logged)."}, []string{"outcome"})
	m.settled = prometheus.NewCounter(prometheus.CounterOpts{Name: "coffer_scheduler_settled_total",
		Help: "Held transfers whose protection period the scheduler ended."})
	// Every outcome is reported from the start, at 0, so that a rate over
	// it is defined before the first event.
	for _, o := range []string{"applied"} {
		m.transfers.WithLabelValues(o)
	}
	for _, o := range []string{app.SMSSent, app.SMSFailed, app.SMSLimitMember, app.SMSLimitNumber, app.SMSLimitAddress, app.SMSLimitPerDay} {
		m.sms.WithLabelValues(o)
	}
	for _, o := range []string{app.WebhookDelivered, app.WebhookRetry, app.WebhookGaveUp} {
		m.webhooks.WithLabelValues(o)
	}
	for _, o := range []string{mail.Sent, mail.Failed, mail.Dropped} {
		m.mail.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "error"} {
		m.schedRuns.WithLabelValues(o)
	}
	m.reg.MustRegister(m.requests, m.latency, m.transfers, m.batchSize, m.batchTime, m.sms, m.clockBack,
		m.webhooks, m.mail, m.schedRuns, m.settled, buildInfo(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds the metrics of the server's other parts (the connection
// caps of cofferd serve) to the same registry.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// buildInfo is coffer_build_info, 1, labelled with the binary's module
// version, VCS revision and Go version.
func buildInfo() prometheus.Collector {
	version, revision := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "coffer_build_info",
		Help:        "The running binary: its module version, VCS revision and Go version (always 1).",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

// Handler serves the metrics in Prometheus's text format. It belongs on
// the operator's metrics listener (cofferd serve --metrics-addr), not
// beside the API: the counters tell a stranger how busy the server is and
// which refusals it gives.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(route string, status int, d time.Duration) {
	if status == 0 {
		status = 200
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Batch records one ledger commit.
func (m *Metrics) Batch(size int, d time.Duration) {
	m.batchSize.Observe(float64(size))
	m.batchTime.Observe(d.Seconds())
}

// Outcome records one transfer's outcome; "" means applied.
func (m *Metrics) Outcome(code string) {
	if code == "" {
		code = "applied"
	}
	m.transfers.WithLabelValues(code).Inc()
}

// ClockBack records a backward jump of the clock (ledger.Observer.ClockBack).
func (m *Metrics) ClockBack(time.Duration) { m.clockBack.Inc() }

// SMS records one SMS's outcome (app.FactorConfig.SMSObserver).
func (m *Metrics) SMS(outcome string) { m.sms.WithLabelValues(outcome).Inc() }

// Webhook records one webhook delivery attempt's outcome
// (app.WebhookConfig.Observer).
func (m *Metrics) Webhook(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// Mail records one e-mail's outcome (mail.NewQueueObserved).
func (m *Metrics) Mail(outcome string) { m.mail.WithLabelValues(outcome).Inc() }

// SchedulerPass records one pass of the scheduler
// (app.Config.SchedulerObserver).
func (m *Metrics) SchedulerPass(settled int, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.schedRuns.WithLabelValues(outcome).Inc()
	m.settled.Add(float64(settled))
}
