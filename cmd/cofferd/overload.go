package main

import (
	"errors"
	"flag"

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
}

func (o *connOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.maxConns, "max-conns", 4096, "connections open at once over the member listeners (plain and TLS); one beyond is answered 503 and closed (TLS: closed) (0: no cap)")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 256, "connections open at once from one client IP address; --trusted-proxy addresses are exempt (0: no cap)")
}

// limiter returns the connection caps shared by the member listeners and
// registers their metrics.
func (o *connOptions) limiter(proxies *forwarded.Trusted, m *httpapi.Metrics) (*connlimit.Limiter, error) {
	if o.maxConns < 0 || o.maxConnsPerIP < 0 {
		return nil, errors.New("serve: --max-conns and --max-conns-per-ip must not be negative")
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
