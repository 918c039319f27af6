package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// benchOptions are the flags of `cofferd bench`.
type benchOptions struct {
	clients    intList
	clientIPs  int
	serveArgs  string
	duration   time.Duration
	warmup     time.Duration
	max        int64
	workload   string
	members    int
	target     string
	metrics    string
	data       string
	db         string
	sweep      bool
	json       bool
	cpuprofile string
}

// benchHelp is the long help of cofferd bench.
const benchHelp = `Registers --members members over the API, makes the first one an issuer of
USD, funds every member's purse, then sends transfers between random members
from -c concurrent clients for -d (or until -n transfers were sent), and
reports throughput, latency and refusals. At the end it checks every ledger
invariant and fails if one does not hold.

Answers are reported apart: admitted requests (every answer but 503: the
transfers applied and the business refusals), whose latency is the p50/p99
shown, and shed ones (503 with Retry-After, and connections the server
refused or closed without an answer), counted with their rate. A client
that is shed waits as a real one would: Retry-After plus up to half of it
again, or 0.5-1.5 s after a refused connection, then sends the same
transfer again. Loading thousands of clients (-c 2000) needs as many file
descriptors on each side (ulimit -n; cofferd raises its soft limit to the
hard one); clients dial from --client-ips loopback addresses, as distinct
hosts would, so that --max-conns-per-ip does not cap them as one.

Without --target it starts a server in this process on a loopback port, over
real HTTP, with a temporary data directory (or --data DIR, which is kept).
With --target URL it loads a running server; --data must then name that
server's data directory, because the issuer is made there directly (as
'cofferd admin issuer add' does) and the invariants are read from it. The
target should run with --register-per-hour 0 and --no-login-ip-limit.`

func (o *benchOptions) flags(fs *flag.FlagSet) {
	o.clients = intList{16}
	fs.Var(&o.clients, "c", "concurrent clients; a comma-separated list (500,2000) runs each in turn")
	fs.IntVar(&o.clientIPs, "client-ips", 64, "on Linux, clients dial from this many loopback addresses (127.0.0.1, 127.0.0.2, …) when the server is on 127.0.0.0/8; 1: all from 127.0.0.1")
	fs.StringVar(&o.serveArgs, "serve-args", "", "further flags for the in-process server, separated by spaces (\"--max-inflight-transfers 256 --ledger-wait 20ms\")")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long each run sends transfers")
	fs.DurationVar(&o.warmup, "warmup", 0, "each run first sends transfers this long without counting them (connections opened, shed clients spread out in time)")
	fs.Int64Var(&o.max, "n", 0, "stop each run after this many transfers (0: no cap)")
	fs.StringVar(&o.workload, "workload", "uniform", "uniform (random payer and payee) or hot (90% of transfers touch one of 10 hot purses)")
	fs.IntVar(&o.members, "members", 100, "members taking part, each with one USD purse")
	fs.StringVar(&o.target, "target", "", "base URL of a running server (default: start one in this process)")
	fs.StringVar(&o.metrics, "target-metrics", "", "with --target: the server's metrics URL (http://127.0.0.1:9464/metrics), for the batch sizes; default: none shown")
	fs.StringVar(&o.data, "data", "", "data directory (in-process: default a temporary one, removed at the end; with --target: the server's, required)")
	fs.StringVar(&o.db, "db", "", "PostgreSQL URL: the in-process server (or, with --target, the running one) uses this database; default: $COFFER_DB, else SQLite in --data")
	fs.BoolVar(&o.sweep, "sweep", false, "run C=1,16,64 × uniform,hot and print a table")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the load phase (server included when in-process) to this file")
}

// benchRun is one load configuration and what it came to.
type benchRun struct {
	Workload string  `json:"workload"`
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"duration_seconds"`
	Sent     int64   `json:"sent"` // requests sent, retries of shed ones included
	Applied  int64   `json:"applied"`
	// AppliedWarmup were applied during --warmup, not counted elsewhere.
	AppliedWarmup int64   `json:"applied_warmup,omitempty"`
	PerSecond     float64 `json:"transfers_per_second"`
	// Admitted are the answers other than 503: transfers applied and
	// business refusals (Errors). The latencies are theirs alone.
	Admitted int64   `json:"admitted"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// Shed are the 503 answers (ledger busy, too many connections), with
	// the time they took; Refused the requests that got no answer (the
	// connection refused, reset or closed).
	Shed          int64            `json:"shed"`
	ShedPerSecond float64          `json:"shed_per_second"`
	ShedP50Ms     float64          `json:"shed_p50_ms"`
	ShedP99Ms     float64          `json:"shed_p99_ms"`
	Refused       int64            `json:"refused"`
	Errors        map[string]int64 `json:"errors"` // admitted answers other than 201, by code; "timeout" for no answer within a minute
	Batches       int64            `json:"batches,omitempty"`
	MeanBatch     float64          `json:"mean_batch_size,omitempty"`
	BatchMs       float64          `json:"mean_batch_ms,omitempty"`
	EngineBusy    float64          `json:"engine_busy,omitempty"` // share of the run the ledger engine spent applying batches
	batchKnown    bool
}

// benchCheck is the invariant check at the end.
type benchCheck struct {
	OK         bool     `json:"ok"`
	Members    int64    `json:"members"`
	Purses     int64    `json:"purses"`
	Transfers  int64    `json:"transfers"`
	Entries    int64    `json:"history_entries"`
	Violations []string `json:"violations,omitempty"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("cofferd bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o benchOptions
	o.flags(fs)
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case len(o.clients) == 0 || slices.Min(o.clients) < 1:
		return errors.New("bench: -c must be at least 1")
	case o.clientIPs < 1 || o.clientIPs > 254*254:
		return errors.New("bench: --client-ips must be between 1 and 64516")
	case o.target != "" && o.serveArgs != "":
		return errors.New("bench: --serve-args is for the in-process server, not with --target")
	case o.duration <= 0:
		return errors.New("bench: -d must be positive")
	case o.warmup < 0:
		return errors.New("bench: --warmup must not be negative")
	case o.max < 0:
		return errors.New("bench: -n must not be negative")
	case o.workload != "uniform" && o.workload != "hot":
		return errors.New("bench: --workload must be uniform or hot")
	case o.members < 2:
		return errors.New("bench: --members must be at least 2")
	case o.target != "" && o.data == "" && o.db == "" && os.Getenv("COFFER_DB") == "":
		return errors.New("bench: with --target, --data (or --db) must name the server's store (the issuer is made there and the invariants are read from it)")
	}
	progress := func(format string, a ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
	}

	// The server, unless one was named.
	base := strings.TrimRight(o.target, "/")
	metricsURL := o.metrics
	stopServer := func() error { return nil }
	if o.target == "" {
		if o.data == "" {
			dir, err := os.MkdirTemp("", "cofferd-bench-")
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			defer os.RemoveAll(dir)
			o.data = dir
		}
		addrs, stop, err := startBenchServer(ctx, o.data, o.db, strings.Fields(o.serveArgs), stderr)
		if err != nil {
			return err
		}
		stopServer = stop
		defer func() {
			if serr := stop(); serr != nil && err == nil {
				err = serr
			}
		}()
		base = "http://" + addrs.http
		metricsURL = "http://" + addrs.metrics + "/metrics"
	}

	if err := checkFileLimit(slices.Max(o.clients), o.target == ""); err != nil {
		return err
	}
	progress("setting up %d members on %s", o.members, base)
	start := time.Now()
	env, err := benchSetup(ctx, base, o.data, o.db, o.members)
	if err != nil {
		return err
	}
	env.metrics = metricsURL
	env.clientIPs = o.clientIPs
	progress("setup done in %s", time.Since(start).Round(time.Millisecond))

	type config struct {
		workload string
		clients  int
	}
	var configs []config
	for _, c := range o.clients {
		configs = append(configs, config{o.workload, c})
	}
	if o.sweep {
		configs = nil
		for _, w := range []string{"uniform", "hot"} {
			for _, c := range []int{1, 16, 64} {
				configs = append(configs, config{w, c})
			}
		}
	}

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("bench: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var runs []*benchRun
	for _, c := range configs {
		if ctx.Err() != nil {
			break
		}
		if len(configs) > 1 {
			progress("running %s with %d clients for %s", c.workload, c.clients, o.duration)
		}
		r := env.load(ctx, c.workload, c.clients, o.warmup, o.duration, o.max)
		runs = append(runs, r)
	}
	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	env.closeIdle()

	// The in-process server is stopped first so that the check sees the
	// store as a restart would.
	if err := stopServer(); err != nil {
		return err
	}
	// Figures first: the check reads the whole ledger and can take a while.
	if !o.json {
		if len(runs) > 1 {
			printBenchTable(stdout, runs)
		} else {
			for _, r := range runs {
				printBenchRun(stdout, r)
			}
		}
	}
	// An interrupt during the load still gets its check; one during the
	// check ends it.
	cctx := ctx
	if ctx.Err() != nil {
		cctx = context.WithoutCancel(ctx)
	}
	progress("checking the ledger invariants")
	check, err := benchInvariants(cctx, o.data, o.db)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"runs": runs, "check": check}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "check: members %d, purses %d, transfers %d, history entries %d: ", check.Members, check.Purses, check.Transfers, check.Entries)
		if check.OK {
			fmt.Fprintln(stdout, "all invariants hold")
		} else {
			fmt.Fprintln(stdout, "INVARIANTS VIOLATED")
			for _, v := range check.Violations {
				fmt.Fprintln(stdout, "  "+v)
			}
		}
	}
	if !check.OK {
		return fmt.Errorf("bench: %d invariant(s) violated: %s", len(check.Violations), strings.Join(check.Violations, "; "))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// startBenchServer runs `cofferd serve` in this process on loopback ports
// and returns its addresses (API and metrics) and a function that shuts it
// down gracefully and waits for it.
func startBenchServer(ctx context.Context, data, db string, extra []string, stderr io.Writer) (serveAddrs, func() error, error) {
	// The server gets a context of its own: an interrupt ends the load,
	// then the server is shut down in order and the ledger checked.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	addrc := make(chan serveAddrs, 1)
	errc := make(chan error, 1)
	go func() {
		args := append([]string{"--data", data, "--db", db, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
			"--register-per-hour", "0", "--no-login-ip-limit", "--log-level", "warn"}, extra...)
		errc <- runServe(sctx, args, io.Discard, stderr, func(a serveAddrs) { addrc <- a })
	}()
	select {
	case addr := <-addrc:
		var once sync.Once
		var serr error
		stop := func() error {
			once.Do(func() {
				cancel()
				serr = <-errc
			})
			return serr
		}
		return addr, stop, nil
	case err := <-errc:
		cancel()
		return serveAddrs{}, nil, fmt.Errorf("bench: server: %w", err)
	case <-ctx.Done():
		cancel()
		<-errc
		return serveAddrs{}, nil, ctx.Err()
	}
}

// benchMember is one member taking part.
type benchMember struct {
	id, token, purse string
}

type benchEnv struct {
	base    string
	metrics string // URL of the server's metrics; "" when unknown
	members []benchMember
	setup   *http.Client
	runID   string
	runs    int
	clients []*http.Client
	// clientIPs is how many loopback addresses the clients dial from.
	clientIPs int
}

func newBenchTransport() *http.Transport {
	return &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true}
}

// benchSetup registers the members, logs them in, opens their purses, makes
// member 0 an issuer and funds every purse.
func benchSetup(ctx context.Context, base, data, dbURL string, n int) (*benchEnv, error) {
	env := &benchEnv{base: base, members: make([]benchMember, n),
		setup: &http.Client{Transport: newBenchTransport(), Timeout: time.Minute}, runID: randomHex(4)}

	// Registration and login each cost an argon2id hash on the server, so
	// a few at a time keep both cores busy.
	err := parallel(ctx, n, 4, func(i int) error {
		pw := randomHex(10)
		var reg struct {
			MemberID string `json:"member_id"`
		}
		if err := env.call(ctx, "POST", "/v1/members", "", map[string]string{"password": pw}, &reg, http.StatusCreated); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		var sess struct {
			Token string `json:"token"`
		}
		if err := env.call(ctx, "POST", "/v1/sessions", "", map[string]string{"login": reg.MemberID, "password": pw}, &sess, http.StatusCreated); err != nil {
			return fmt.Errorf("log in: %w", err)
		}
		var purse struct {
			Purse string `json:"purse"`
		}
		if err := env.call(ctx, "POST", "/v1/purses", sess.Token, map[string]string{"currency": "USD"}, &purse, http.StatusCreated); err != nil {
			return fmt.Errorf("open purse: %w", err)
		}
		env.members[i] = benchMember{id: reg.MemberID, token: sess.Token, purse: purse.Purse}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: setup: %w", err)
	}

	// The issuer is made on the store directly, as `cofferd admin issuer
	// add` does; WAL lets this happen beside the running server.
	db, err := openStore(ctx, data, dbURL)
	if err != nil {
		return nil, fmt.Errorf("bench: setup: %w", err)
	}
	// The load is not about verification levels: every member gets one
	// without a daily limit (and the issuer one that allows issuing).
	for _, m := range env.members {
		if _, err := app.SetMemberLevel(ctx, db, coffer.DefaultLevels(), app.SetLevelInput{MemberID: m.id,
			Level: coffer.LevelPersonal, Reason: "load generator"}, time.Now()); err != nil {
			db.Close()
			return nil, fmt.Errorf("bench: setup: set level: %w", err)
		}
	}
	issuing, _, err := addIssuer(ctx, db, env.members[0].id, "USD", "1000000000.00")
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("bench: setup: make issuer: %w", err)
	}

	issuer := env.members[0]
	err = parallel(ctx, n, 8, func(i int) error {
		body := map[string]string{"transfer_id": fmt.Sprintf("bench-%s-fund-%d", env.runID, i),
			"from": issuing.Number, "to": env.members[i].purse, "amount": "10000.00", "description": "bench funding"}
		return env.call(ctx, "POST", "/v1/transfers", issuer.token, body, nil, http.StatusCreated)
	})
	if err != nil {
		return nil, fmt.Errorf("bench: setup: fund purses: %w", err)
	}
	return env, nil
}

// parallel runs fn(0..n-1) on at most k goroutines and returns the first
// error.
func parallel(ctx context.Context, n, k int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(n, k) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// problem is the part of an RFC 9457 answer the bench reads.
type problem struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Title  string `json:"title"`
}

// call sends one JSON request of the setup and decodes the answer into out
// when the status is the wanted one.
func (env *benchEnv) call(ctx context.Context, method, path, token string, in, out any, want int) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	// A server that sheds load answers 503 with Retry-After; the setup
	// waits and asks again (registrations and transfers are not applied
	// when shed, and the transfers carry their IDs), a few times.
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, env.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := env.setup.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusServiceUnavailable && want != http.StatusServiceUnavailable && attempt < 10 {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			wait := 100 * time.Millisecond
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
				wait = time.Duration(n) * time.Second
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			var p problem
			json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p)
			return fmt.Errorf("%s %s: status %d %s %s", method, path, resp.StatusCode, p.Code, p.Detail)
		}
		if out == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// hotPurses is how many purses the hot workload concentrates on.
const hotPurses = 10

// benchTransfer is the body of POST /v1/transfers.
type benchTransfer struct {
	TransferID string `json:"transfer_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	Amount     string `json:"amount"`
}

// load sends transfers from c clients until warmup and then d have passed,
// limit were sent (when limit > 0) or ctx ends. What was sent during warmup is
// applied but not counted, except in AppliedWarmup.
func (env *benchEnv) load(ctx context.Context, workload string, c int, warmup, d time.Duration, limit int64) *benchRun {
	env.runs++
	run := &benchRun{Workload: workload, Clients: c, Errors: map[string]int64{}}

	// reserved enforces -n (each transfer once, however often it is
	// retried); sent counts requests that went out.
	var reserved, sent, applied, appliedWarmup atomic.Int64
	results := make([]*clientTally, c)
	hot := workload == "hot"
	nHot := min(hotPurses, len(env.members))
	var wg sync.WaitGroup
	start := time.Now().Add(warmup) // of the counted part
	deadline := start.Add(d)
	// wait sleeps for d, or less when the run or ctx ends first; it
	// reports whether the run goes on.
	wait := func(d time.Duration) bool {
		if left := time.Until(deadline); d > left {
			d = left
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return time.Now().Before(deadline)
		}
	}
	for w := range c {
		client := &http.Client{Transport: env.clientTransport(w), Timeout: time.Minute}
		env.clients = append(env.clients, client)
		rng := mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
		prefix := fmt.Sprintf("bench-%s-%d-%d-", env.runID, env.runs, w)
		tally := &clientTally{lat: make([]time.Duration, 0, 4096), errs: map[string]int64{}}
		results[w] = tally
		wg.Go(func() {
			n := len(env.members)
			for seq := 0; ctx.Err() == nil && time.Now().Before(deadline); seq++ {
				if limit > 0 && reserved.Add(1) > limit {
					break
				}
				var a, b int
				if hot && rng.Float64() < 0.9 {
					h := rng.IntN(nHot)
					o := rng.IntN(n - 1)
					if o >= h {
						o++
					}
					a, b = h, o
					if rng.IntN(2) == 0 {
						a, b = o, h
					}
				} else {
					a = rng.IntN(n)
					b = rng.IntN(n - 1)
					if b >= a {
						b++
					}
				}
				cents := 1 + rng.IntN(100)
				t := benchTransfer{TransferID: prefix + strconv.Itoa(seq), From: env.members[a].purse,
					To: env.members[b].purse, Amount: fmt.Sprintf("%d.%02d", cents/100, cents%100)}
				body, _ := json.Marshal(t)
				// A shed transfer is sent again, with the same ID, once
				// the client has waited.
				for ctx.Err() == nil && time.Now().Before(deadline) {
					count := !time.Now().Before(start)
					if count {
						sent.Add(1)
					}
					backoff, ok := tally.send(ctx, client, env.base, env.members[a].token, body, rng, count)
					if ok {
						if backoff < 0 && count {
							applied.Add(1)
						} else if backoff < 0 {
							appliedWarmup.Add(1)
						}
						break
					}
					if !wait(backoff) {
						break
					}
				}
			}
		})
	}
	before, okBefore := batchStats{}, false
	if wait := time.Until(start); warmup > 0 && wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if ctx.Err() == nil {
		before, okBefore = env.batchStats(ctx)
	}
	wg.Wait()
	elapsed := max(time.Since(start), time.Millisecond)
	run.AppliedWarmup = appliedWarmup.Load()

	run.Seconds = elapsed.Seconds()
	run.Applied = applied.Load()
	run.Sent = sent.Load()
	run.PerSecond = float64(run.Applied) / elapsed.Seconds()
	var all, shed []time.Duration
	for _, r := range results {
		all = append(all, r.lat...)
		shed = append(shed, r.shed...)
		run.Refused += r.refused
		for k, v := range r.errs {
			run.Errors[k] += v
		}
	}
	slices.Sort(all)
	slices.Sort(shed)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	run.Admitted = int64(len(all))
	run.P50Ms, run.P99Ms = ms(percentile(all, 0.50)), ms(percentile(all, 0.99))
	if len(all) > 0 {
		run.MaxMs = ms(all[len(all)-1])
	}
	run.Shed = int64(len(shed))
	run.ShedPerSecond = float64(run.Shed+run.Refused) / elapsed.Seconds()
	run.ShedP50Ms, run.ShedP99Ms = ms(percentile(shed, 0.50)), ms(percentile(shed, 0.99))
	if after, ok := env.batchStats(ctx); ok && okBefore && after.count > before.count {
		run.batchKnown = true
		run.Batches = after.count - before.count
		run.MeanBatch = (after.sum - before.sum) / float64(run.Batches)
		if d := after.seconds - before.seconds; !math.IsNaN(d) {
			run.BatchMs = d * 1000 / float64(run.Batches)
			run.EngineBusy = d / elapsed.Seconds()
		}
	}
	return run
}

// clientTally is what one client of a run saw.
type clientTally struct {
	lat     []time.Duration // admitted answers
	shed    []time.Duration // 503 answers
	refused int64
	errs    map[string]int64
}

// send posts one transfer. done reports whether the transfer is finished
// with (answered other than 503, or the run ended); backoff is then -1
// when it was applied. When it is not done, backoff is how long to wait
// before sending it again.
func (t *clientTally) send(ctx context.Context, client *http.Client, base, token string, body []byte, rng *mrand.Rand, count bool) (backoff time.Duration, done bool) {
	if !count {
		// Warming up: the answers go to a tally that is thrown away.
		t = &clientTally{errs: map[string]int64{}}
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/transfers", bytes.NewReader(body))
	if err != nil {
		t.errs["request"]++
		return 0, true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, true
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.errs["timeout"]++
			return 0, true
		}
		// Refused, reset or closed without an answer: a client that
		// retries at once would only add to the load.
		t.refused++
		return time.Duration((0.5 + rng.Float64()) * float64(time.Second)), false
	}
	var p problem
	if resp.StatusCode != http.StatusCreated {
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(t0)
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		t.shed = append(t.shed, took)
		ra := time.Second
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
			ra = time.Duration(n) * time.Second
		}
		return ra + time.Duration(rng.Float64()*float64(ra)/2), false
	case err != nil:
		t.errs["transport"]++
		return 0, true
	}
	t.lat = append(t.lat, took)
	if resp.StatusCode == http.StatusCreated {
		return -1, true
	}
	code := p.Code
	if code == "" {
		code = "status_" + strconv.Itoa(resp.StatusCode)
	}
	t.errs[code]++
	return 0, true
}

// clientTransport is the transport of client w of a run: a connection of
// its own, dialed from the w-th of env.clientIPs loopback addresses when
// the server is on loopback.
func (env *benchEnv) clientTransport(w int) *http.Transport {
	tr := newBenchTransport()
	u, err := url.Parse(env.base)
	if err != nil || env.clientIPs <= 1 || runtime.GOOS != "linux" {
		return tr // elsewhere only 127.0.0.1 is usually configured
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || !ip.Is4() || !ip.IsLoopback() {
		return tr
	}
	i := w % env.clientIPs
	from := net.IPv4(127, 0, byte(i/254), byte(1+i%254))
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 30 * time.Second}).DialContext
	return tr
}

// intList is a flag of comma-separated integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// percentile returns the q-quantile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (env *benchEnv) closeIdle() {
	env.setup.CloseIdleConnections()
	for _, c := range env.clients {
		c.CloseIdleConnections()
	}
}

// batchStats are the ledger's batch histograms as /metrics shows them.
type batchStats struct {
	sum     float64 // transfers
	count   int64   // batches
	seconds float64 // time spent applying and committing
}

// batchStats reads the ledger's batch-size histogram from the server's
// metrics listener. ok is false when that is unknown or does not answer.
func (env *benchEnv) batchStats(ctx context.Context) (batchStats, bool) {
	if env.metrics == "" {
		return batchStats{}, false
	}
	req, err := http.NewRequestWithContext(ctx, "GET", env.metrics, nil)
	if err != nil {
		return batchStats{}, false
	}
	resp, err := env.setup.Do(req)
	if err != nil {
		return batchStats{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return batchStats{}, false
	}
	var s batchStats
	var haveSum, haveCount, haveSeconds bool
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "coffer_ledger_batch_size_sum":
			v, err := strconv.ParseFloat(val, 64)
			s.sum, haveSum = v, err == nil
		case "coffer_ledger_batch_size_count":
			v, err := strconv.ParseFloat(val, 64)
			s.count, haveCount = int64(v), err == nil
		case "coffer_ledger_batch_duration_seconds_sum":
			v, err := strconv.ParseFloat(val, 64)
			s.seconds, haveSeconds = v, err == nil
		}
	}
	if !haveSeconds {
		s.seconds = math.NaN()
	}
	return s, haveSum && haveCount
}

// benchInvariants opens the store and checks every ledger invariant.
func benchInvariants(ctx context.Context, data, dbURL string) (*benchCheck, error) {
	db, err := openStore(ctx, data, dbURL)
	if err != nil {
		return nil, fmt.Errorf("bench: check: %w", err)
	}
	defer db.Close()
	rep, err := db.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: check: %w", err)
	}
	c := &benchCheck{OK: rep.OK(), Members: rep.Members, Purses: rep.Purses, Transfers: rep.Transfers, Entries: rep.Entries}
	for _, r := range rep.Results {
		if r.Violations > 0 {
			c.Violations = append(c.Violations, fmt.Sprintf("invariant %d (%s): %d violation(s), e.g. %s", r.Number, r.Name, r.Violations, r.Example))
		}
	}
	return c, nil
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

func fmtErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func fmtShed(r *benchRun) string {
	if r.Shed == 0 && r.Refused == 0 {
		return "none"
	}
	return fmt.Sprintf("%d answered 503 (p50 %s, p99 %s), %d without an answer; %.1f/s in all", r.Shed,
		fmtMs(r.ShedP50Ms), fmtMs(r.ShedP99Ms), r.Refused, r.ShedPerSecond)
}

func fmtBatch(r *benchRun) string {
	if !r.batchKnown {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", r.MeanBatch)
}

func fmtBusy(r *benchRun) string {
	if !r.batchKnown {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*r.EngineBusy)
}

func printBenchRun(w io.Writer, r *benchRun) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "workload\t%s\n", r.Workload)
	fmt.Fprintf(tw, "clients\t%d\n", r.Clients)
	fmt.Fprintf(tw, "duration\t%.2fs\n", r.Seconds)
	fmt.Fprintf(tw, "transfers\t%d applied of %d sent\n", r.Applied, r.Sent)
	fmt.Fprintf(tw, "throughput\t%.1f transfers/s\n", r.PerSecond)
	fmt.Fprintf(tw, "admitted\t%d answers (%.1f/s), latency p50 %s  p99 %s  max %s\n", r.Admitted, float64(r.Admitted)/r.Seconds,
		fmtMs(r.P50Ms), fmtMs(r.P99Ms), fmtMs(r.MaxMs))
	fmt.Fprintf(tw, "shed\t%s\n", fmtShed(r))
	if r.batchKnown {
		fmt.Fprintf(tw, "batches\t%d, mean %.1f transfers and %s each; engine busy %.0f%% of the run\n",
			r.Batches, r.MeanBatch, fmtMs(r.BatchMs), 100*r.EngineBusy)
	}
	fmt.Fprintf(tw, "errors\t%s\n", fmtErrors(r.Errors))
	tw.Flush()
}

func printBenchTable(w io.Writer, runs []*benchRun) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WORKLOAD\tC\tAPPLIED\tTRANSFERS/S\tP50\tP99\tMAX\tSHED 503\tREFUSED\tSHED/S\tMEAN BATCH\tBATCH TIME\tENGINE BUSY\tERRORS\t")
	for _, r := range runs {
		batchTime := "n/a"
		if r.batchKnown {
			batchTime = fmtMs(r.BatchMs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t\n", r.Workload, r.Clients, r.Applied, r.PerSecond,
			fmtMs(r.P50Ms), fmtMs(r.P99Ms), fmtMs(r.MaxMs), r.Shed, r.Refused, r.ShedPerSecond, fmtBatch(r), batchTime, fmtBusy(r), fmtErrors(r.Errors))
	}
	tw.Flush()
}
