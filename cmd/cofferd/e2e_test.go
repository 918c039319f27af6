package main

// End-to-end tests against the real binaries: cofferd (and the coffer keeper
// when it builds) are built once in TestMain and run as subprocesses, so a
// crash is a real SIGKILL and shutdown a real SIGTERM.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	_ "modernc.org/sqlite"
)

var (
	// cofferdBin is the built server; empty in -short mode.
	cofferdBin string
	// cofferBin is the built keeper; empty when it does not build.
	cofferBin string
	// cofferBuildErr says why the keeper is missing.
	cofferBuildErr string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "cofferd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	cofferdBin = filepath.Join(dir, "cofferd")
	if out, err := exec.Command("go", "build", "-o", cofferdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build cofferd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	cofferBin = filepath.Join(dir, "coffer")
	if out, err := exec.Command("go", "build", "-o", cofferBin, "github.com/coffer-money/coffer/cmd/coffer").CombinedOutput(); err != nil {
		cofferBin, cofferBuildErr = "", fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needBinaries(t *testing.T) {
	t.Helper()
	if cofferdBin == "" {
		t.Skip("end-to-end test: skipped in -short mode")
	}
}

// e2ePassword is long enough and not on the common-password list.
const e2ePassword = "end to end test passphrase 2026"

// lockedBuffer is an io.Writer safe for the process's output goroutines and
// the test reading it at the same time.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// e2eServer is a running `cofferd serve` subprocess.
type e2eServer struct {
	t      *testing.T
	data   string
	db     string // the --db URL it was started with, if any
	url    string
	scrape string // the metrics listener's URL (…/metrics), to scrape
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from Wait, valid once done is closed
	http   *http.Client
}

var (
	listeningLine = regexp.MustCompile(`listening on (http://\S+)`)
	metricsLine   = regexp.MustCompile(`metrics on (http://\S+)`)
)

// startServer starts cofferd on a free loopback port with data in dir and
// waits until it listens.
func startServer(t *testing.T, dir string) *e2eServer {
	t.Helper()
	return startServerWith(t, dir)
}

// startServerWith is startServer with further flags for `cofferd serve`.
func startServerWith(t *testing.T, dir string, extra ...string) *e2eServer {
	t.Helper()
	s := &e2eServer{t: t, data: dir, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	for i, a := range extra {
		if a == "--db" && i+1 < len(extra) {
			s.db = extra[i+1]
		} else if v, ok := strings.CutPrefix(a, "--db="); ok {
			s.db = v
		}
	}
	args := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--register-per-hour", "0", "--no-login-ip-limit", "--log-level", "warn"}, extra...)
	s.cmd = exec.Command(cofferdBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start cofferd: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("cofferd (%s) stderr:\n%s", dir, tail(s.stderr.String(), 40))
		}
	})
	deadline := time.After(20 * time.Second)
	for {
		// The metrics line, when the listener is on, comes after the
		// listening ones.
		out := s.stdout.String()
		if m := listeningLine.FindStringSubmatch(out); m != nil && (metricsOff(extra) || metricsLine.MatchString(out)) {
			s.url = m[1]
			if mm := metricsLine.FindStringSubmatch(out); mm != nil {
				s.scrape = mm[1]
			}
			break
		}
		select {
		case <-s.done:
			t.Fatalf("cofferd exited before listening: %v\nstdout:\n%s\nstderr:\n%s", s.err, s.stdout, s.stderr)
		case <-deadline:
			t.Fatalf("cofferd did not say where it listens within 20 s\nstdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	s.http = &http.Client{Timeout: 15 * time.Second, Transport: tr}
	return s
}

// metricsOff reports whether the flags turn the metrics listener off.
func metricsOff(args []string) bool {
	off := false
	for i, a := range args {
		if a == "--metrics-addr" && i+1 < len(args) {
			off = args[i+1] == "" || args[i+1] == "off"
		} else if v, ok := strings.CutPrefix(a, "--metrics-addr="); ok {
			off = v == "" || v == "off"
		}
	}
	return off
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// dbFlags is the --db flag naming the server's database for the other
// cofferd commands; nil when it uses the SQLite store in its data directory.
func (s *e2eServer) dbFlags() []string {
	if s.db == "" {
		return nil
	}
	return []string{"--db", s.db}
}

// kill ends the server with SIGKILL, as a crash would.
func (s *e2eServer) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill cofferd: %v", err)
	}
	<-s.done
}

// stop asks the server to shut down with SIGTERM and returns its exit code.
func (s *e2eServer) stop() int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("signal cofferd: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.t.Fatalf("cofferd did not exit within 40 s of SIGTERM")
	}
	return exitCodeOf(s.err)
}

func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// call sends one request. It returns an error only when no HTTP answer came.
func (s *e2eServer) call(method, path, token string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, data, nil
}

// must sends a request, fails the test unless the answer has status want,
// and decodes the answer into out when out is not nil.
func (s *e2eServer) must(t *testing.T, method, path, token string, in any, want int, out any) {
	t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	status, data, err := s.call(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, status, bytes.TrimSpace(data), want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// e2eMember is a member with a session and one purse.
type e2eMember struct {
	id, token, purse string
}

// registerMember registers a member and logs in.
func registerMember(t *testing.T, s *e2eServer) *e2eMember {
	t.Helper()
	var reg struct {
		MemberID string `json:"member_id"`
	}
	s.must(t, "POST", "/v1/members", "", map[string]string{"password": e2ePassword}, http.StatusCreated, &reg)
	return &e2eMember{id: reg.MemberID, token: loginMember(t, s, reg.MemberID)}
}

func loginMember(t *testing.T, s *e2eServer, login string) string {
	t.Helper()
	var sess struct {
		Token string `json:"token"`
	}
	s.must(t, "POST", "/v1/sessions", "", map[string]string{"login": login, "password": e2ePassword}, http.StatusCreated, &sess)
	return sess.Token
}

func newPurse(t *testing.T, s *e2eServer, m *e2eMember, currency string) string {
	t.Helper()
	var p struct {
		Purse string `json:"purse"`
	}
	s.must(t, "POST", "/v1/purses", m.token, map[string]string{"currency": currency}, http.StatusCreated, &p)
	return p.Purse
}

// cofferd runs the built cofferd with args and returns its output and exit
// code.
func cofferd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(cofferdBin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("cofferd %v: %v", args, err)
	}
	return o.String(), e.String(), exitCodeOf(err)
}

var issuingPurseLine = regexp.MustCompile(`(?:created|updated) issuing purse ([A-Z][0-9]{12})`)

// adminIssuerAdd runs `cofferd admin issuer add` and returns the issuing
// purse; extra flags (such as --db) are passed on.
func adminIssuerAdd(t *testing.T, data, member, currency, limit string, extra ...string) string {
	t.Helper()
	adminMemberLevel(t, data, member, "personal", extra...) // a level that allows issuing
	args := append([]string{"admin", "issuer", "add", "--data", data, "--member", member, "--currency", currency, "--limit", limit}, extra...)
	out, errOut, code := cofferd(t, args...)
	if code != 0 {
		t.Fatalf("cofferd admin issuer add: got exit %d, want 0\n%s%s", code, out, errOut)
	}
	m := issuingPurseLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cofferd admin issuer add: got %q, want it to name the issuing purse", out)
	}
	return m[1]
}

// funding is what each member of an economy starts with, in cents.
const funding = 1000_00

// economy is an issuer and n members each holding a funded USD purse.
type economy struct {
	issuer  *e2eMember
	members []*e2eMember
}

func newEconomy(t *testing.T, s *e2eServer, n int) *economy {
	t.Helper()
	e := &economy{issuer: registerMember(t, s)}
	e.issuer.purse = adminIssuerAdd(t, s.data, e.issuer.id, "USD", "1000000.00", s.dbFlags()...)
	for i := range n {
		m := registerMember(t, s)
		// No daily limit of a level gets in the way of the load.
		adminMemberLevel(t, s.data, m.id, "personal", s.dbFlags()...)
		m.purse = newPurse(t, s, m, "USD")
		s.must(t, "POST", "/v1/transfers", e.issuer.token, map[string]string{"transfer_id": fmt.Sprintf("fund-%d", i),
			"from": e.issuer.purse, "to": m.purse, "amount": coffer.FormatAmount(funding, 2)}, http.StatusCreated, nil)
		e.members = append(e.members, m)
	}
	return e
}

// sentTransfer is one transfer ID a client sent and what it learnt of it.
type sentTransfer struct {
	sender   int // index into economy.members
	to       int
	id       string
	amount   int64
	body     []byte
	answered int       // the first definitive answer: 201, 422, or 0 when none came
	acked    time.Time // when the 201 arrived
}

// load runs one client per member, each sending transfers to the others
// until its server stops answering or ctx ends. Some amounts exceed the
// funds; some requests are sent twice with the same ID. applied counts
// transfers answered 201.
func load(ctx context.Context, t *testing.T, s *e2eServer, e *economy, applied *atomic.Int64) []*sentTransfer {
	var (
		mu  sync.Mutex
		all []*sentTransfer
		wg  sync.WaitGroup
	)
	n := len(e.members)
	for c := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			var mine []*sentTransfer
			defer func() {
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
			for i := 0; ctx.Err() == nil; i++ {
				st := &sentTransfer{sender: c, to: (c + 1 + rng.IntN(n-1)) % n, id: fmt.Sprintf("load-%d-%d", c, i), amount: 1 + rng.Int64N(200)}
				if i%13 == 12 {
					st.amount = 5000_00 // more than a member ever holds
				}
				st.body, _ = json.Marshal(map[string]string{"transfer_id": st.id, "from": e.members[c].purse,
					"to": e.members[st.to].purse, "amount": coffer.FormatAmount(st.amount, 2)})
				mine = append(mine, st)
				tries := 1
				if i%5 == 0 {
					tries = 2
				}
				for range tries {
					status, data, err := s.call("POST", "/v1/transfers", e.members[c].token, st.body)
					if err != nil {
						return // the server is gone
					}
					switch {
					case status == http.StatusCreated:
						if st.answered == http.StatusCreated {
							t.Errorf("transfer %s: got 201 twice, want 200 for the retry", st.id)
						}
						st.answered, st.acked = status, time.Now()
						applied.Add(1)
					case status == http.StatusOK:
						if st.answered != http.StatusCreated {
							t.Errorf("transfer %s: got 200 after %d, want 200 only for a retry of an applied transfer", st.id, st.answered)
						}
					case status == http.StatusUnprocessableEntity && bytes.Contains(data, []byte(`"insufficient_funds"`)):
						if st.answered == http.StatusCreated {
							t.Errorf("transfer %s: got %s for a retry of an applied transfer, want 200", st.id, data)
						}
						if st.answered == 0 {
							st.answered = status
						}
					default:
						t.Errorf("transfer %s: got %d %s, want 201, 200 or insufficient_funds", st.id, status, bytes.TrimSpace(data))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return all
}

// waitFor polls until cond holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

type transferAnswer struct {
	TransferID string `json:"transfer_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	Amount     string `json:"amount"`
}

// verifyLedger checks, on a restarted server, that every transfer answered
// with success is there with its amount, that sending every ID again applies
// each at most once, and that the balances are exactly what the applied
// transfers make them. It returns how many transfers had been applied
// although their sender got no answer.
func verifyLedger(t *testing.T, s *e2eServer, e *economy, sent []*sentTransfer) (unanswered int) {
	t.Helper()
	// Every transfer answered with success survived.
	answered := 0
	for _, st := range sent {
		if st.answered != http.StatusCreated {
			continue
		}
		answered++
		var got transferAnswer
		status, data, err := s.call("GET", "/v1/transfers/"+st.id, e.members[st.sender].token, nil)
		if err != nil {
			t.Fatalf("GET transfer %s: %v", st.id, err)
		}
		if status != http.StatusOK {
			t.Errorf("transfer %s was answered 201 before the restart: got %d %s, want 200", st.id, status, bytes.TrimSpace(data))
			continue
		}
		json.Unmarshal(data, &got)
		want := transferAnswer{st.id, e.members[st.sender].purse, e.members[st.to].purse, coffer.FormatAmount(st.amount, 2)}
		if got != want {
			t.Errorf("transfer %s: got %+v, want %+v", st.id, got, want)
		}
	}

	// Send every ID again, each sender's in its order, the senders at once.
	bySender := make([][]*sentTransfer, len(e.members))
	for _, st := range sent {
		bySender[st.sender] = append(bySender[st.sender], st)
	}
	applied := make(map[*sentTransfer]bool)
	var lost atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c, list := range bySender {
		wg.Go(func() {
			for _, st := range list {
				status, data, err := s.call("POST", "/v1/transfers", e.members[c].token, st.body)
				if err != nil {
					t.Errorf("resend %s: %v", st.id, err)
					return
				}
				ok := false
				switch {
				case st.answered == http.StatusCreated:
					// Applied and answered before: only a replay is right.
					if status != http.StatusOK {
						t.Errorf("resend of applied %s: got %d %s, want 200 (applied at most once)", st.id, status, bytes.TrimSpace(data))
					}
					ok = status == http.StatusOK
				case status == http.StatusCreated, status == http.StatusOK:
					// Never answered (or refused then): applied now, or it
					// had been applied before its answer was lost.
					ok = true
					if status == http.StatusOK && st.answered == 0 {
						lost.Add(1)
					}
					if status == http.StatusCreated {
						again, d2, err := s.call("POST", "/v1/transfers", e.members[c].token, st.body)
						if err != nil || again != http.StatusOK {
							t.Errorf("second resend of %s: got %d %s %v, want 200", st.id, again, bytes.TrimSpace(d2), err)
						}
					}
				case status == http.StatusUnprocessableEntity && bytes.Contains(data, []byte(`"insufficient_funds"`)):
				default:
					t.Errorf("resend of %s (answered %d before): got %d %s", st.id, st.answered, status, bytes.TrimSpace(data))
				}
				if ok {
					mu.Lock()
					applied[st] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	// The balances are exactly funding plus the applied transfers: nothing
	// was debited twice.
	want := make([]int64, len(e.members))
	for i := range want {
		want[i] = funding
	}
	for st := range applied {
		want[st.sender] -= st.amount
		want[st.to] += st.amount
	}
	for i, m := range e.members {
		var p struct {
			Balance string `json:"balance"`
		}
		s.must(t, "GET", "/v1/purses/"+m.purse, m.token, nil, http.StatusOK, &p)
		if w := coffer.FormatAmount(want[i], 2); p.Balance != w {
			t.Errorf("purse %s: got balance %s, want %s", m.purse, p.Balance, w)
		}
	}
	var ip struct {
		Balance string `json:"balance"`
	}
	s.must(t, "GET", "/v1/purses/"+e.issuer.purse, e.issuer.token, nil, http.StatusOK, &ip)
	if w := coffer.FormatAmount(-int64(len(e.members))*funding, 2); ip.Balance != w {
		t.Errorf("issuing purse: got balance %s, want %s", ip.Balance, w)
	}
	t.Logf("%d IDs sent, %d answered 201 before, %d applied without an answer, %d applied in the end", len(sent), answered, lost.Load(), len(applied))
	return int(lost.Load())
}

// checkLedger runs `cofferd check` and fails unless every invariant holds;
// extra flags (such as --db) are passed on.
func checkLedger(t *testing.T, data string, extra ...string) {
	t.Helper()
	out, errOut, code := cofferd(t, append([]string{"check", "--data", data}, extra...)...)
	if code != 0 || !strings.Contains(out, "all invariants hold") {
		t.Errorf("cofferd check: got exit %d, want 0 and \"all invariants hold\"\n%s%s", code, out, errOut)
	}
}

func TestCofferd_CrashRecovery(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	e := newEconomy(t, s, 8)

	ctx, cancel := context.WithCancel(context.Background())
	var applied atomic.Int64
	var sent []*sentTransfer
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		sent = load(ctx, t, s, e, &applied)
	}()
	// The clients report through t, so they end before the test does.
	t.Cleanup(func() { cancel(); <-loaded })
	if !waitFor(20*time.Second, func() bool { return applied.Load() >= 300 }) {
		t.Fatalf("got %d transfers applied in 20 s, want 300 before the crash", applied.Load())
	}
	s.kill() // mid-load: requests are in flight
	<-loaded

	s2 := startServer(t, data)
	// Sessions survive the crash too: the same tokens work.
	verifyLedger(t, s2, e, sent)
	if code := s2.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data)

	t.Run("CheckFindsDamage", func(t *testing.T) {
		testCheckDamage(t, data)
	})
}

// testCheckDamage damages copies of a stopped server's database in several
// ways and expects `cofferd check` to fail naming the broken invariant.
func testCheckDamage(t *testing.T, data string) {
	for _, tt := range []struct {
		name  string
		sql   []string
		wants []int // invariants that must be reported broken
	}{
		{"BalanceChanged", []string{`UPDATE purses SET balance = balance + 1 WHERE number = (SELECT number FROM purses WHERE issuer = 0 ORDER BY number LIMIT 1)`}, []int{1, 6}},
		{"EntryDeleted", []string{`DELETE FROM entries WHERE seq = (SELECT MAX(seq) FROM entries)`}, []int{3, 6}},
		{"EntryDuplicated", []string{`INSERT INTO entries (purse, transfer_seq, amount, balance_after, created_at)
			SELECT purse, transfer_seq, amount, balance_after, created_at FROM entries WHERE seq = (SELECT MAX(seq) FROM entries)`}, []int{3, 6}},
		{"PurseOverdrawn", []string{`PRAGMA ignore_check_constraints = ON`,
			`UPDATE purses SET balance = -1 WHERE number = (SELECT number FROM purses WHERE issuer = 0 ORDER BY number LIMIT 1)`}, []int{2}},
		{"AuditEventAltered", []string{`UPDATE audit_events SET detail = '{}' WHERE seq = (SELECT MIN(seq) FROM audit_events WHERE kind = 'transfer.applied')`}, []int{8}},
		{"AuditEventDeleted", []string{`DELETE FROM audit_events WHERE seq = (SELECT MIN(seq) FROM audit_events WHERE kind = 'transfer.applied')`}, []int{3, 8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"coffer.db", "coffer.db-wal"} {
				b, err := os.ReadFile(filepath.Join(data, f))
				if errors.Is(err, os.ErrNotExist) && f != "coffer.db" {
					continue
				}
				if err != nil {
					t.Fatalf("copy database: %v", err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatalf("copy database: %v", err)
				}
			}
			db, err := sql.Open("sqlite", filepath.Join(dir, "coffer.db"))
			if err != nil {
				t.Fatalf("open copy: %v", err)
			}
			db.SetMaxOpenConns(1) // the PRAGMA must apply to the UPDATE's connection
			for _, q := range tt.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("damage %q: %v", q, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatalf("close copy: %v", err)
			}
			out, errOut, code := cofferd(t, "check", "--data", dir)
			if code != 1 {
				t.Errorf("cofferd check on a damaged copy: got exit %d, want 1\n%s%s", code, out, errOut)
			}
			for _, n := range tt.wants {
				if want := fmt.Sprintf("FAIL  invariant %d:", n); !strings.Contains(out, want) {
					t.Errorf("cofferd check: got output\n%s\nwant a line with %q", out, want)
				}
				if want := fmt.Sprintf("invariant %d violated", n); !strings.Contains(errOut, want) {
					t.Errorf("cofferd check: got stderr %q, want %q", errOut, want)
				}
			}
			if strings.Contains(out, "all invariants hold") {
				t.Errorf("cofferd check on a damaged copy says all invariants hold:\n%s", out)
			}
		})
	}
}

func TestCofferd_GracefulShutdown(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	e := newEconomy(t, s, 8)

	ctx, cancel := context.WithCancel(context.Background())
	var applied atomic.Int64
	var sent []*sentTransfer
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		sent = load(ctx, t, s, e, &applied)
	}()
	// The clients report through t, so they end before the test does.
	t.Cleanup(func() { cancel(); <-loaded })
	if !waitFor(20*time.Second, func() bool { return applied.Load() >= 200 }) {
		t.Fatalf("got %d transfers applied in 20 s, want 200 before the shutdown", applied.Load())
	}
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM under load: got exit %d, want 0\n%s", code, tail(s.stderr.String(), 20))
	}
	<-loaded

	s2 := startServer(t, data)
	// Requests in flight at SIGTERM are finished: no transfer is applied
	// without its sender hearing of it.
	if n := verifyLedger(t, s2, e, sent); n != 0 {
		t.Errorf("got %d transfers applied but never answered across a graceful shutdown, want 0", n)
	}
	if code := s2.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data)
}

func TestCofferd_AdminOnRunningServer(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	iss := registerMember(t, s)
	payee := registerMember(t, s)

	// A new currency is usable at once.
	out, errOut, code := cofferd(t, "admin", "currency", "add", "--data", data, "--code", "GBP", "--letter", "G", "--decimals", "2")
	if code != 0 || !strings.Contains(out, "GBP") {
		t.Fatalf("cofferd admin currency add: got exit %d %q %q, want 0 naming GBP", code, out, errOut)
	}
	if _, _, code := cofferd(t, "admin", "currency", "add", "--data", data, "--code", "GBP", "--letter", "H"); code == 0 {
		t.Errorf("adding GBP twice: got exit 0, want an error")
	}
	payeeGBP := newPurse(t, s, payee, "GBP")
	if !strings.HasPrefix(payeeGBP, "G") {
		t.Errorf("got GBP purse %s, want it to start with G", payeeGBP)
	}
	var cur struct {
		Currencies []struct {
			Code string `json:"code"`
		} `json:"currencies"`
	}
	s.must(t, "GET", "/v1/currencies", payee.token, nil, http.StatusOK, &cur)
	if !strings.Contains(fmt.Sprint(cur.Currencies), "GBP") {
		t.Errorf("GET /v1/currencies: got %v, want GBP listed", cur.Currencies)
	}

	// A new issuer can send at once, within its limit.
	issGBP := adminIssuerAdd(t, data, iss.id, "GBP", "500.00")
	var list struct {
		Purses []struct {
			Purse   string `json:"purse"`
			Balance string `json:"balance"`
			Issuer  bool   `json:"issuer"`
			Limit   string `json:"limit"`
		} `json:"purses"`
	}
	s.must(t, "GET", "/v1/purses", iss.token, nil, http.StatusOK, &list)
	if len(list.Purses) != 1 || list.Purses[0].Purse != issGBP || !list.Purses[0].Issuer || list.Purses[0].Limit != "500.00" || list.Purses[0].Balance != "0.00" {
		t.Errorf("issuer's purses: got %+v, want issuing purse %s with limit 500.00", list.Purses, issGBP)
	}
	send := func(id, amount string, want int) {
		t.Helper()
		s.must(t, "POST", "/v1/transfers", iss.token, map[string]string{"transfer_id": id, "from": issGBP, "to": payeeGBP, "amount": amount}, want, nil)
	}
	send("gbp-1", "10.00", http.StatusCreated)
	send("gbp-2", "490.01", http.StatusUnprocessableEntity)
	send("gbp-3", "490.00", http.StatusCreated)
	send("gbp-4", "0.01", http.StatusUnprocessableEntity)
	// Raising the limit on the running server also takes effect at once.
	if again := adminIssuerAdd(t, data, iss.id, "GBP", "1000.00"); again != issGBP {
		t.Errorf("raising the limit: got purse %s, want the same issuing purse %s", again, issGBP)
	}
	send("gbp-4", "0.01", http.StatusCreated)
	var p struct {
		Balance string `json:"balance"`
	}
	s.must(t, "GET", "/v1/purses/"+payeeGBP, payee.token, nil, http.StatusOK, &p)
	if p.Balance != "500.01" {
		t.Errorf("payee's GBP purse: got balance %s, want 500.01", p.Balance)
	}

	// A currency without decimals takes whole amounts only.
	if _, errOut, code := cofferd(t, "admin", "currency", "add", "--data", data, "--code", "JPY", "--letter", "Y", "--decimals", "0"); code != 0 {
		t.Fatalf("cofferd admin currency add JPY: got exit %d %s, want 0", code, errOut)
	}
	payeeJPY := newPurse(t, s, payee, "JPY")
	status, body, err := s.call("POST", "/v1/transfers", payee.token, []byte(`{"transfer_id":"jpy-1","from":"`+payeeJPY+`","to":"`+payeeJPY[:1]+`100000000000","amount":"1.5"}`))
	if err != nil || status != http.StatusBadRequest || !bytes.Contains(body, []byte(`"invalid_amount"`)) {
		t.Errorf("1.5 JPY: got %d %s %v, want 400 invalid_amount", status, body, err)
	}

	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data)
}

func TestCofferd_Curl(t *testing.T) {
	needBinaries(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		missingTool(t, "curl is not on PATH")
	}
	t.Parallel()
	s := startServer(t, t.TempDir())
	run := func(args ...string) (status, contentType string, body []byte) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "body")
		args = append([]string{"-sS", "-o", f, "-w", "%{http_code} %{content_type}"}, args...)
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		body, err = os.ReadFile(f)
		if err != nil {
			t.Fatalf("curl body: %v", err)
		}
		status, contentType, _ = strings.Cut(string(out), " ")
		return status, contentType, body
	}

	// Plain `curl -d` (a form content type) works: the API reads JSON bodies
	// whatever their declared type.
	status, ct, body := run("-d", `{"password":"`+e2ePassword+`","email":"Curl@Example.org"}`, s.url+"/v1/members")
	var reg map[string]any
	if err := json.Unmarshal(body, &reg); err != nil || status != "201" || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("curl register: got %s %s %s, want 201 application/json", status, ct, body)
	}
	id, _ := reg["member_id"].(string)
	if len(reg) != 1 || !coffer.ValidMemberID(id) {
		t.Errorf("curl register: got %s, want exactly {\"member_id\": 12 digits}", body)
	}

	status, _, body = run("-H", "Content-Type: application/json", "-d", `{"login":"curl@example.org","password":"`+e2ePassword+`"}`, s.url+"/v1/sessions")
	var sess struct {
		Token    string `json:"token"`
		MemberID string `json:"member_id"`
	}
	if err := json.Unmarshal(body, &sess); err != nil || status != "201" || sess.MemberID != id {
		t.Fatalf("curl login: got %s %s, want 201 for member %s", status, body, id)
	}
	status, _, body = run("-H", "Authorization: Bearer "+sess.Token, s.url+"/v1/purses")
	if status != "200" || strings.TrimSpace(string(body)) != `{"purses":[]}` {
		t.Errorf("curl purses: got %s %s, want 200 {\"purses\":[]}", status, body)
	}

	status, ct, body = run("-d", `{"password":"password123"}`, s.url+"/v1/members")
	var p struct {
		Code string `json:"code"`
	}
	json.Unmarshal(body, &p)
	if status != "400" || !strings.HasPrefix(ct, "application/problem+json") || p.Code != "weak_password" {
		t.Errorf("curl weak password: got %s %s %s, want 400 application/problem+json weak_password", status, ct, body)
	}
}

// TestCoffer_Walkthrough follows the README's walk-through with the keeper.
func TestCoffer_Walkthrough(t *testing.T) {
	needKeeper(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	k := newKeeperEnv(t, s, "coffer-config")
	config := k.config
	keeper, register := k.run, k.register
	issuer := register("issuer@example.org")
	alice := register("alice@example.org")
	if issuer == alice {
		t.Fatalf("got the same member ID %s twice", issuer)
	}
	if fi, err := os.Stat(filepath.Join(config, "sessions.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("saved sessions: got %v %v, want a file of mode 0600", fi, err)
	}

	issPurse := adminIssuerAdd(t, data, issuer, "USD", "1000000.00")
	var np struct {
		Purse string `json:"purse"`
	}
	if err := json.Unmarshal([]byte(keeper(0, "--as", alice, "--json", "purse", "new", "USD")), &np); err != nil || !coffer.ValidPurseNumber(np.Purse) {
		t.Fatalf("coffer purse new USD --json: got %+v %v, want a purse number", np, err)
	}
	alicePurse := np.Purse
	if out := keeper(0, "--as", issuer, "purses"); !strings.Contains(out, issPurse) || !strings.Contains(out, "0.00") {
		t.Errorf("coffer purses: got %q, want the issuing purse %s with 0.00", out, issPurse)
	}
	send := []string{"--as", issuer, "send", "--from", issPurse, "--to", alicePurse, "--amount", "250.00", "--desc", "top-up", "--id", "readme-topup"}
	if out := keeper(0, send...); !strings.Contains(out, "250.00") || !strings.Contains(out, "readme-topup") {
		t.Errorf("coffer send: got %q, want it to name the amount and the transfer ID", out)
	}
	keeper(0, send...) // the same ID again never pays twice
	if out := keeper(0, "--as", alice, "history", alicePurse); !strings.Contains(out, "250.00") || !strings.Contains(out, "top-up") {
		t.Errorf("coffer history: got %q, want the top-up of 250.00", out)
	}
	if out := keeper(0, "--as", alice, "whois", issPurse); !strings.Contains(out, issuer) {
		t.Errorf("coffer whois: got %q, want member %s", out, issuer)
	}
	var p struct {
		Balance string `json:"balance"`
	}
	if err := json.Unmarshal([]byte(keeper(0, "--as", alice, "--json", "purse", alicePurse)), &p); err != nil || p.Balance != "250.00" {
		t.Errorf("alice's purse after sending twice with one ID: got balance %q %v, want 250.00", p.Balance, err)
	}
	if out := keeper(1, "--as", alice, "send", "--from", alicePurse, "--to", issPurse, "--amount", "1000.00"); !strings.Contains(out, "insufficient") {
		t.Errorf("coffer send beyond funds: got %q, want it to say insufficient funds", out)
	}
	keeper(2, "--as", alice, "send", "--to", issPurse)

	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data)
}
