package main

// The failover test: cofferd on a PostgreSQL cluster managed by Patroni
// (scripts/patroni), its primary killed under load. It needs the cluster
// named by COFFER_TEST_PATRONI and COFFER_PATRONI_DIR (scripts/test starts
// one when Patroni is installed) and is skipped without them.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// patroniSkip says how to run the failover test.
const patroniSkip = "failover test skipped: set COFFER_TEST_PATRONI, COFFER_PATRONI_DIR and COFFER_PATRONI_REST " +
	"(eval \"$(scripts/patroni start)\"), or run scripts/test with the packages patroni, etcd-server and etcd-client installed"

// patroniCluster is the cluster scripts/patroni started.
type patroniCluster struct {
	t    *testing.T
	url  string   // multi-host, target_session_attrs=read-write
	dir  string   // COFFER_PATRONI_DIR
	rest []string // each node's REST API
}

// patroniMember is one member as Patroni's GET /cluster describes it.
type patroniMember struct {
	Name     string `json:"name"`
	Role     string `json:"role"`  // leader, sync_standby, replica
	State    string `json:"state"` // running, streaming, stopped, …
	Port     int    `json:"port"`
	Timeline int    `json:"timeline"`
}

func needPatroni(t *testing.T) *patroniCluster {
	t.Helper()
	needBinaries(t)
	c := &patroniCluster{t: t, url: os.Getenv("COFFER_TEST_PATRONI"), dir: os.Getenv("COFFER_PATRONI_DIR")}
	if r := os.Getenv("COFFER_PATRONI_REST"); r != "" {
		c.rest = strings.Split(r, ",")
	}
	if c.url == "" || c.dir == "" || len(c.rest) == 0 {
		t.Skip(patroniSkip)
	}
	return c
}

// members asks the nodes in turn for the cluster's members; nil when none
// answers.
func (c *patroniCluster) members() []patroniMember {
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, u := range c.rest {
		resp, err := hc.Get(u + "/cluster")
		if err != nil {
			continue
		}
		var v struct {
			Members []patroniMember `json:"members"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err == nil {
			return v.Members
		}
	}
	return nil
}

// healthy returns the running leader and its synchronous standby, both on
// one timeline, or ok false.
func (c *patroniCluster) healthy() (leader, standby patroniMember, ok bool) {
	var gotL, gotS bool
	for _, m := range c.members() {
		switch {
		case m.Role == "leader" && m.State == "running":
			leader, gotL = m, true
		case m.Role == "sync_standby" && (m.State == "running" || m.State == "streaming"):
			standby, gotS = m, true
		}
	}
	return leader, standby, gotL && gotS && leader.Timeline == standby.Timeline
}

// script runs scripts/patroni with args.
func (c *patroniCluster) script(args ...string) {
	c.t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "scripts", "patroni"))
	if err != nil {
		c.t.Fatal(err)
	}
	if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("scripts/patroni %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// schemaURL creates an empty schema through the cluster's URL (so on its
// primary), dropped when the test ends, and returns a URL that uses it and
// its name.
func (c *patroniCluster) schemaURL() (db, schema string) {
	c.t.Helper()
	ctx := context.Background()
	schema = fmt.Sprintf("failover_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		c.t.Fatalf("connect to the cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), c.url); err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	return pgtest.WithParam(c.url, "search_path", schema), schema
}

// transferCounts reads how many rows each transfer ID of the load has in the
// transfers table of the server db names, and whether that server is a
// standby. The table is read in full, not through the unique index that
// would hide a second row.
func transferCounts(t *testing.T, db string) (counts map[string]int, standby bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT transfer_id, count(*) FROM transfers WHERE transfer_id LIKE 'pgload-%' GROUP BY transfer_id`)
	if err != nil {
		t.Fatal(err)
	}
	counts = make(map[string]int)
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts, standby
}

// TestCofferd_PatroniFailover kills the primary of a Patroni cluster (its
// Patroni with SIGKILL, its PostgreSQL with pg_ctl stop -m immediate) while
// clients send transfers through a cofferd connected with a multi-host URL
// (target_session_attrs=read-write), retrying each 503 with the same
// transfer ID. Patroni promotes the synchronous standby; the same cofferd,
// not restarted, reaches it by itself. Every acknowledged transfer must be
// on the new primary exactly once, cofferd check must pass there, and the
// old primary must rejoin as a standby holding the same transfers.
func TestCofferd_PatroniFailover(t *testing.T) {
	c := needPatroni(t)
	began := time.Now()
	var leader, standby patroniMember
	if !waitFor(60*time.Second, func() (ok bool) { leader, standby, ok = c.healthy(); return ok }) {
		t.Fatalf("got members %+v, want a running leader and a synchronous standby", c.members())
	}
	db, schema := c.schemaURL()
	data := t.TempDir()
	s := startServerWith(t, data, "--db", db)
	e := newEconomy(t, s, 8)

	ctx, cancel := context.WithCancel(context.Background())
	var st pgLoadStats
	var sent []*sentTransfer
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		sent = pgLoad(ctx, t, []*e2eServer{s}, e, &st)
	}()
	t.Cleanup(func() { cancel(); <-loaded })
	if !waitFor(30*time.Second, func() bool { return st.applied.Load() >= 300 }) {
		t.Fatalf("got %d transfers applied in 30 s, want 300 before the primary is killed", st.applied.Load())
	}

	// The primary's machine dies, as far as the cluster can tell: Patroni
	// gone without a word (its leader key expires after ttl), PostgreSQL
	// stopped without a checkpoint, every connection cut.
	c.script("crash", c.dir, leader.Name)
	crashed := time.Now()
	unavailAtCrash := st.unavailable.Load()
	// Answers to commits that completed before the crash are delivered at
	// once; after this pause the count moves only with commits on the new
	// primary.
	time.Sleep(500 * time.Millisecond)
	settled := st.applied.Load()
	// Until Patroni promotes, there is no primary: a read and a transfer
	// are answered 503 with Retry-After. The transfer is more than the
	// sender holds, so it changes nothing should it ever be applied.
	m := e.members[0]
	for _, r := range []struct {
		method, path string
		in           any
	}{
		{"GET", "/v1/purses/" + m.purse, nil},
		{"POST", "/v1/transfers", map[string]string{"transfer_id": "failover-probe", "from": m.purse, "to": e.members[1].purse, "amount": "5000.00"}},
	} {
		status, h, body := request(t, s, r.method, r.path, m.token, r.in)
		if status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"unavailable"`) || h.Get("Retry-After") == "" {
			t.Errorf("%s %s with no primary: got %d %s, Retry-After %q; want 503 unavailable with Retry-After", r.method, r.path, status, strings.TrimSpace(string(body)), h.Get("Retry-After"))
		}
	}

	var promoted time.Duration
	if !waitFor(90*time.Second, func() bool {
		for _, m := range c.members() {
			if m.Name == standby.Name && m.Role == "leader" && m.State == "running" {
				promoted = time.Since(crashed)
				return true
			}
		}
		return false
	}) {
		t.Fatalf("%s was not promoted within 90 s of the crash of %s: members %+v", standby.Name, leader.Name, c.members())
	}
	var resumed time.Duration
	if !waitFor(60*time.Second, func() bool {
		if st.applied.Load() > settled {
			resumed = time.Since(crashed)
			return true
		}
		return false
	}) {
		t.Fatalf("no transfer applied within 60 s of %s's promotion: the server did not reach the new primary", standby.Name)
	}
	if !waitFor(60*time.Second, func() bool { return st.applied.Load() >= settled+200 }) {
		t.Errorf("got %d transfers applied on the new primary in 60 s, want 200", st.applied.Load()-settled)
	}
	cancel()
	<-loaded
	if n := st.unavailable.Load() - unavailAtCrash; n == 0 {
		t.Errorf("got no 503 answers during the failover, want the clients told to retry")
	}
	if t.Failed() {
		return
	}

	// Every acknowledged transfer is on the new primary, once.
	counts, inRecovery := transferCounts(t, db)
	if inRecovery {
		t.Fatalf("the cluster URL reached a standby, want the new primary %s", standby.Name)
	}
	var acked, lost, duplicated int
	for _, x := range sent {
		if x.answered == http.StatusCreated {
			acked++
			if counts[x.id] == 0 {
				lost++
				t.Errorf("transfer %s was acknowledged: it is not on the new primary", x.id)
			}
		}
	}
	for id, n := range counts {
		if n > 1 {
			duplicated++
			t.Errorf("transfer %s: got %d rows on the new primary, want 1", id, n)
		}
	}
	// Sending every ID again applies none twice, and the balances are what
	// the applied transfers make them.
	verifyLedger(t, s, e, sent)
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	out, errOut, code := cofferd(t, "check", "--data", data, "--db", db)
	checked := "all invariants hold"
	if code != 0 || !strings.Contains(out, checked) {
		t.Errorf("cofferd check --db on the new primary: got exit %d, want 0 and %q\n%s%s", code, checked, out, errOut)
		checked = fmt.Sprintf("failed (exit %d)", code)
	}
	final, _ := transferCounts(t, db)

	// The old primary rejoins as a standby (rewound to the new timeline)
	// and holds the same transfers.
	c.script("node", c.dir, leader.Name)
	rejoinStart := time.Now()
	var rejoined patroniMember
	if !waitFor(120*time.Second, func() bool {
		l, sb, ok := c.healthy()
		rejoined = sb
		return ok && l.Name == standby.Name && sb.Name == leader.Name
	}) {
		t.Fatalf("%s did not rejoin as the synchronous standby within 120 s: members %+v", leader.Name, c.members())
	}
	rejoinTook := time.Since(rejoinStart)
	oldURL := fmt.Sprintf("postgres://coffer@127.0.0.1:%d/postgres?sslmode=disable&search_path=%s", rejoined.Port, schema)
	var onOld map[string]int
	var oldIsStandby bool
	if !waitFor(30*time.Second, func() bool {
		onOld, oldIsStandby = transferCounts(t, oldURL)
		return len(onOld) == len(final)
	}) {
		t.Errorf("%s after rejoining: got %d transfer IDs, want the new primary's %d", leader.Name, len(onOld), len(final))
	}
	if !oldIsStandby {
		t.Errorf("%s after rejoining: not in recovery, want a standby", leader.Name)
	}
	for id, n := range final {
		if onOld[id] != n {
			t.Errorf("%s after rejoining: transfer %s has %d rows, want %d as on the new primary", leader.Name, id, onOld[id], n)
			break
		}
	}

	t.Logf("failover of %s to %s: acknowledged %d, lost %d, duplicated %d; %d answers 503 retried with the same ID, %d of them applied before the answer was lost; longest answer %v",
		leader.Name, standby.Name, acked, lost, duplicated, st.unavailable.Load(), st.lostAnswers.Load(), time.Duration(st.maxLatency.Load()).Round(time.Millisecond))
	t.Logf("crash to promotion %v, crash to the first transfer applied on the new primary %v; cofferd check --db: %s; %s rejoined as %s (%s) in %v; test took %v",
		promoted.Round(100*time.Millisecond), resumed.Round(100*time.Millisecond), checked, leader.Name, rejoined.Role, rejoined.State,
		rejoinTook.Round(100*time.Millisecond), time.Since(began).Round(time.Second))
}

// TestPatroniScript_ConfigInREADME holds the README to the configuration
// the failover test runs: its YAML block under "High availability on
// PostgreSQL" must be what scripts/patroni config prints for the arguments
// the README gives.
func TestPatroniScript_ConfigInREADME(t *testing.T) {
	const command = "scripts/patroni config pg1 /var/lib/coffer-ha 127.0.0.1:2379 5432 8008"
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### High availability on PostgreSQL\n")
	if !ok {
		t.Fatal("README: no section \"High availability on PostgreSQL\"")
	}
	if !strings.Contains(section, command) {
		t.Errorf("README's high availability section: want the command %q", command)
	}
	_, block, ok := strings.Cut(section, "\n```yaml\n")
	block, _, ok2 := strings.Cut(block, "\n```\n")
	if !ok || !ok2 {
		t.Fatal("README's high availability section: no ```yaml block")
	}
	args := strings.Fields(command)
	cmd := exec.Command(filepath.Join("..", "..", args[0]), args[1:]...)
	// The README shows the binaries of PostgreSQL 15 (Debian's path).
	cmd.Env = append(os.Environ(), "PG_BIN=/usr/lib/postgresql/15/bin")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	if got, want := strings.TrimSpace(string(out)), strings.TrimSpace(block); got != want {
		t.Errorf("%s: got\n%s\nwant the README's block\n%s", command, got, want)
	}
}
