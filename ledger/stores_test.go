package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/sqlite"
)

// testStore is a store the engine tests can open and close.
type testStore interface {
	coffer.Store
	Close() error
}

type opener func(t testing.TB) testStore

// stores are the stores every engine test runs against: a real SQLite
// file, and a real PostgreSQL server (skipped with a message when none is
// configured; scripts/test starts one). prepare runs once per test and
// returns the opener its fixtures use: a fresh SQLite file each time, or
// the test's own PostgreSQL schema (created and migrated once, so property
// tests that open a fixture per run do not pay for a schema each time;
// their fixtures use fresh random members and purses).
var stores = []struct {
	name    string
	prepare func(t testing.TB) opener
}{
	{"sqlite", func(testing.TB) opener {
		return func(t testing.TB) testStore {
			db, err := sqlite.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	}},
	{"postgres", func(t testing.TB) opener {
		u := pgtest.URL(t)
		return func(t testing.TB) testStore {
			db, err := postgres.Open(context.Background(), u, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	}},
}

// ledgerTime returns the time the store's ledger last stamped (zero when
// it is empty). The engine stamps nothing earlier, so a fixture with a
// clock of its own on a shared ledger starts no earlier.
func ledgerTime(t testing.TB, db coffer.LedgerStore) time.Time {
	t.Helper()
	var last time.Time
	err := db.ApplyBatch(context.Background(), func(tx coffer.LedgerTx) error {
		var err error
		last, err = tx.LastStamp(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// eachStore runs fn as one subtest per store.
func eachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { fn(t, s.prepare(t)) })
	}
}

// eachStoreB is eachStore for benchmarks.
func eachStoreB(b *testing.B, fn func(b *testing.B, open opener)) {
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) { fn(b, s.prepare(b)) })
	}
}
