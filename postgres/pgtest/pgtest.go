// Package pgtest gives tests a PostgreSQL database: a fresh schema on the
// server named by COFFER_TEST_POSTGRES (scripts/test starts a throwaway one),
// or a whole server of their own for tests that stop and kill it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variable holding the URL of a PostgreSQL server tests may
// create schemas on.
const Env = "COFFER_TEST_POSTGRES"

// SkipMessage says how to run the PostgreSQL tests.
const SkipMessage = "PostgreSQL tests skipped: set " + Env + "=postgres://user@host:port/db (a server the tests may create schemas on), or run scripts/test, which starts a throwaway PostgreSQL with initdb and pg_ctl"

// ServerURL returns the server URL from the environment. Without one the
// test is skipped, except in CI (CI set), where it fails: there the suite
// must run against both stores.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but " + Env + " is not: " + SkipMessage)
		}
		t.Skip(SkipMessage)
	}
	return u
}

// URL creates an empty schema on the test server, dropped when the test
// ends, and returns a URL whose connections use it (search_path).
func URL(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	return schemaURL(t, base)
}

func schemaURL(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// Check runs amcheck and creates it where it is missing, in the
	// current schema: created in a test's schema, it would go with that
	// schema while other tests' checks use it. Where the role may not
	// create it, the checks report it skipped.
	conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA public")
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return // the server is gone (a test stopped it); nothing to clean
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	// The application name lets a test find its own server connections
	// (pg_stat_activity) to cut them.
	return WithParam(WithParam(base, "search_path", schema), "application_name", schema)
}

// WithParam returns u with a query parameter set.
func WithParam(u, k, v string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	return p.Redacted()
}

// Server is a PostgreSQL server of a test's own, in a temp directory.
type Server struct {
	t       testing.TB
	Dir     string
	Port    int
	URL     string // of the "postgres" database
	runAs   []string
	logFile string
}

// StartServer initialises and starts a server of the test's own (for tests
// that stop or kill it), stopped when the test ends. It needs the same
// environment as URL (it runs only where the PostgreSQL tests run) and
// initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin.
func StartServer(t testing.TB) *Server {
	t.Helper()
	ServerURL(t)
	initdb, err := findBin("initdb")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "coffer-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, Dir: dir, logFile: filepath.Join(dir, "log")}
	// PostgreSQL refuses to run as root: then it runs as nobody.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("pgtest: running as root needs the user nobody: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.runAs = []string{"runuser", "-u", "nobody", "--"}
	}
	if out, err := s.run(initdb, "-D", filepath.Join(dir, "data"), "-U", "coffer", "-A", "trust", "-E", "UTF8", "--no-locale"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	s.Port = freePort(t)
	s.URL = fmt.Sprintf("postgres://coffer@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	s.Start()
	t.Cleanup(func() { s.Stop("immediate") })
	return s
}

func (s *Server) run(bin string, args ...string) ([]byte, error) {
	all := append(append([]string{}, s.runAs...), append([]string{bin}, args...)...)
	c := exec.Command(all[0], all[1:]...)
	c.Dir = s.Dir
	return c.CombinedOutput()
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		s.t.Fatal(err)
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=on -c synchronous_commit=on", s.Port, s.Dir)
	if out, err := s.run(pgctl, "-D", filepath.Join(s.Dir, "data"), "-l", s.logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(s.logFile)
		s.t.Fatalf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server: mode "immediate" is a crash (no checkpoint, WAL
// replay at the next start), "fast" a clean shutdown.
func (s *Server) Stop(mode string) {
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		return
	}
	s.run(pgctl, "-D", filepath.Join(s.Dir, "data"), "-m", mode, "-w", "stop")
}

// SchemaURL creates a fresh schema on this server.
func (s *Server) SchemaURL(t testing.TB) string { return schemaURL(t, s.URL) }

func findBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("pgtest: %s not found on PATH or in /usr/lib/postgresql/*/bin", name)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitReady waits until the server at u answers, up to d.
func WaitReady(u string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := pgx.Connect(context.Background(), u)
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
