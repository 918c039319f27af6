package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/coffer-money/coffer/storetest"
)

func openURL(t *testing.T, u string, opt postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), u, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T) coffer.Store { return openURL(t, pgtest.URL(t), postgres.Options{}) }

func TestDB_Contract(t *testing.T) { storetest.Run(t, open) }

func TestDB_ContractSerializable(t *testing.T) {
	storetest.Run(t, func(t *testing.T) coffer.Store {
		return openURL(t, pgtest.URL(t), postgres.Options{Isolation: "serializable"})
	})
}

// TestDB_PinKey: the first process pins a key's fingerprint; one with
// another key is refused with a message naming both.
func TestDB_PinKey(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u, postgres.Options{}), openURL(t, u, postgres.Options{})
	if err := a.PinKey(ctx, "secrets key", "aaaa"); err != nil {
		t.Fatal(err)
	}
	if err := b.PinKey(ctx, "secrets key", "aaaa"); err != nil {
		t.Fatalf("same key from a second process: %v", err)
	}
	err := b.PinKey(ctx, "secrets key", "bbbb")
	if err == nil || !strings.Contains(err.Error(), "aaaa") || !strings.Contains(err.Error(), "bbbb") {
		t.Fatalf("another key: got %v, want a refusal naming both fingerprints", err)
	}
}

// TestDB_RefusesNewerSchema: a server refuses a database migrated by a
// newer program.
func TestDB_RefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	db := openURL(t, u, postgres.Options{})
	if _, err := db.Pool().Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(ctx, u, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "knows only") {
		t.Fatalf("Open on a newer schema: got %v, want a refusal naming the versions", err)
	}
}

// TestDB_MigratesConcurrently: processes starting together on an empty
// database migrate it once.
func TestDB_MigratesConcurrently(t *testing.T) {
	u := pgtest.URL(t)
	errc := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			db, err := postgres.Open(context.Background(), u, postgres.Options{})
			if err == nil {
				db.Close()
			}
			errc <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errc; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	db := openURL(t, u, postgres.Options{})
	var n, max int
	if err := db.Pool().QueryRow(context.Background(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != sqlstore.SchemaVersion() || max != sqlstore.SchemaVersion() {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d", n, max, sqlstore.SchemaVersion())
	}
}

// TestDB_UseNonce: a nonce is new once per key until it expires, for every
// process on the database.
func TestDB_UseNonce(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u, postgres.Options{}), openURL(t, u, postgres.Options{})
	now := time.Now()
	exp := now.Add(time.Minute)
	for _, c := range []struct {
		db        *postgres.DB
		key, n    string
		at        time.Time
		wantFresh bool
	}{
		{a, "k1", "n1", now, true},
		{b, "k1", "n1", now, false}, // replayed to another process
		{a, "k2", "n1", now, true},  // another key
		{b, "k1", "n1", exp.Add(time.Second), true},
	} {
		got, err := c.db.UseNonce(ctx, c.key, c.n, c.at, c.at.Add(time.Minute))
		if err != nil || got != c.wantFresh {
			t.Fatalf("UseNonce(%s, %s, %v) = %v, %v; want %v", c.key, c.n, c.at, got, err, c.wantFresh)
		}
	}
}
