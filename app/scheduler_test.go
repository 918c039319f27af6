package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// TestService_SchedulerLag: the lag counts from the start of the last pass
// that caught up; a pass that fails leaves it growing.
func TestService_SchedulerLag(t *testing.T) {
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
	s := app.New(db, eng, log, app.Config{Now: clk.Now})

	if got := s.SchedulerLag(); got != 0 {
		t.Fatalf("lag at the start: got %v, want 0", got)
	}
	clk.Advance(90 * time.Second)
	if got := s.SchedulerLag(); got != 90*time.Second {
		t.Fatalf("lag before the first pass: got %v, want 1m30s", got)
	}
	if _, err := s.SchedulerTick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.SchedulerLag(); got != 0 {
		t.Fatalf("lag after a pass: got %v, want 0", got)
	}
	clk.Advance(5 * time.Second)
	failed, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.SchedulerTick(failed); err == nil {
		t.Fatal("a pass on a cancelled context: got no error")
	}
	clk.Advance(5 * time.Second)
	if got := s.SchedulerLag(); got != 10*time.Second {
		t.Fatalf("lag after a failed pass: got %v, want 10s", got)
	}
}

// TestService_RunScheduler: the observer hears of every pass, with what
// it settled and its error.
func TestService_RunScheduler(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	type pass struct {
		settled int
		err     error
	}
	var passes []pass
	s := app.New(db, eng, log, app.Config{SchedulerObserver: func(n int, err error) {
		passes = append(passes, pass{n, err})
		if len(passes) == 2 {
			cancel()
		}
	}})
	s.RunScheduler(ctx, time.Millisecond) // returns once the observer cancels
	if len(passes) != 2 || passes[0] != (pass{}) || passes[1] != (pass{}) {
		t.Errorf("got passes %v, want two that settled nothing without error", passes)
	}
}
