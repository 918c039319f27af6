package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer/otp"
	"github.com/coffer-money/coffer/sqlite"
)

// TestCofferd_BackupUnderLoad copies a running server's store with
// `cofferd backup` while clients keep sending transfers: every transfer
// acknowledged before the backup started is in the copy, the copy passes
// `cofferd check`, its files are the owner's only, and a server started on
// the restored copy opens what the keys seal (a generator seed: the member
// logs in with a TOTP code).
func TestCofferd_BackupUnderLoad(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	s := startServer(t, data)
	if out, errOut, code := cofferd(t, "admin", "ca", "init", "--data", data); code != 0 {
		t.Fatalf("cofferd admin ca init: got exit %d\n%s%s", code, out, errOut)
	}
	e := newEconomy(t, s, 8)

	// A member with a code generator: its seed is sealed with secrets.key.
	gm := registerMember(t, s)
	var en struct {
		Secret string `json:"secret"`
	}
	s.must(t, "POST", "/v1/security/totp", gm.token, nil, http.StatusCreated, &en)
	seed, err := otp.DecodeSecret(en.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := otp.TOTP(otp.SHA1, seed, time.Now(), otp.TOTPDigits)
	s.must(t, "POST", "/v1/security/totp/verify", gm.token, map[string]string{"code": code}, http.StatusOK, nil)

	lctx, cancel := context.WithCancel(ctx)
	var applied atomic.Int64
	var sent []*sentTransfer
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		sent = load(lctx, t, s, e, &applied)
	}()
	// The clients report through t, so they end before the test does.
	t.Cleanup(func() { cancel(); <-loaded })
	if !waitFor(20*time.Second, func() bool { return applied.Load() >= 200 }) {
		t.Fatalf("got %d transfers applied in 20 s, want 200 before the backup", applied.Load())
	}
	dest := filepath.Join(t.TempDir(), "backup")
	started := time.Now()
	out, errOut, exit := cofferd(t, "backup", "--data", data, "--to", dest)
	if exit != 0 || !strings.Contains(out, "all invariants hold") {
		t.Fatalf("cofferd backup under load: got exit %d, want 0 and a passing check\n%s%s", exit, out, errOut)
	}
	// The clients go on after the backup, so it ran amid their writes.
	after := applied.Load()
	if !waitFor(20*time.Second, func() bool { return applied.Load() >= after+100 }) {
		t.Fatalf("got %d transfers applied, want the load to go on after the backup", applied.Load())
	}
	cancel()
	<-loaded
	t.Logf("cofferd backup:\n%s", out)

	t.Run("Modes", func(t *testing.T) {
		want := map[string]os.FileMode{".": 0o700, "coffer.db": 0o600, "secrets.key": 0o600, "documents.key": 0o600,
			"ca": 0o700, "ca/ca.crt": 0o600, "ca/ca.key": 0o600}
		err := filepath.WalkDir(dest, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dest, path)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if w, ok := want[rel]; !ok {
				t.Errorf("backup holds %s, want only %v", rel, want)
			} else if fi.Mode().Perm() != w {
				t.Errorf("%s: got mode %v, want %v", rel, fi.Mode().Perm(), w)
			}
			delete(want, rel)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) > 0 {
			t.Errorf("backup lacks %v", want)
		}
		for _, f := range []string{"secrets.key", "documents.key", "ca/ca.key", "ca/ca.crt"} {
			a, _ := os.ReadFile(filepath.Join(data, f))
			b, _ := os.ReadFile(filepath.Join(dest, f))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s: the copy differs from the original", f)
			}
		}
	})

	// Every transfer acknowledged before the backup started is in the copy.
	db, err := sqlite.Open(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	before, later, laterIn := 0, 0, 0
	for _, st := range sent {
		if st.answered != http.StatusCreated {
			continue
		}
		sender := e.members[st.sender]
		tr, err := db.Transfer(ctx, sender.id, st.id, sender.purse)
		if !st.acked.Before(started) {
			later++
			if err == nil {
				laterIn++
			}
			continue
		}
		before++
		if err != nil {
			t.Errorf("transfer %s, acknowledged %v before the backup started: not in the copy: %v", st.id, started.Sub(st.acked), err)
			continue
		}
		if tr.Amount != st.amount || tr.To != e.members[st.to].purse {
			t.Errorf("transfer %s in the copy: got %d to %s, want %d to %s", st.id, tr.Amount, tr.To, st.amount, e.members[st.to].purse)
		}
	}
	db.Close()
	t.Logf("%d transfers acknowledged before the backup started, all in the copy; %d after, %d of them in the copy", before, later, laterIn)
	if before < 200 || later == 0 {
		t.Errorf("got %d transfers acknowledged before the backup and %d after, want at least 200 and some", before, later)
	}
	checkLedger(t, dest)

	t.Run("RefusesExistingDestination", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(dest, "coffer.db"))
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := cofferd(t, "backup", "--data", data, "--to", dest)
		if code == 0 || !strings.Contains(errOut, "refusing to overwrite") {
			t.Errorf("cofferd backup into a backup: got exit %d, want a refusal\n%s%s", code, out, errOut)
		}
		if fi2, err := os.Stat(filepath.Join(dest, "coffer.db")); err != nil || !fi2.ModTime().Equal(fi.ModTime()) || fi2.Size() != fi.Size() {
			t.Errorf("cofferd backup changed the backup it refused: %v %v, was %v", fi2, err, fi)
		}
	})

	t.Run("Restore", func(t *testing.T) {
		restored := filepath.Join(t.TempDir(), "restored")
		out, errOut, code := cofferd(t, "restore", "--from", dest, "--data", restored)
		if code != 0 || !strings.Contains(out, "all invariants hold") {
			t.Fatalf("cofferd restore: got exit %d, want 0 and a passing check\n%s%s", code, out, errOut)
		}
		for f, w := range map[string]os.FileMode{"": 0o700, "coffer.db": 0o600, "secrets.key": 0o600, "documents.key": 0o600, "ca": 0o700, "ca/ca.key": 0o600} {
			if fi, err := os.Stat(filepath.Join(restored, f)); err != nil || fi.Mode().Perm() != w {
				t.Errorf("restored %q: got %v %v, want mode %v", f, fi, err, w)
			}
		}
		// Restoring over it again is refused; with --force the old one is
		// moved aside.
		if out, errOut, code := cofferd(t, "restore", "--from", dest, "--data", restored); code == 0 || !strings.Contains(errOut, "not empty") {
			t.Errorf("cofferd restore into a store: got exit %d, want a refusal\n%s%s", code, out, errOut)
		}
		if out, errOut, code := cofferd(t, "restore", "--from", dest, "--data", restored, "--force"); code != 0 || !strings.Contains(out, "moved "+restored+" aside") {
			t.Fatalf("cofferd restore --force: got exit %d, want 0 and the old one moved aside\n%s%s", code, out, errOut)
		}
		if m, _ := filepath.Glob(restored + ".before-restore-*"); len(m) != 1 {
			t.Errorf("got %v, want the store moved aside", m)
		}
		// A backup kept inside the data directory would be moved aside with it.
		if out, errOut, code := cofferd(t, "restore", "--from", dest, "--data", filepath.Dir(dest), "--force"); code == 0 || !strings.Contains(errOut, "inside the data directory") {
			t.Errorf("cofferd restore --force over the backup's own directory: got exit %d, want a refusal\n%s%s", code, out, errOut)
		}

		// The keys match the database: the server starts (it refuses keys
		// whose fingerprints differ from those pinned), opens the sealed
		// generator seed, and the money is there.
		s2 := startServer(t, restored)
		var pending struct {
			ChallengeID string `json:"challenge_id"`
		}
		s2.must(t, "POST", "/v1/sessions", "", map[string]string{"login": gm.id, "password": e2ePassword}, http.StatusAccepted, &pending)
		// The step after the current one: the step used to enrol is spent.
		totp, _ := otp.TOTP(otp.SHA1, seed, time.Now().Add(otp.TOTPPeriod*time.Second), otp.TOTPDigits)
		s2.must(t, "POST", "/v1/sessions/"+pending.ChallengeID+"/confirm", "", map[string]string{"code": totp}, http.StatusCreated, nil)
		for _, st := range sent {
			if st.answered == http.StatusCreated && st.acked.Before(started) {
				s2.must(t, "GET", "/v1/transfers/"+st.id, e.members[st.sender].token, nil, http.StatusOK, nil)
				break
			}
		}
		if code := s2.stop(); code != 0 {
			t.Errorf("cofferd on the restored copy after SIGTERM: got exit %d, want 0", code)
		}
	})

	t.Run("RefusesPostgres", func(t *testing.T) {
		out, errOut, code := cofferd(t, "backup", "--data", data, "--to", filepath.Join(t.TempDir(), "b"), "--db", "postgres://nobody@127.0.0.1:1/coffer")
		if code == 0 || !strings.Contains(errOut, "pg_basebackup") || !strings.Contains(errOut, "secrets.key") {
			t.Errorf("cofferd backup --db: got exit %d, want a pointer to pg_basebackup and the key files\n%s%s", code, out, errOut)
		}
	})
}
