package main

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/connlimit"
	"github.com/coffer-money/coffer/forwarded"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/prometheus/client_golang/prometheus"
)

// connOptions are the flags of `cofferd serve` that cap the members'
// connections; the ledger's admission has its own (--max-inflight-transfers,
// --ledger-wait).
type connOptions struct {
	maxConns      int
	maxConnsPerIP int
	maxRequests   int
}

func (o *connOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.maxConns, "max-conns", 4096, "connections open at once over the member listeners (plain and TLS); one beyond is answered 503 and closed (TLS: closed) (0: no cap)")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 256, "connections open at once from one client IP address; --trusted-proxy addresses are exempt (0: no cap)")
	fs.IntVar(&o.maxRequests, "max-inflight-requests", 0, "requests served at once on the member listeners; one beyond is answered 503 with Retry-After at once (/healthz and /readyz never) (0: no bound)")
}

// limiter returns the connection caps shared by the member listeners and
// registers their metrics.
func (o *connOptions) limiter(proxies *forwarded.Trusted, m *httpapi.Metrics) (*connlimit.Limiter, error) {
	if o.maxConns < 0 || o.maxConnsPerIP < 0 || o.maxRequests < 0 {
		return nil, errors.New("serve: --max-conns, --max-conns-per-ip and --max-inflight-requests must not be negative")
	}
	lim := connlimit.New(connlimit.Config{Max: o.maxConns, MaxPerAddr: o.maxConnsPerIP, Exempt: proxies.Contains})
	m.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_connections_open",
		Help: "Connections open on the member listeners (plain and TLS)."}, func() float64 { return float64(lim.Open()) }))
	for _, r := range []connlimit.Reason{connlimit.Total, connlimit.PerAddress} {
		m.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "coffer_connections_rejected_total",
			Help:        "Connections turned away as they were accepted, by the cap they would exceed: total (--max-conns) or per_address (--max-conns-per-ip).",
			ConstLabels: prometheus.Labels{"reason": string(r)}}, func() float64 { return float64(lim.Rejected(r)) }))
	}
	return lim, nil
}

// requestLimit answers 503 with Retry-After, at once, to a request that
// finds max others in flight, before any work is spent on it (reading its
// body, authenticating it, reading the store): under overload the server
// keeps serving the requests it has at their usual speed and sheds the
// excess cheaply, rather than letting every request wait. Liveness and
// readiness probes are never shed (the metrics have a listener of their
// own): a busy server is neither dead nor unready.
type requestLimit struct {
	next     http.Handler
	max      int64
	inFlight atomic.Int64
	shed     prometheus.Counter
}

// limitRequests wraps next with a limit of max requests in flight; max 0
// returns next.
func limitRequests(next http.Handler, max int, m *httpapi.Metrics) http.Handler {
	if max <= 0 {
		return next
	}
	l := &requestLimit{next: next, max: int64(max), shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "coffer_http_requests_shed_total",
		Help: "Requests answered 503 at once because --max-inflight-requests others were in flight."})}
	m.Register(l.shed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_http_requests_in_flight",
		Help: "Requests being served on the member listeners (health probes left out)."}, func() float64 { return float64(l.inFlight.Load()) }))
	return l
}

// busyProblem is the answer to a request shed by requestLimit.
var busyProblem, _ = json.Marshal(httpapi.Problem{Type: "urn:coffer:problem:" + coffer.EUNAVAILABLE, Title: http.StatusText(http.StatusServiceUnavailable),
	Status: http.StatusServiceUnavailable, Code: coffer.EUNAVAILABLE, Detail: "The server is busy; retry shortly (transfers with the same transfer ID)."})

func (l *requestLimit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == "/healthz" || p == "/readyz" {
		l.next.ServeHTTP(w, r)
		return
	}
	if l.inFlight.Add(1) > l.max {
		l.inFlight.Add(-1)
		l.shed.Inc()
		h := w.Header()
		h.Set("Retry-After", strconv.Itoa(coffer.UnavailableRetryAfter))
		h.Set("Content-Type", "application/problem+json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(busyProblem)
		return
	}
	defer l.inFlight.Add(-1)
	l.next.ServeHTTP(w, r)
}
