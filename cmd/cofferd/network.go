package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-money/coffer/forwarded"
	"github.com/coffer-money/coffer/httpapi"
)

// netOptions are the flags that say how the server is reached: its public
// URL, the proxies in front of it and the operator's metrics listener.
type netOptions struct {
	publicURL   string
	metricsAddr string
	proxies     stringList
	proxyHeader string // x-forwarded or forwarded
}

// defaultMetricsAddr keeps the metrics on this machine, on a port of their
// own (the one OpenTelemetry's Prometheus exporter uses; Prometheus itself
// listens on 9090).
const defaultMetricsAddr = "127.0.0.1:9464"

func (o *netOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.publicURL, "public-url", "", "the server's public base URL, e.g. https://coffer.example: the OpenID Connect issuer and the origin of the web keeper's forms; "+
		"plain http only on a loopback host (default: the --addr listener's loopback URL, such as http://127.0.0.1:8080; required when --addr is another single address)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", defaultMetricsAddr, "listen address of the Prometheus metrics (GET /metrics), apart from the members' listeners; "+
		"\"off\" or \"\" turns it off (port 0 picks a free port)")
	fs.Var(&o.proxies, "trusted-proxy", "address or CIDR prefix of a reverse proxy whose X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto (or Forwarded: see --trusted-proxy-header) are believed "+
		"(repeat, or separate with commas; default: none, and those headers are ignored)")
	fs.StringVar(&o.proxyHeader, "trusted-proxy-header", "x-forwarded", "the headers the trusted proxies write: x-forwarded (X-Forwarded-For, -Host, -Proto) or forwarded (RFC 7239 Forwarded: for, host, proto); "+
		"the other family is ignored, since a proxy passes it on as the client wrote it")
}

// trustedProxies parses --trusted-proxy.
func (o *netOptions) trustedProxies() (*forwarded.Trusted, error) {
	h, err := forwarded.ParseHeader(o.proxyHeader)
	if err != nil {
		return nil, fmt.Errorf("serve: --trusted-proxy-header: %w", err)
	}
	t, err := forwarded.ParseWith(o.proxies, h)
	if err != nil {
		return nil, fmt.Errorf("serve: --trusted-proxy: %w", err)
	}
	return t, nil
}

// checkPublicURL refuses what cannot be the server's public base URL: it
// must be an http or https origin with no path, query or user, and plain
// http only on a loopback host, since an OpenID Connect issuer and the
// pages' origin over plain http elsewhere could be impersonated on the
// way. It returns the URL without a trailing slash.
func checkPublicURL(flagName, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("serve: %s %q is not an absolute URL such as https://coffer.example", flagName, s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("serve: %s %q must use https", flagName, s)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("serve: %s %q must be a bare origin, without a path, query, fragment or user (https://coffer.example)", flagName, s)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return "", fmt.Errorf("serve: %s %q: plain http is allowed only on a loopback host (localhost, 127.0.0.1, ::1); use https", flagName, s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// loopbackHost reports whether host (no port) is localhost or a loopback
// address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// resolvePublicURL is --public-url, checked, or else the URL of the member
// listener at addr (scheme http, or https for a --tls-only server). A
// listener on every interface is named by its loopback address (with a
// warning); one on another single address needs --public-url, since plain
// http there is refused and a certificate names the public host.
func (o *netOptions) resolvePublicURL(scheme string, addr net.Addr, log *slog.Logger) (string, error) {
	if o.publicURL != "" {
		return checkPublicURL("--public-url", o.publicURL)
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "", fmt.Errorf("serve: listen address %s: %w", addr, err)
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsLoopback():
	case ip.IsUnspecified():
		// Go reports a listener on 0.0.0.0 as [::] on a dual-stack host;
		// 127.0.0.1 reaches either.
		ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())
		log.Warn("no --public-url: the server is named by its loopback address, which only this machine can use; set --public-url", "public_url", scheme+"://"+ap.String())
	default:
		return "", fmt.Errorf("serve: the server listens on %s, which is not a loopback address: set --public-url (https://…) to the URL members use", addr)
	}
	return checkPublicURL("the listener's URL", scheme+"://"+ap.String())
}

// listenMetrics opens the metrics listener; nil when --metrics-addr is
// off.
func (o *netOptions) listenMetrics(m *httpapi.Metrics, log *slog.Logger) (*http.Server, net.Listener, error) {
	addr := strings.TrimSpace(o.metricsAddr)
	if addr == "" || strings.EqualFold(addr, "off") {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: listen (metrics): %w", err)
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().Unmap().IsLoopback() {
		log.Warn("the metrics listener is not on a loopback address; keep it behind a firewall", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return srv, ln, nil
}

// serveAddrs are where a started server listens, for runServe's ready
// callback.
type serveAddrs struct {
	http    string // the plain member listener, host:port
	metrics string // the metrics listener, host:port; "" when off
}
