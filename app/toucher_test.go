package app_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// hangingTouches is the real store, except that TouchSession waits until
// release is closed, as a store whose synchronous standby is gone does.
type hangingTouches struct {
	coffer.Store
	entered chan time.Time // each touch, as it starts
	release chan struct{}
	wrote   chan time.Time // each touch, once written
}

func (h *hangingTouches) TouchSession(ctx context.Context, id string, at time.Time) error {
	h.entered <- at
	<-h.release
	err := h.Store.TouchSession(ctx, id, at)
	h.wrote <- at
	return err
}

// TestService_AuthenticateDoesNotWaitForTouch checks that a session touch
// that hangs in the store holds no request: the member authenticates and
// reads while it hangs, and the latest use reaches the store once it
// answers again.
func TestService_AuthenticateDoesNotWaitForTouch(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := &hangingTouches{Store: db, entered: make(chan time.Time, 8), release: make(chan struct{}), wrote: make(chan time.Time, 8)}
	svc := app.New(h, eng, log, app.Config{Now: clock,
		Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}})
	released := false
	t.Cleanup(func() {
		if !released {
			close(h.release)
		}
		svc.Close()
	})
	m, err := svc.Register(ctx, app.RegisterInput{Password: "a long enough secret"})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := svc.Login(ctx, app.LoginInput{Login: m.ID, Password: "a long enough secret"})
	if err != nil {
		t.Fatal(err)
	}

	advance(time.Minute) // due for a touch
	done := make(chan error, 1)
	go func() { _, err := svc.Authenticate(ctx, token); done <- err }()
	<-h.entered // the touch hangs now
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("authenticate while the touch hangs: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("authenticate waits for the session touch")
	}
	// Still hanging: more requests, one more touch due, and a read.
	advance(time.Minute)
	for range 3 {
		if _, err := svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("authenticate while the touch hangs: %v", err)
		}
	}
	if _, err := svc.Purses(ctx, m.ID); err != nil {
		t.Fatalf("read while the touch hangs: %v", err)
	}

	close(h.release)
	released = true
	first, second := <-h.wrote, <-h.wrote
	if want := now.Add(-time.Minute); !first.Equal(want) || !second.Equal(now) {
		t.Fatalf("touches written at %v, %v; want %v, %v", first, second, want, now)
	}
	list, err := db.Sessions(ctx, m.ID)
	if err != nil || len(list) != 1 || !list[0].LastUsedAt.Equal(now) {
		t.Fatalf("sessions after the touches: %v, %v; want one last used at %v", list, err, now)
	}
}
