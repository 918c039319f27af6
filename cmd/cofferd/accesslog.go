package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/forwarded"
)

// accessLogOptions are the access log's flags of `cofferd serve`.
type accessLogOptions struct {
	mode   string // on or off
	sample int    // log 1 in sample successful requests
}

func (o *accessLogOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.mode, "access-log", "on", "one log line per request (method, route, status, duration, bytes, member, request ID, client): on or off; 4xx are logged at debug level, 5xx at error")
	fs.IntVar(&o.sample, "access-log-sample", 1, "log 1 in N successful requests (refusals and errors are always logged)")
}

// check refuses flags out of range, before anything starts.
func (o *accessLogOptions) check() error {
	if o.mode != "on" && o.mode != "off" {
		return fmt.Errorf("--access-log must be on or off, not %q", o.mode)
	}
	if o.sample < 1 {
		return fmt.Errorf("--access-log-sample must be 1 or more")
	}
	return nil
}

// wrap puts the access log and the request IDs around h.
func (o *accessLogOptions) wrap(h http.Handler, log *slog.Logger, proxies *forwarded.Trusted) http.Handler {
	return accesslog.Wrap(h, log, accesslog.Config{Off: o.mode == "off", Sample: o.sample, TrustedProxies: proxies})
}
