package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// TestService_SessionCacheClockBack: a session revoked through another
// process is refused once the cache's few seconds are over, even when the
// clock went back after the session was cached (the cached copy is not
// trusted for as long as the clock went back).
func TestService_SessionCacheClockBack(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	clk := &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	cfg := app.Config{Now: clk.Now, Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}}
	one, other := app.New(db, eng, log, cfg), app.New(db, eng, log, cfg) // two processes on one database
	m, err := one.Register(ctx, app.RegisterInput{Password: "a long enough secret"})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := one.Login(ctx, app.LoginInput{Login: m.ID, Password: "a long enough secret", IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := one.Authenticate(ctx, token) // cached by one
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(-2 * time.Hour)
	if err := other.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second) // past the cache's few seconds
	if _, err := one.Authenticate(ctx, token); err == nil {
		t.Fatal("a session revoked through another process was still accepted after the clock went back")
	}
}
