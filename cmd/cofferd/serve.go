package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/oidcprov"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/coffer-money/coffer/web"
)

// serveOptions are the flags of `cofferd serve`.
type serveOptions struct {
	data, addr, db      string
	dbIsolation         string
	dbConns             int
	dbTimeout           time.Duration // longest one database write may take
	requestTimeout      time.Duration // deadline of every request's work
	logLevel, logFormat string
	sessionIdle         time.Duration
	sessionMax          time.Duration
	registerPerHour     int
	noLoginIPLimit      bool
	maxBatch            int
	maxInflight         int           // ledger requests admitted at once
	ledgerWait          time.Duration // longest wait for admission to the ledger
	schedulerEvery      time.Duration
	webhooksLoopback    bool
	noIntegrityCheck    bool
	testClockOffset     time.Duration    // moves the server's clock; tests of expiry only
	tls                 tlsOptions       // HTTPS listener and client certificates; see ca.go
	mail                mailOptions      // e-mail adapter; see mail.go
	factors             factorOptions    // SMS gateway, secrets key, second-factor rules; see factors.go
	levelsFile          string           // verification levels; see members.go
	documentsKey        string           // key file sealing verification documents; see members.go
	oidc                oidcOptions      // "Sign in with coffer"; see oidc.go
	net                 netOptions       // public URL, trusted proxies, metrics listener; see network.go
	uploads             uploadOptions    // verification documents waiting on disk; see uploads.go
	conns               connOptions      // connection caps; see overload.go
	accessLog           accessLogOptions // one line per request; see accesslog.go
}

func (o *serveOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.data, "data", "./coffer-data", "data directory for the embedded SQLite store")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.StringVar(&o.db, "db", "", dbFlagHelp)
	fs.StringVar(&o.dbIsolation, "db-isolation", "read committed", "PostgreSQL isolation of write transactions: read committed or serializable (both correct; serializable retries conflicts)")
	fs.IntVar(&o.dbConns, "db-conns", 16, "PostgreSQL connection pool size")
	fs.DurationVar(&o.dbTimeout, "db-timeout", sqlstore.DefaultTimeout, "longest one database write (a transaction or a ledger batch, commit included) may take before the request is answered 503 with Retry-After; on PostgreSQL it also ends a commit waiting for a synchronous standby that is gone")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "deadline of each request's work, database reads included; past it the request is answered 503 with Retry-After (0: none)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&o.sessionIdle, "session-idle", 30*time.Minute, "a session unused this long expires")
	fs.DurationVar(&o.sessionMax, "session-max", 12*time.Hour, "a session expires this long after login")
	fs.IntVar(&o.registerPerHour, "register-per-hour", 20, "registrations allowed per client IP per hour (0: no limit)")
	fs.BoolVar(&o.noLoginIPLimit, "no-login-ip-limit", false, "turn off the per-IP login rate limit (load tests only)")
	fs.IntVar(&o.maxBatch, "max-batch", 1024, "largest ledger batch")
	fs.IntVar(&o.maxInflight, "max-inflight-transfers", 64, "ledger requests (transfers, actions on held transfers) in flight at once; beyond them a request waits --ledger-wait, then is answered 503 (0: no bound)")
	fs.DurationVar(&o.ledgerWait, "ledger-wait", 10*time.Millisecond, "longest a transfer waits to be admitted to the ledger before it is answered 503 with Retry-After (0: as long as the client waits)")
	fs.BoolVar(&o.noIntegrityCheck, "no-integrity-check", false, "start without the database's quick integrity check (about 1 s per 100,000 transfers on SQLite); run `cofferd check` instead")
	fs.BoolVar(&o.webhooksLoopback, "webhooks-allow-loopback", false, "development: webhook endpoints and checkout result URLs may be http:// on loopback addresses")
	fs.DurationVar(&o.schedulerEvery, "scheduler-every", time.Second, "how often protection periods that ended are settled")
	fs.DurationVar(&o.testClockOffset, "test-clock-offset", 0, "")
	// Flags named test-* are for tests and left out of the help (see
	// printCommandUsage).
	fs.StringVar(&o.levelsFile, "levels", "", levelsFlagHelp)
	fs.StringVar(&o.documentsKey, "documents-key", "", "file holding the 32-byte key that seals verification documents (default DATA/"+documentsKeyFile+", created on first start)")
	o.tls.flags(fs)
	o.mail.flags(fs)
	o.factors.flags(fs)
	o.oidc.flags(fs)
	o.net.flags(fs)
	o.uploads.flags(fs)
	o.conns.flags(fs)
	o.accessLog.flags(fs)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json")
}

// runServe runs the server until ctx ends. ready, when not nil, receives the
// listening addresses once the server accepts connections.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(serveAddrs)) error {
	fs := flag.NewFlagSet("cofferd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o serveOptions
	o.flags(fs)
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	if err := o.accessLog.check(); err != nil {
		return err
	}
	proxies, err := o.net.trustedProxies()
	if err != nil {
		return err
	}
	if o.net.publicURL != "" {
		if _, err := checkPublicURL("--public-url", o.net.publicURL); err != nil {
			return err // before anything is opened
		}
	}
	// The data directory holds the key files even when the database is
	// elsewhere: a new one is made on first start, whichever the store.
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("serve: create data directory: %w", err)
	}
	db, err := openStoreWith(ctx, o.data, o.db, postgres.Options{Isolation: o.dbIsolation, MaxConns: int32(o.dbConns)})
	if err != nil {
		return err
	}
	defer db.Close()
	if o.dbTimeout <= 0 || o.requestTimeout < 0 {
		return errors.New("--db-timeout must be positive and --request-timeout not negative")
	}
	db.SetTimeout(o.dbTimeout)
	db.OnDamage(func(err error) {
		log.Error("the database is damaged: requests that touch the damage fail. Stop the server, run `cofferd check --full` to name the damage, and restore from a backup", "err", err)
	})
	if o.noIntegrityCheck {
		log.Warn("the database's integrity check was skipped (--no-integrity-check)")
	} else if err := checkIntegrity(ctx, db, log); err != nil {
		return err
	}
	certs, err := o.tls.certConfig(o.data, log)
	if err != nil {
		return err
	}

	factors, err := o.factors.config(o.data)
	if err != nil {
		return err
	}
	// Every process on a shared database must seal and open generator
	// seeds with the same key (copy DATA/secrets.key to each).
	sum := sha256.Sum256(append([]byte("coffer secrets key fingerprint\x00"), factors.Key...))
	if err := db.PinKey(ctx, "secrets key ("+secretsKeyFile+")", hex.EncodeToString(sum[:8])); err != nil {
		return err
	}
	levels, err := loadLevels(o.levelsFile)
	if err != nil {
		return err
	}
	docKey, err := loadDocumentsKey(o.data, o.documentsKey)
	if err != nil {
		return err
	}
	if err := pinDocumentsKey(ctx, db, docKey); err != nil {
		return err
	}
	uploads, err := o.uploads.config(o.data)
	if err != nil {
		return err
	}
	metrics := httpapi.NewMetrics()
	mq, err := o.mail.start(o.data, log, metrics.Mail)
	if err != nil {
		return err
	}
	defer mq.Close()

	// The listeners open first: without --public-url, the address of the
	// one members use is the server's public URL (https://DOMAIN with
	// ACME certificates).
	tl, err := o.tls.open(o.data, log)
	if err != nil {
		return err
	}
	if tl != nil {
		defer tl.ln.Close()
	}
	var ln net.Listener // the plain listener; nil with --tls-only
	if !o.tls.only {
		if ln, err = net.Listen("tcp", o.addr); err != nil {
			return fmt.Errorf("serve: listen: %w", err)
		}
		defer ln.Close()
	}
	var publicURL string
	switch {
	case o.net.publicURL == "" && tl.acmeURL(&o.tls) != "":
		publicURL = tl.acmeURL(&o.tls)
	case ln == nil:
		publicURL, err = o.net.resolvePublicURL("https", tl.ln.Addr(), log)
	default:
		publicURL, err = o.net.resolvePublicURL("http", ln.Addr(), log)
	}
	if err != nil {
		return err
	}

	conns, err := o.conns.limiter(proxies, metrics)
	if err != nil {
		return err
	}
	now := time.Now
	if o.testClockOffset != 0 {
		log.Warn("the server's clock is moved for testing", "offset", o.testClockOffset)
		now = func() time.Time { return time.Now().Add(o.testClockOffset) }
	}
	if o.schedulerEvery <= 0 {
		return errors.New("--scheduler-every must be positive")
	}
	if o.maxInflight < 0 || o.ledgerWait < 0 {
		return errors.New("--max-inflight-transfers and --ledger-wait must not be negative")
	}
	// The engine and the service share the level table (the engine
	// applies the levels' daily limits) and the currency table (reloaded
	// when a currency is added while the server runs).
	currencies := app.NewCurrencies(db)
	engine := ledger.New(db, log, ledger.Config{MaxBatch: o.maxBatch, Now: now, Levels: levels, Currencies: currencies,
		MaxInFlight: o.maxInflight, Wait: o.ledgerWait,
		Observer: ledger.Observer{Batch: metrics.Batch, Outcome: metrics.Outcome, ClockBack: metrics.ClockBack}})
	factors.SMSObserver = metrics.SMS
	svc := app.New(db, engine, log, app.Config{SessionIdle: o.sessionIdle, SessionMax: o.sessionMax, Certs: certs, Mail: mq, Factors: factors, Now: now,
		Levels: levels, Currencies: currencies, DocumentKey: docKey, Webhooks: app.WebhookConfig{AllowLoopback: o.webhooksLoopback, Observer: metrics.Webhook}, PublicURL: publicURL,
		RegisterPerHour: o.registerPerHour, Uploads: uploads, SchedulerObserver: metrics.SchedulerPass})
	metrics.Watch(httpapi.Gauges{DataDir: o.data, WALFile: db.WALFile(), Pools: db.PoolStats,
		SchedulerLag: svc.SchedulerLag, Webhooks: db, Now: now, MailQueue: mq.Len})
	defer svc.Close() // before the store closes: deferred after it
	go engine.Run()
	api := httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: o.noLoginIPLimit, TrustedProxies: proxies, Ready: db})
	provider, err := o.oidc.newProvider(db, factors.Key, log, now, publicURL)
	if err != nil {
		engine.Close()
		<-engine.Done()
		return err
	}
	keeper, err := web.New(svc, log, web.Config{SignIn: provider, PublicURL: publicURL, TrustedProxies: proxies})
	if err != nil {
		engine.Close()
		<-engine.Done()
		return err
	}
	handler := httpapi.WithDeadline(limitRequests(withWebKeeper(api, keeper, provider), o.conns.maxRequests, metrics), o.requestTimeout)
	// The access log is outermost: its line covers every answer, refusals
	// of the layers inside it included, and its request ID reaches them all.
	handler = o.accessLog.wrap(handler, log, proxies)

	plain := handler
	if tl != nil && tl.acme != nil {
		// The ACME CA may check the name over plain http on port 80
		// (http-01) when tls-alpn-01 on the HTTPS listener fails.
		plain = tl.acme.HTTPHandler(handler)
	}
	var srv *http.Server
	if ln != nil {
		srv = &http.Server{Handler: plain, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	}
	// The HTTPS listener, when configured, runs beside the plain one (or
	// alone, with --tls-only).
	var tsrv, csrv *http.Server
	var cln net.Listener
	if tl != nil {
		tsrv = tl.server(handler, api, certs, log)
		tl.ln = conns.Listen(tl.ln, false) // below TLS: turned away before a handshake
		if o.tls.acmeHTTPAddr != "" {
			// With --tls-only, a plain listener for the http-01
			// challenges alone; every other request is sent to https.
			if cln, err = net.Listen("tcp", o.tls.acmeHTTPAddr); err != nil {
				engine.Close()
				<-engine.Done()
				return fmt.Errorf("serve: listen (--acme-http-addr): %w", err)
			}
			defer cln.Close()
			csrv = &http.Server{Handler: tl.acme.HTTPHandler(httpsRedirect(publicURL)), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
				ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		}
	}
	// The metrics have a listener of their own, for the operator's
	// scraper: the member listeners answer /metrics with 404.
	msrv, mln, err := o.net.listenMetrics(metrics, log)
	if err != nil {
		engine.Close()
		<-engine.Done()
		return err
	}
	var addrs serveAddrs
	if ln != nil {
		log.Info("cofferd listening", "addr", ln.Addr().String(), "public_url", publicURL, "data", o.data)
		fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
		addrs.http = ln.Addr().String()
	}
	if tsrv != nil {
		log.Info("cofferd listening (TLS)", "addr", tl.ln.Addr().String(), "public_url", publicURL, "client_certificates", svc.AcceptsClientCertificates())
		fmt.Fprintf(stdout, "listening on https://%s\n", tl.ln.Addr())
	}
	if csrv != nil {
		log.Info("ACME http-01 challenges listening", "addr", cln.Addr().String())
		fmt.Fprintf(stdout, "ACME challenges on http://%s\n", cln.Addr())
	}
	if msrv != nil {
		addrs.metrics = mln.Addr().String()
		log.Info("metrics listening", "addr", addrs.metrics)
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", mln.Addr())
	}
	if ready != nil {
		ready(addrs)
	}

	go sweepSessions(ctx, db, log)
	go sweepOIDC(ctx, db, log)
	// The scheduler settles protection periods that ended (catching up on
	// any that ended while the server was down); it stops before the engine.
	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); svc.RunScheduler(schedCtx, o.schedulerEvery) }()
	// The webhook worker sends the outbox's deliveries; it stops with the scheduler.
	hooks := app.NewWebhookWorker(svc)
	hookDone := make(chan struct{})
	go func() { defer close(hookDone); hooks.Run(schedCtx, time.Second) }()
	defer func() { stopSched(); <-hookDone }()
	stopScheduler := func() { stopSched(); <-schedDone }

	errc := make(chan error, 4)
	if srv != nil {
		go func() { errc <- srv.Serve(conns.Listen(ln, true)) }()
	}
	if tsrv != nil {
		go func() { errc <- tsrv.ServeTLS(tl.ln, "", "") }()
	}
	if csrv != nil {
		go func() { errc <- csrv.Serve(cln) }()
	}
	if msrv != nil {
		go func() { errc <- msrv.Serve(mln) }()
	}
	select {
	case err := <-errc:
		// One listener failed: stop the others before the engine and the
		// store go away under them.
		for _, s := range []*http.Server{srv, tsrv, csrv} {
			if s != nil {
				s.Close()
			}
		}
		if msrv != nil {
			msrv.Close()
		}
		stopScheduler()
		engine.Close()
		<-engine.Done()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Graceful: stop taking connections, let requests in flight finish (each
	// waits for its batch to commit), then drain the engine.
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("shutdown", "err", err)
		}
	}
	if csrv != nil {
		csrv.Close() // challenges are answered again after a restart
	}
	if tsrv != nil {
		if err := tsrv.Shutdown(sctx); err != nil {
			log.Warn("shutdown (TLS)", "err", err)
		}
	}
	if msrv != nil {
		msrv.Close() // scrapes can be cut: nothing in them is kept
	}
	stopScheduler()
	engine.Close()
	<-engine.Done()
	log.Info("stopped")
	return nil
}

// withWebKeeper serves the API's paths with api, the OpenID Connect
// provider's (/.well-known/openid-configuration, /oauth/…) with provider
// and every other path with the web keeper (/metrics among them, which
// is not found there: the metrics have their own listener).
func withWebKeeper(api, keeper, provider http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/readyz" || p == "/openapi.json":
			api.ServeHTTP(w, r)
		case oidcprov.Handles(p):
			accesslog.SetRoute(r.Context(), oidcprov.Route(p))
			provider.ServeHTTP(w, r)
		default:
			keeper.ServeHTTP(w, r)
		}
	})
}

func sweepSessions(ctx context.Context, db store, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := db.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				log.Warn("sweep sessions", "err", err)
			} else if n > 0 {
				log.Info("swept expired sessions", "count", n)
			}
		}
	}
}

// checkIntegrity runs the database's quick check of its pages and unique
// indexes before anything is served: a damaged index could take a
// transfer ID a second time, so the server refuses to start on one.
func checkIntegrity(ctx context.Context, db store, log *slog.Logger) error {
	start := time.Now()
	res, err := db.Integrity(ctx, false)
	if err != nil {
		return fmt.Errorf("serve: integrity check: %w", err)
	}
	for _, r := range res {
		if r.Skipped != "" {
			log.Warn("integrity check skipped", "check", r.Name, "reason", r.Skipped)
			continue
		}
		if !r.OK() {
			log.Error("the database is damaged", "check", r.Name, "problems", r.Problems)
			return fmt.Errorf("serve: the database is damaged (%s: %s); not serving from it. "+
				"Run `cofferd check --full` to name the damage, and restore the database from a backup", r.Name, r.Problems[0])
		}
	}
	log.Info("integrity check passed", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
