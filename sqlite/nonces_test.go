package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer/sqlite"
)

// TestStore_UseNonce runs the shared UseNonce, which SQLite's group commit
// replaces, on SQLite: it must give the same answers.
func TestStore_UseNonce(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	shared := db.Store
	now := time.UnixMilli(1_700_000_000_000)
	exp := now.Add(6 * time.Minute)
	for i, c := range []struct {
		key, n    string
		at        time.Time
		wantFresh bool
	}{
		{"k1", "n1", now, true},
		{"k1", "n1", now.Add(time.Second), false},
		{"k2", "n1", now, true},
		{"k1", "n2", now, true},
		{"k1", "n1", exp.Add(-time.Millisecond), false},
		{"k1", "n1", exp, true},
		{"k1", "n1", exp.Add(time.Second), false},
	} {
		got, err := shared.UseNonce(ctx, c.key, c.n, c.at, c.at.Add(6*time.Minute))
		if err != nil || got != c.wantFresh {
			t.Fatalf("case %d: UseNonce(%s, %s, %v) = %v, %v; want %v", i, c.key, c.n, c.at, got, err, c.wantFresh)
		}
	}

	const n, dup = 100, 3
	var wg sync.WaitGroup
	fresh := make([]atomic.Int32, n)
	errs := make(chan error, n*dup)
	for i := range n * dup {
		wg.Go(func() {
			ok, err := shared.UseNonce(ctx, "k-many", fmt.Sprint("n-", i%n), now, now.Add(6*time.Minute))
			if err != nil {
				errs <- err
			}
			if ok {
				fresh[i%n].Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UseNonce at once: %v", err)
	}
	for i := range fresh {
		if got := fresh[i].Load(); got != 1 {
			t.Fatalf("nonce n-%d sent %d times at once was fresh %d times, want once", i, dup, got)
		}
	}
}
