package sqlstore_test

import (
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"
)

// releaseFile copies testdata/coffer-8d47bfb.db.gz, a data directory's
// database made by the release before the shared numbering (see
// testdata/README.md), into a new data directory and returns it.
func releaseFile(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/coffer-8d47bfb.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := os.OpenFile(filepath.Join(dir, sqlite.FileName), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sqliteFacts reads a closed store's recorded versions (version →
// applied_at) and its schema (table or index name → its SQL, spaces
// normalized).
func sqliteFacts(t *testing.T, dir string) (versions map[int]int64, schema map[string]string) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	versions = map[int]int64{}
	rows, err := raw.Query(`SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		versions[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	schema = map[string]string{}
	rows, err = raw.Query(`SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ, name, q string
		if err := rows.Scan(&typ, &name, &q); err != nil {
			t.Fatal(err)
		}
		schema[typ+" "+name] = strings.Join(strings.Fields(q), " ")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return versions, schema
}

func openSQLite(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return db
}

// sharedVersions reports whether versions are 1…SchemaVersion and the
// shared numbering's mark, and nothing else.
func sharedVersions(versions map[int]int64) bool {
	want := []int{1_000_000}
	for v := 1; v <= sqlstore.SchemaVersion(); v++ {
		want = append(want, v)
	}
	return slices.Equal(slices.Sorted(maps.Keys(versions)), slices.Sorted(slices.Values(want)))
}

func diffSchema(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s:\n got %q\nwant %q", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: got %q, want no such object", k, got[k])
		}
	}
}

// TestMigrate_SQLiteRelease opens a database made by the previous release
// (SQLite's old numbering) and expects it renumbered, migrated to the same
// schema as a new database, with its data intact; opening it again changes
// nothing.
func TestMigrate_SQLiteRelease(t *testing.T) {
	ctx := context.Background()
	dir := releaseFile(t)
	old, _ := sqliteFacts(t, dir)
	if len(old) != 14 {
		t.Fatalf("the release file records %d versions, want 14", len(old))
	}

	db := openSQLite(t, dir)
	func() {
		defer db.Close()
		rep, err := db.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			var b strings.Builder
			rep.Print(&b)
			t.Errorf("Check after the upgrade:\n%s", b.String())
		}
		if rep.Members != 3 || rep.Purses != 3 || rep.Transfers != 3 {
			t.Errorf("Check counts %d members, %d purses, %d transfers; want 3, 3, 3", rep.Members, rep.Purses, rep.Transfers)
		}
		const issuer, alice, bob = "871459349217", "197358716843", "732857726773"
		for _, c := range []struct {
			login, id string
		}{{"issuer@example.org", issuer}, {"alice@example.org", alice}, {"bob@example.org", bob}} {
			m, err := db.MemberByLogin(ctx, c.login)
			if err != nil || m.ID != c.id {
				t.Errorf("MemberByLogin(%s) = %v, %v; want member %s", c.login, m, err, c.id)
			}
		}
		for _, c := range []struct {
			number, owner  string
			balance, limit int64
			issuer         bool
		}{
			{"Z906678294947", issuer, -25000, 100000000, true},
			{"Z993402280611", alice, 21000, 0, false},
			{"Z808392209447", bob, 4000, 0, false},
		} {
			p, err := db.Purse(ctx, c.number)
			if err != nil {
				t.Errorf("Purse(%s): %v", c.number, err)
				continue
			}
			if p.Owner != c.owner || p.Balance != c.balance || p.Issuer != c.issuer || p.Limit != c.limit || p.Currency != "USD" || p.Held != 0 || p.Closed {
				t.Errorf("Purse(%s) = %+v; want owner %s, balance %d, issuer %v, limit %d, USD", c.number, p, c.owner, c.balance, c.issuer, c.limit)
			}
		}
		for _, c := range []struct {
			sender, id, from, to string
			amount               int64
			desc                 string
		}{
			{issuer, "MUBMA6BD2YXVYURWDOB3VQ577M", "Z906678294947", "Z993402280611", 25000, "top-up"},
			{alice, "5JM2HF3DL2YBNKRJ4UW6T3JLIV", "Z993402280611", "Z808392209447", 4025, "lunch"},
			{bob, "EB2U76TX2QBI4PT6M2BKYVNA6Z", "Z808392209447", "Z993402280611", 25, "change"},
		} {
			tr, err := db.Transfer(ctx, c.sender, c.id, "")
			if err != nil {
				t.Errorf("Transfer(%s): %v", c.id, err)
				continue
			}
			if tr.From != c.from || tr.To != c.to || tr.Amount != c.amount || tr.Description != c.desc || tr.Kind != "transfer" || tr.Status != "completed" {
				t.Errorf("Transfer(%s) = %+v; want %s → %s, %d, %q, a completed transfer", c.id, tr, c.from, c.to, c.amount, c.desc)
			}
		}
		st, err := db.MemberStatus(ctx, issuer)
		if err != nil || st.Level != "personal" {
			t.Errorf("MemberStatus(issuer) = %+v, %v; want level personal", st, err)
		}
		pr, err := db.Profile(ctx, alice)
		if err != nil || pr.Values["first_name"] != "Alice" || pr.Values["city"] != "Berlin" {
			t.Errorf("Profile(alice) = %+v, %v; want first_name Alice, city Berlin", pr, err)
		}
		cs, err := db.Contacts(ctx, alice)
		if err != nil || len(cs) != 1 || cs[0].ContactID != bob || cs[0].Note != "Bob" {
			t.Errorf("Contacts(alice) = %v, %v; want Bob", cs, err)
		}
		ev, err := db.AuditEvents(ctx, alice, 0, 100)
		if err != nil || len(ev) == 0 {
			t.Errorf("AuditEvents(alice) = %d events, %v; want some", len(ev), err)
		}
	}()

	versions, schema := sqliteFacts(t, dir)
	if !sharedVersions(versions) {
		t.Fatalf("versions after the upgrade: got %v, want 1…%d and the shared numbering's mark", slices.Sorted(maps.Keys(versions)), sqlstore.SchemaVersion())
	}
	// Each renumbered version keeps when it was applied.
	renumbered := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 9, 8: 10, 9: 11, 10: 12, 11: 13, 12: 14, 13: 8, 14: 15}
	for o, n := range renumbered {
		if versions[n] != old[o] {
			t.Errorf("version %d (was %d) applied at %d, want %d", n, o, versions[n], old[o])
		}
	}
	fresh := t.TempDir()
	openSQLite(t, fresh).Close()
	_, want := sqliteFacts(t, fresh)
	if _, ok := want["table instance_keys"]; !ok || len(want) < 50 {
		t.Fatalf("a new database has %d tables and indexes, without instance_keys: the schema was not read", len(want))
	}
	diffSchema(t, schema, want)

	t.Run("again", func(t *testing.T) {
		openSQLite(t, dir).Close()
		again, schemaAgain := sqliteFacts(t, dir)
		if !maps.Equal(again, versions) {
			t.Errorf("versions after a second open: got %v, want %v", again, versions)
		}
		diffSchema(t, schemaAgain, schema)
	})
}

// TestMigrate_SQLiteNewerSchema: a database with a version this program
// does not know is refused, whether in the shared numbering or the old one.
func TestMigrate_SQLiteNewerSchema(t *testing.T) {
	for _, c := range []struct {
		name, damage string
	}{
		{"shared numbering", `INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`},
		{"old numbering", `DELETE FROM schema_migrations WHERE version = 1000000; INSERT INTO schema_migrations (version, applied_at) VALUES (15, 0)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := releaseFile(t)
			if c.name == "shared numbering" {
				openSQLite(t, dir).Close()
			}
			raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(c.damage); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			before, schemaBefore := sqliteFacts(t, dir)
			db, err := sqlite.Open(context.Background(), dir)
			if err == nil {
				db.Close()
				t.Fatal("Open: got a store, want a refusal")
			}
			if !strings.Contains(err.Error(), "run a newer cofferd") {
				t.Fatalf("Open: got %v, want a refusal saying to run a newer cofferd", err)
			}
			after, schemaAfter := sqliteFacts(t, dir)
			if !maps.Equal(after, before) {
				t.Errorf("versions after the refusal: got %v, want %v", after, before)
			}
			diffSchema(t, schemaAfter, schemaBefore)
		})
	}
}

// TestMigrate_SQLiteOldProgramRefuses: programs from before the shared
// numbering compared only the highest recorded version with the newest
// they knew (14 for SQLite), so an upgraded database must record a higher
// one for them to refuse it.
func TestMigrate_SQLiteOldProgramRefuses(t *testing.T) {
	dir := t.TempDir()
	openSQLite(t, dir).Close()
	versions, _ := sqliteFacts(t, dir)
	if newest := slices.Max(slices.Collect(maps.Keys(versions))); newest <= 14 {
		t.Fatalf("highest recorded version %d, want above 14", newest)
	}
}

// pgFacts reads the recorded versions and the schema (columns, indexes
// and constraints) of the database at u.
func pgFacts(t *testing.T, u string) (versions map[int]int64, schema map[string]string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	versions = map[int]int64{}
	rows, _ := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations`)
	var v int
	var at int64
	if _, err := pgx.ForEachRow(rows, []any{&v, &at}, func() error { versions[v] = at; return nil }); err != nil {
		t.Fatal(err)
	}
	schema = map[string]string{}
	var k, d string
	rows, _ = conn.Query(ctx, `
		SELECT 'column ' || table_name || '.' || column_name, data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
			FROM information_schema.columns WHERE table_schema = current_schema()
		UNION ALL
		SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
			FROM pg_constraint WHERE connamespace = current_schema()::regnamespace`)
	if _, err := pgx.ForEachRow(rows, []any{&k, &d}, func() error { schema[k] = d; return nil }); err != nil {
		t.Fatal(err)
	}
	return versions, schema
}

// TestMigrate_PostgresOldDatabase: PostgreSQL kept its numbering, so a
// database migrated by the previous release's runner (all migrations in one
// transaction, versions 1…15) opens unchanged, and older programs can still
// open it.
func TestMigrate_PostgresOldDatabase(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// What the previous release's migrate did, with its files (moved here
	// unchanged).
	names, err := filepath.Glob("migrations/postgres/*.sql")
	if err != nil || len(names) != sqlstore.SchemaVersion() {
		t.Fatalf("migrations/postgres: %d files, %v; want %d", len(names), err, sqlstore.SchemaVersion())
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for i, n := range names {
			body, err := os.ReadFile(n)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, i+1, 1700000000+i); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO members (id, password_hash, created_at) VALUES ('100000000001', 'x', 0)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before, schemaBefore := pgFacts(t, u)
	if len(before) != sqlstore.SchemaVersion() || len(schemaBefore) < 100 {
		t.Fatalf("the old runner recorded %d versions and made %d columns, indexes and constraints: not read", len(before), len(schemaBefore))
	}

	for range 2 {
		db, err := postgres.Open(ctx, u, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.MemberByLogin(ctx, "100000000001"); err != nil {
			t.Errorf("member lost: %v", err)
		}
		db.Close()
		after, schemaAfter := pgFacts(t, u)
		if !maps.Equal(after, before) {
			t.Errorf("versions: got %v, want %v unchanged", after, before)
		}
		diffSchema(t, schemaAfter, schemaBefore)
	}
}
