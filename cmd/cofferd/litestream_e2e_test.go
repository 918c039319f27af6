package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlite"
)

// litestreamBin is the Litestream binary the continuous-replication test
// runs: $COFFER_TEST_LITESTREAM, else `litestream` on PATH. The test skips
// without one (.ci/run installs it) and fails with one that is not v0.5,
// whose configuration and replica format the test and the README use.
func litestreamBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("COFFER_TEST_LITESTREAM")
	if p == "" {
		var err error
		if p, err = exec.LookPath("litestream"); err != nil {
			t.Skip("no litestream binary: set COFFER_TEST_LITESTREAM or put litestream on PATH (go install github.com/benbjohnson/litestream/cmd/litestream@v0.5.18)")
		}
	}
	out, err := exec.Command(p, "version").Output()
	if v := strings.TrimSpace(string(out)); err != nil || !strings.HasPrefix(v, "v0.5.") {
		t.Fatalf("%s version: got %q %v, want v0.5.x", p, v, err)
	}
	return p
}

// litestreamConfig is the README's litestream.yml for the data directory
// data and the replica directory replica, with the intervals shortened so
// the test runs in seconds, each sync reading the WAL to its end (see
// lastReplicatedPoint) and a debug log that names the reason of each
// snapshot.
func litestreamConfig(data, replica string) string {
	return fmt.Sprintf(`logging:
  level: debug
dbs:
  - path: %s
    monitor-interval: 100ms
    max-sync-wal-bytes: 0
    replica:
      type: file
      path: %s
      sync-interval: 200ms
`, filepath.Join(data, sqlite.FileName), replica)
}

// ltxPoint is one transaction file in a replica: its transaction ID and the
// time Litestream stamped it, after it had read the WAL up to its end.
type ltxPoint struct {
	txid  uint64
	stamp time.Time
}

// replicaPoints reads the header of every level-0 transaction file in a
// file replica (the LTX header: magic "LTX1", then big-endian fields, the
// maximum transaction ID at byte 24 and the millisecond timestamp at 32),
// in transaction order. Files still being written end in .tmp and are not
// listed.
func replicaPoints(replica string) ([]ltxPoint, error) {
	files, err := filepath.Glob(filepath.Join(replica, "ltx", "0", "*.ltx"))
	if err != nil {
		return nil, err
	}
	var pts []ltxPoint
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		hdr := make([]byte, 40)
		_, err = fh.ReadAt(hdr, 0)
		fh.Close()
		if err != nil || string(hdr[:4]) != "LTX1" {
			return nil, fmt.Errorf("%s: not an LTX file: %v", f, err)
		}
		pts = append(pts, ltxPoint{binary.BigEndian.Uint64(hdr[24:]), time.UnixMilli(int64(binary.BigEndian.Uint64(hdr[32:])))})
	}
	slices.SortFunc(pts, func(a, b ltxPoint) int { return int(a.txid) - int(b.txid) })
	return pts, nil
}

// lastReplicatedPoint is the latest time before which every commit is in
// the replica. Litestream turns the WAL into numbered transaction files one
// after the other, each stamped after it read the WAL to its end, and the
// next one reads the WAL again after that stamp. So every commit made before
// the stamp of the second newest file in the replica is in the newest one or
// earlier (with max-sync-wal-bytes 0, each file reads the WAL to its end).
func lastReplicatedPoint(pts []ltxPoint) (time.Time, bool) {
	if len(pts) < 2 {
		return time.Time{}, false
	}
	return pts[len(pts)-2].stamp, true
}

// TestCofferd_LitestreamRestore replicates a running server's SQLite store
// continuously with Litestream to a second directory, loses the primary
// (both processes SIGKILLed under load, the data directory deleted),
// restores from the replica with the key files kept apart, and proves that
// every transfer acknowledged before the last replicated point is in the
// restored store exactly once, with `cofferd check` passing. Between two
// rounds of load the server is idle long enough for its truncating
// checkpoint to try to run while Litestream holds its read transaction.
func TestCofferd_LitestreamRestore(t *testing.T) {
	needBinaries(t)
	lsBin := litestreamBin(t)
	t.Parallel()
	root := t.TempDir()
	data := filepath.Join(root, "data") // the primary disk, lost below
	replica := filepath.Join(t.TempDir(), "replica")
	keys := filepath.Join(t.TempDir(), "keys")
	s := startServer(t, data)
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 0 {
		t.Fatalf("cofferd admin ca init: got exit %d\n%s%s", code, out, errOut)
	}
	// Two economies, one per round of load: load names transfers by
	// sender and sequence, so each round needs senders of its own.
	ea, eb := newEconomy(t, s, 6), newEconomy(t, s, 6)

	// The key files are not in the database, so Litestream does not carry
	// them: the operator keeps them apart, here with cofferd backup.
	if out, errOut, code := cofferd(t, "backup", "--data", data, "--to", keys); code != 0 {
		t.Fatalf("cofferd backup (the key files): got exit %d\n%s%s", code, out, errOut)
	}

	config := filepath.Join(t.TempDir(), "litestream.yml")
	if err := os.WriteFile(config, []byte(litestreamConfig(data, replica)), 0o600); err != nil {
		t.Fatal(err)
	}
	ls := exec.Command(lsBin, "replicate", "-config", config)
	lsOut := &lockedBuffer{}
	ls.Stdout, ls.Stderr = lsOut, lsOut
	if err := ls.Start(); err != nil {
		t.Fatalf("start litestream: %v", err)
	}
	lsDone := make(chan struct{})
	go func() { ls.Wait(); close(lsDone) }()
	t.Cleanup(func() {
		ls.Process.Kill()
		<-lsDone
		if t.Failed() {
			t.Logf("litestream output:\n%s", tail(lsOut.String(), 60))
		}
	})
	exited := func() bool {
		select {
		case <-lsDone:
			return true
		default:
			return false
		}
	}
	if !waitFor(20*time.Second, func() bool { p, _ := replicaPoints(replica); return len(p) >= 1 || exited() }) || exited() {
		t.Fatalf("litestream wrote nothing to the replica in 20 s:\n%s", lsOut)
	}

	// While the load runs, the lag (how far the last replicated point is
	// behind the clock) and the WAL's size are sampled.
	wal := filepath.Join(data, sqlite.FileName+"-wal")
	var loading atomic.Bool
	var maxLag, maxWAL atomic.Int64
	sampling, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			if pts, err := replicaPoints(replica); err == nil && loading.Load() {
				if p, ok := lastReplicatedPoint(pts); ok && int64(time.Since(p)) > maxLag.Load() {
					maxLag.Store(int64(time.Since(p)))
				}
				if n := fileSize(wal); n > maxWAL.Load() {
					maxWAL.Store(n)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stopSampling(); <-sampled })

	// round runs the load on economy e until at least atLeast transfers
	// are applied, at least d has passed and past(started) holds, then
	// calls then.
	round := func(e *economy, atLeast int64, d time.Duration, past func(time.Time) bool, then func()) []*sentTransfer {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var applied atomic.Int64
		var sent []*sentTransfer
		loaded := make(chan struct{})
		loading.Store(true)
		defer loading.Store(false)
		go func() {
			defer close(loaded)
			sent = load(ctx, t, s, e, &applied)
		}()
		started := time.Now()
		if !waitFor(30*time.Second, func() bool { return applied.Load() >= atLeast && time.Since(started) >= d && past(started) }) {
			cancel()
			<-loaded
			t.Fatalf("got %d transfers applied in 30 s, want %d, and the replica past the round's start", applied.Load(), atLeast)
		}
		then()
		cancel()
		<-loaded
		return sent
	}
	always := func(time.Time) bool { return true }
	// The replica has passed t: its last replicated point is after it.
	passed := func(at time.Time) bool {
		pts, err := replicaPoints(replica)
		p, ok := lastReplicatedPoint(pts)
		return err == nil && ok && p.After(at)
	}
	sentA := round(ea, 300, 2*time.Second, always, func() {})
	// Idle: the server's truncating checkpoint of a large WAL comes due,
	// while Litestream holds its read transaction.
	walBefore := fileSize(wal)
	time.Sleep(2500 * time.Millisecond)
	walIdle := fileSize(wal)

	var killed time.Time
	// The second round goes on until the replica holds some of it, so the
	// kill leaves transfers on both sides of the last replicated point.
	sentB := round(eb, 300, 3*time.Second, passed, func() {
		// The primary's disk is lost: both processes die at once, mid-load.
		killed = time.Now()
		ls.Process.Signal(syscall.SIGKILL)
		s.kill()
		<-lsDone
	})
	stopSampling()
	<-sampled

	pts, err := replicaPoints(replica)
	if err != nil {
		t.Fatal(err)
	}
	point, ok := lastReplicatedPoint(pts)
	if !ok {
		t.Fatalf("got %d transaction files in the replica, want at least 2", len(pts))
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}

	// Restore: the database from the replica, the key files from where
	// they were kept, then cofferd restore puts them in a new data
	// directory and runs cofferd check.
	stage := filepath.Join(t.TempDir(), "stage")
	restored := filepath.Join(t.TempDir(), "restored")
	out, err := exec.Command(lsBin, "restore", "-config", config, "-o", filepath.Join(stage, sqlite.FileName), filepath.Join(data, sqlite.FileName)).CombinedOutput()
	if err != nil {
		t.Fatalf("litestream restore: %v\n%s", err, out)
	}
	cp := exec.Command("cp", "-a", filepath.Join(keys, secretsKeyFile), filepath.Join(keys, documentsKeyFile), filepath.Join(keys, caDirName), stage)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("cp the key files: %v\n%s", err, out)
	}
	rout, errOut, code := cofferd(t, "restore", "--from", stage, "--data", restored)
	checkResult := "all invariants hold"
	if code != 0 || !strings.Contains(rout, checkResult) {
		t.Fatalf("cofferd restore from the Litestream copy: got exit %d, want 0 and a passing check\n%s%s", code, rout, errOut)
	}
	checkLedger(t, restored)

	// A server on the restored store: every transfer acknowledged before
	// the replicated point is there once, and sending it again does not
	// apply it again.
	s2 := startServer(t, restored)
	v := verifyRestored(t, s2, point, []*economy{ea, eb}, [][]*sentTransfer{sentA, sentB})
	if code := s2.stop(); code != 0 {
		t.Errorf("cofferd on the restored store after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, restored)

	t.Logf("acknowledged %d; before the last replicated point %d (%s before the kill); restored %d of them; lost %d; duplicated %d; "+
		"acknowledged after it %d, %d of them in the replica; transfers in the restored store %d; cofferd check: %s; "+
		"replication lag: at most %s during the load; %d transaction files, the newest stamped %s before the kill; "+
		"snapshots taken for a WAL changed behind Litestream's back: %d; errors litestream logged: %d; WAL at most %d bytes under load, %d before the idle spell, %d after",
		v.acked, v.before, killed.Sub(point).Round(time.Millisecond), v.restored, v.lost, v.duplicated,
		v.acked-v.before, v.laterIn, v.present, checkResult,
		time.Duration(maxLag.Load()).Round(time.Millisecond), len(pts), killed.Sub(pts[len(pts)-1].stamp).Round(time.Millisecond),
		outsideSnapshots(lsOut.String()), strings.Count(lsOut.String(), "level=ERROR"), maxWAL.Load(), walBefore, walIdle)
	if v.lost != 0 || v.duplicated != 0 {
		t.Errorf("got %d lost and %d duplicated, want 0 and 0", v.lost, v.duplicated)
	}
	if v.before < 300 {
		t.Errorf("got %d transfers acknowledged before the replicated point, want at least the first round's 300 and some of the second's", v.before)
	}
}

// outsideSnapshots counts the full snapshots Litestream took because the
// WAL was checkpointed, truncated or overwritten by another process than
// itself (its debug log names the reason of each sync).
func outsideSnapshots(log string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg=sync") && strings.Contains(l, "snap=true") && strings.Contains(l, "another process") {
			n++
		}
	}
	return n
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// restoredFigures is what verifyRestored found.
type restoredFigures struct {
	acked, before, restored, lost, duplicated, laterIn, present int
}

// verifyRestored checks a server on a restored store against what the
// clients sent: each transfer acknowledged before point must be there with
// its amount (else it is lost) and a resend must be answered as a replay
// (else it was applied again); the balances must be exactly funding plus the
// transfers the store holds, so none was applied twice.
func verifyRestored(t *testing.T, s *e2eServer, point time.Time, econs []*economy, sents [][]*sentTransfer) restoredFigures {
	t.Helper()
	var (
		f  restoredFigures
		mu sync.Mutex
		wg sync.WaitGroup
	)
	present := make(map[*sentTransfer]bool)
	for k, e := range econs {
		bySender := make([][]*sentTransfer, len(e.members))
		for _, st := range sents[k] {
			bySender[st.sender] = append(bySender[st.sender], st)
		}
		for c, list := range bySender {
			tok := e.members[c].token
			wg.Go(func() {
				for _, st := range list {
					status, body, err := s.call("GET", "/v1/transfers/"+st.id, tok, nil)
					if err != nil {
						t.Errorf("GET transfer %s: %v", st.id, err)
						return
					}
					in := status == http.StatusOK
					if in {
						var got transferAnswer
						if err := json.Unmarshal(body, &got); err != nil {
							t.Errorf("transfer %s: %v", st.id, err)
						}
						want := transferAnswer{st.id, e.members[st.sender].purse, e.members[st.to].purse, coffer.FormatAmount(st.amount, 2)}
						if got != want {
							t.Errorf("restored transfer %s: got %+v, want %+v", st.id, got, want)
						}
					} else if status != http.StatusNotFound {
						t.Errorf("GET transfer %s: got %d %s, want 200 or 404", st.id, status, bytes.TrimSpace(body))
					}
					acked := st.answered == http.StatusCreated
					before := acked && st.acked.Before(point)
					dup := false
					if before && in {
						// Sent again, an applied transfer is a replay.
						status, body, err := s.call("POST", "/v1/transfers", tok, st.body)
						if err != nil || status != http.StatusOK {
							t.Errorf("resend of restored %s: got %d %s %v, want 200 (applied once)", st.id, status, bytes.TrimSpace(body), err)
							dup = status == http.StatusCreated
						}
					}
					mu.Lock()
					if in {
						present[st] = true
						f.present++
					}
					if acked {
						f.acked++
					}
					switch {
					case before && in:
						f.before++
						f.restored++
					case before:
						f.before++
						f.lost++
						t.Errorf("transfer %s, acknowledged %s before the replicated point: not in the restored store", st.id, point.Sub(st.acked))
					case acked && in:
						f.laterIn++
					}
					if dup {
						f.duplicated++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	// The balances are exactly funding plus the transfers the store holds.
	for k, e := range econs {
		want := make([]int64, len(e.members))
		for i := range want {
			want[i] = funding
		}
		for _, st := range sents[k] {
			if present[st] {
				want[st.sender] -= st.amount
				want[st.to] += st.amount
			}
		}
		for i, m := range e.members {
			var p struct {
				Balance string `json:"balance"`
			}
			s.must(t, "GET", "/v1/purses/"+m.purse, m.token, nil, http.StatusOK, &p)
			if w := coffer.FormatAmount(want[i], 2); p.Balance != w {
				t.Errorf("restored purse %s: got balance %s, want %s (a transfer applied twice or half)", m.purse, p.Balance, w)
				f.duplicated++
			}
		}
	}
	return f
}
