package main

// End-to-end tests of cofferd on PostgreSQL (--db): a crashed cofferd, a
// crashed database server under a running cofferd, and two cofferd
// processes sharing one database. They need COFFER_TEST_POSTGRES (see
// postgres/pgtest) and are skipped without it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres/pgtest"
)

func TestCofferd_PostgresCrashRecovery(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	db := pgtest.URL(t)
	data := t.TempDir()
	s := startServerWith(t, data, "--db", db)
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
	s.kill() // mid-load: requests and a ledger transaction are in flight
	<-loaded

	// Another data directory (with the same secrets key): everything else
	// the API needs is in the database.
	s2 := startServerWith(t, dataDirLike(t, data), "--db", db)
	// Sessions survive the crash too: the same tokens work.
	verifyLedger(t, s2, e, sent)
	if code := s2.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data, s2.dbFlags()...)
}

func TestCofferd_PostgresServerCrash(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	pg := pgtest.StartServer(t)
	data := t.TempDir()
	s := startServerWith(t, data, "--db", pg.SchemaURL(t))
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
	if !waitFor(20*time.Second, func() bool { return st.applied.Load() >= 300 }) {
		t.Fatalf("got %d transfers applied in 20 s, want 300 before the database crash", st.applied.Load())
	}

	// The database server crashes mid-load: no checkpoint, its connections
	// cut, WAL replay when it starts again.
	pg.Stop("immediate")
	downAt, unavailAt := st.applied.Load(), st.unavailable.Load()
	downSince := time.Now()
	// Requests other than transfers are turned away as retryable too: a
	// read, and a login (which needs no cached session).
	m := e.members[0]
	for _, r := range []struct {
		method, path, token string
		body                []byte
	}{
		{"GET", "/v1/purses/" + m.purse + "/history", m.token, nil},
		{"POST", "/v1/sessions", "", []byte(`{"login":"` + m.id + `","password":"` + e2ePassword + `"}`)},
	} {
		status, answer, err := s.call(r.method, r.path, r.token, r.body)
		if err != nil || status != http.StatusServiceUnavailable || !bytes.Contains(answer, []byte(`"unavailable"`)) {
			t.Errorf("%s %s with the database down: got %d %s %v, want 503 unavailable", r.method, r.path, status, bytes.TrimSpace(answer), err)
		}
	}
	time.Sleep(1500*time.Millisecond - time.Since(downSince))
	if n := st.unavailable.Load() - unavailAt; n == 0 {
		t.Errorf("got no 503 answers while the database was down, want the clients told to retry")
	} else {
		t.Logf("%d answers 503 unavailable while the database was down", n)
	}
	if n := st.applied.Load() - downAt; n > 0 {
		t.Logf("%d transfers acknowledged after the database stopped (committed before it went)", n)
	}
	pg.Start()
	upAt := st.applied.Load()

	// The same cofferd, not restarted, makes progress again.
	if !waitFor(20*time.Second, func() bool { return st.applied.Load() >= upAt+200 }) {
		t.Errorf("got %d transfers applied in 20 s after the database came back, want 200", st.applied.Load()-upAt)
	}
	cancel()
	<-loaded
	t.Logf("load: %d requests, %d answered 503 and retried, %d applied although the 503 came, longest answer %v",
		st.requests.Load(), st.unavailable.Load(), st.lostAnswers.Load(), time.Duration(st.maxLatency.Load()))
	if t.Failed() {
		return
	}

	verifyLedger(t, s, e, sent)
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data, s.dbFlags()...)
}

func TestCofferd_PostgresTwoProcesses(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	db := pgtest.URL(t)
	s1 := startServerWith(t, t.TempDir(), "--db", db)
	s2 := startServerWith(t, dataDirLike(t, s1.data), "--db", db)
	e := newEconomy(t, s1, 8) // members, sessions and purses made on s1

	// A session made on either process works on the other.
	tok2 := loginMember(t, s2, e.members[0].id)
	var list struct {
		Purses []struct {
			Purse string `json:"purse"`
		} `json:"purses"`
	}
	s1.must(t, "GET", "/v1/purses", tok2, nil, http.StatusOK, &list)
	if len(list.Purses) != 1 || list.Purses[0].Purse != e.members[0].purse {
		t.Errorf("purses through s1 with a session made on s2: got %+v, want %s", list.Purses, e.members[0].purse)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var st pgLoadStats
	var sent []*sentTransfer
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		sent = pgLoad(ctx, t, []*e2eServer{s1, s2}, e, &st)
	}()
	t.Cleanup(func() { cancel(); <-loaded })
	// At least 2 s of both processes' batches contending for the ledger.
	began := time.Now()
	if !waitFor(20*time.Second, func() bool { return st.applied.Load() >= 600 && time.Since(began) >= 2*time.Second }) {
		t.Errorf("got %d transfers applied in 20 s through two processes, want 600", st.applied.Load())
	}
	cancel()
	<-loaded
	t.Logf("load: %d requests (%d to s1, %d to s2), %d retries answered by the other process, %d answered 503, longest answer %v",
		st.requests.Load(), st.perServer[0].Load(), st.perServer[1].Load(), st.crossed.Load(), st.unavailable.Load(), time.Duration(st.maxLatency.Load()))
	if st.perServer[0].Load() == 0 || st.perServer[1].Load() == 0 || st.crossed.Load() == 0 {
		t.Errorf("the load did not reach both processes (and retries the other one)")
	}
	// Batches of the two processes queue on the ledger head lock; neither
	// deadlocks nor times out, so no request is turned away.
	if n := st.unavailable.Load(); n != 0 {
		t.Errorf("got %d answers 503 with the database up, want 0", n)
	}
	if t.Failed() {
		return
	}

	verifyLedger(t, s2, e, sent)
	// Both processes see the same balances.
	for _, m := range append([]*e2eMember{e.issuer}, e.members...) {
		var b1, b2 struct {
			Balance string `json:"balance"`
		}
		s1.must(t, "GET", "/v1/purses/"+m.purse, m.token, nil, http.StatusOK, &b1)
		s2.must(t, "GET", "/v1/purses/"+m.purse, m.token, nil, http.StatusOK, &b2)
		if b1 != b2 {
			t.Errorf("purse %s: got balance %s on s1 and %s on s2, want the same", m.purse, b1.Balance, b2.Balance)
		}
	}
	for i, s := range []*e2eServer{s1, s2} {
		if code := s.stop(); code != 0 {
			t.Errorf("cofferd s%d after SIGTERM: got exit %d, want 0", i+1, code)
		}
	}
	checkLedger(t, s1.data, s1.dbFlags()...)
}

// dataDirLike returns a new data directory holding the secrets key of the
// one in from, as every cofferd serving one database must.
func dataDirLike(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{secretsKeyFile, documentsKeyFile} {
		key, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatalf("copy %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), key, 0o600); err != nil {
			t.Fatalf("copy %s: %v", name, err)
		}
	}
	return dir
}

// pgLoadStats counts what pgLoad's clients met.
type pgLoadStats struct {
	applied     atomic.Int64 // transfers learnt applied: 201, or 200 after a 503
	unavailable atomic.Int64 // 503 answers, each retried with the same ID
	lostAnswers atomic.Int64 // transfers answered 503 that a retry found applied
	requests    atomic.Int64
	perServer   [2]atomic.Int64 // requests to servers[0] and servers[1]
	crossed     atomic.Int64    // retries of an ID answered by another process than its first try
	maxLatency  atomic.Int64    // nanoseconds
}

// pgLoad is load for servers that stay up while their database may not: one
// client per member sends transfers to the others until ctx ends, each
// request to one of servers in turn, so a second request with an ID goes to
// another process than the first. Some amounts exceed the funds; some IDs
// are sent twice one after the other, some twice at once (to two processes
// when there are two). A 503 is retried with the same ID, as the API asks,
// until a definitive answer; a request without any answer (a hang past the
// client's timeout) fails the test.
func pgLoad(ctx context.Context, t *testing.T, servers []*e2eServer, e *economy, stats *pgLoadStats) []*sentTransfer {
	var (
		mu  sync.Mutex
		all []*sentTransfer
		wg  sync.WaitGroup
	)
	// send posts st to servers[k] until a definitive answer and returns its
	// status, 0 when ctx ended first or the answer was wrong (reported), and
	// whether a 503 came first (then the transfer may have been applied
	// before the answer was lost).
	send := func(st *sentTransfer, k int) (status int, uncertain bool) {
		for {
			start := time.Now()
			status, data, err := servers[k].call("POST", "/v1/transfers", e.members[st.sender].token, st.body)
			d := time.Since(start)
			stats.requests.Add(1)
			stats.perServer[k%2].Add(1)
			for m := stats.maxLatency.Load(); int64(d) > m && !stats.maxLatency.CompareAndSwap(m, int64(d)); m = stats.maxLatency.Load() {
			}
			switch {
			case err != nil:
				t.Errorf("transfer %s: no answer from s%d after %v: %v", st.id, k+1, d.Round(time.Millisecond), err)
				return 0, uncertain
			case status == http.StatusServiceUnavailable && bytes.Contains(data, []byte(`"unavailable"`)):
				stats.unavailable.Add(1)
				uncertain = true
				if ctx.Err() != nil {
					return 0, uncertain // its outcome stays unknown: verifyLedger finds out
				}
				time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
			case status == http.StatusCreated, status == http.StatusOK,
				status == http.StatusUnprocessableEntity && bytes.Contains(data, []byte(`"insufficient_funds"`)):
				return status, uncertain
			default:
				t.Errorf("transfer %s: got %d %s from s%d, want 201, 200, insufficient_funds or 503 unavailable", st.id, status, bytes.TrimSpace(data), k+1)
				return 0, uncertain
			}
		}
	}
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
			next := rng.IntN(len(servers))
			pick := func() int {
				k := next
				next = (next + 1) % len(servers)
				return k
			}
			for i := 0; ctx.Err() == nil; i++ {
				st := &sentTransfer{sender: c, to: (c + 1 + rng.IntN(n-1)) % n, id: fmt.Sprintf("pgload-%d-%d", c, i), amount: 1 + rng.Int64N(200)}
				if i%13 == 12 {
					st.amount = 5000_00 // more than a member ever holds
				}
				st.body, _ = json.Marshal(map[string]string{"transfer_id": st.id, "from": e.members[c].purse,
					"to": e.members[st.to].purse, "amount": coffer.FormatAmount(st.amount, 2)})
				mine = append(mine, st)

				if i%7 == 3 {
					// The same ID twice at once: at most one is applied, the
					// other learns of it.
					var res [2]struct {
						status    int
						uncertain bool
					}
					var pair sync.WaitGroup
					for j, k := range []int{pick(), pick()} {
						pair.Go(func() { res[j].status, res[j].uncertain = send(st, k) })
					}
					pair.Wait()
					stats.crossed.Add(int64(min(len(servers)-1, 1)))
					var created, replayed, refused int
					for _, r := range res {
						switch r.status {
						case http.StatusCreated:
							created++
						case http.StatusOK:
							replayed++
						case http.StatusUnprocessableEntity:
							refused++
						}
					}
					switch {
					case created > 1:
						t.Errorf("transfer %s sent twice at once: got 201 twice, want it applied once", st.id)
					case replayed > 0 && created == 0 && !res[0].uncertain && !res[1].uncertain:
						t.Errorf("transfer %s sent twice at once: got %d and %d, want 200 only beside a 201", st.id, res[0].status, res[1].status)
					}
					switch {
					case created+replayed > 0:
						st.answered = http.StatusCreated
						stats.applied.Add(1)
						if created == 0 {
							stats.lostAnswers.Add(1)
						}
					case refused > 0:
						st.answered = http.StatusUnprocessableEntity
					}
					if res[0].status == 0 || res[1].status == 0 {
						return
					}
					continue
				}

				tries := 1
				if i%5 == 0 {
					tries = 2 // the retry goes to the other process
				}
				for try := range tries {
					k := pick()
					if try > 0 && len(servers) > 1 {
						stats.crossed.Add(1)
					}
					status, uncertain := send(st, k)
					switch status {
					case 0:
						return
					case http.StatusCreated:
						if st.answered == http.StatusCreated {
							t.Errorf("transfer %s: got 201 twice, want 200 for the retry", st.id)
						}
						st.answered = status
						stats.applied.Add(1)
					case http.StatusOK:
						if st.answered == http.StatusCreated {
							break
						}
						if !uncertain {
							t.Errorf("transfer %s: got 200 after %d, want 200 only for a retry of an applied transfer", st.id, st.answered)
							return
						}
						// Committed, but the answer was lost with the
						// database connection: the retry learns it.
						st.answered = http.StatusCreated
						stats.applied.Add(1)
						stats.lostAnswers.Add(1)
					case http.StatusUnprocessableEntity:
						if st.answered == http.StatusCreated {
							t.Errorf("transfer %s: got insufficient_funds for a retry of an applied transfer, want 200", st.id)
						}
						if st.answered == 0 {
							st.answered = status
						}
					}
				}
			}
		})
	}
	wg.Wait()
	return all
}

// TestCofferd_PostgresNewDataDir starts a server on PostgreSQL with a data
// directory that does not exist yet: it is made (for the key files), the
// server serves and answers ready.
func TestCofferd_PostgresNewDataDir(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	db := pgtest.URL(t)
	data := filepath.Join(t.TempDir(), "new", "data")
	s := startServerWith(t, data, "--db", db)
	registerMember(t, s)
	s.must(t, "GET", "/readyz", "", nil, http.StatusOK, nil)
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: got mode %v, want 0700", fi.Mode().Perm())
	}
	for _, name := range []string{secretsKeyFile, documentsKeyFile} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: got mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
}
