package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/sqlite/sqlitetest"
)

// serveRefuses starts `cofferd serve` on data and expects it to exit with
// an error before serving; it returns what it wrote to stderr. The bound
// only keeps a server that wrongly starts from hanging the test.
func serveRefuses(t *testing.T, data string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cofferdBin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "off", "--log-level", "warn")
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("cofferd serve on a damaged database kept running; stdout:\n%s", out.String())
	}
	if exitCodeOf(err) == 0 || strings.Contains(out.String(), "listening on") {
		t.Fatalf("cofferd serve on a damaged database: got exit %d, want a refusal\nstdout:\n%s\nstderr:\n%s", exitCodeOf(err), out.String(), errOut.String())
	}
	return errOut.String()
}

// TestCofferd_RefusesDamagedDatabase makes a ledger with the real server,
// stops it, damages its file below SQLite and starts it again: the server
// refuses to serve, saying what to do, and `cofferd check` names the
// damage. The damaged (sender, transfer ID) index is the one that let a
// resent transfer be applied twice; the server never serves from it.
func TestCofferd_RefusesDamagedDatabase(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	e := newEconomy(t, s, 2)
	s.must(t, "POST", "/v1/transfers", e.members[0].token, map[string]string{"transfer_id": "resend-me",
		"from": e.members[0].purse, "to": e.members[1].purse, "amount": "1.00"}, http.StatusCreated, nil)
	if code := s.stop(); code != 0 {
		t.Fatalf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, data)
	clean, err := os.ReadFile(filepath.Join(data, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	copyOf := func(t *testing.T) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "coffer.db"), clean, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"secrets.key", "documents.key"} {
			if b, err := os.ReadFile(filepath.Join(data, f)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		return dir
	}
	wantRefusal := func(t *testing.T, stderr string) {
		t.Helper()
		for _, want := range []string{"the database is damaged", "cofferd check --full", "restore the database from a backup"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("cofferd serve: got stderr\n%s\nwant it to say %q", stderr, want)
			}
		}
	}
	wantCheckNames := func(t *testing.T, dir string, full bool, want string) {
		t.Helper()
		args := []string{"check", "--data", dir}
		if full {
			args = append(args, "--full")
		}
		out, errOut, code := cofferd(t, args...)
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(errOut, "the database is damaged") || strings.Contains(out, "all invariants hold") {
			t.Errorf("cofferd %v: got exit %d\n%s%s\nwant exit 1 naming %q", args, code, out, errOut, want)
		}
	}

	t.Run("UniqueIndexByte", func(t *testing.T) {
		dir := copyOf(t)
		path := filepath.Join(dir, "coffer.db")
		const index = "sqlite_autoindex_transfers_1"
		sqlitetest.ChangeKey(t, path, sqlitetest.RootPage(t, path, index), []byte("resend-me"), 'X')
		wantRefusal(t, serveRefuses(t, dir))
		wantCheckNames(t, dir, false, index)
		wantCheckNames(t, dir, true, index)
	})
	t.Run("ZeroedPage", func(t *testing.T) {
		dir := copyOf(t)
		path := filepath.Join(dir, "coffer.db")
		page := sqlitetest.RootPage(t, path, "entries")
		sqlitetest.ZeroPage(t, path, page)
		wantRefusal(t, serveRefuses(t, dir))
		wantCheckNames(t, dir, false, fmt.Sprintf("page %d:", page.Number))
	})
}
