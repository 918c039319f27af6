package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/coffer-money/coffer/postgres/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// TestMigrations_OneList: both dialects have the same migrations, by name,
// each with something in it (a change or a comment saying why none).
func TestMigrations_OneList(t *testing.T) {
	var lists [][]string
	for _, d := range []string{"sqlite", "postgres"} {
		fsys, err := fs.Sub(migrationFS, "migrations/"+d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := migrationFiles(fsys)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for _, n := range names {
			if b, _ := fs.ReadFile(fsys, n); len(strings.TrimSpace(string(b))) == 0 {
				t.Errorf("%s/%s is empty; a change a dialect does not need says why in a comment", d, n)
			}
		}
		lists = append(lists, names)
	}
	if !slices.Equal(lists[0], lists[1]) {
		t.Fatalf("sqlite has %v, postgres %v; want the same list", lists[0], lists[1])
	}
	if len(lists[0]) != SchemaVersion() {
		t.Fatalf("SchemaVersion() = %d, want %d", SchemaVersion(), len(lists[0]))
	}
}

// openSQLiteWriter opens the file as the SQLite store's writer does: one
// connection whose transactions take the write lock when they begin.
func openSQLiteWriter(t *testing.T, path string) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteFS(t *testing.T) fs.FS {
	t.Helper()
	fsys, err := fs.Sub(migrationFS, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// versionsAndSchema reads what schema_migrations records and the schema,
// by table or index name.
func versionsAndSchema(t *testing.T, db *sql.DB) ([]int, map[string]string) {
	t.Helper()
	var versions []int
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	schema := map[string]string{}
	rows, err = db.Query(`SELECT type || ' ' || name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, q string
		if err := rows.Scan(&k, &q); err != nil {
			t.Fatal(err)
		}
		schema[k] = strings.Join(strings.Fields(q), " ")
	}
	return versions, schema
}

func wantShared(n int) []int {
	var v []int
	for i := 1; i <= n; i++ {
		v = append(v, i)
	}
	return append(v, sharedNumbering)
}

// TestMigrate_SQLiteOldNumbering makes SQLite databases as programs from
// before the shared numbering left them, at every old version, and
// expects each renumbered and migrated to a new database's schema.
func TestMigrate_SQLiteOldNumbering(t *testing.T) {
	ctx := context.Background()
	d := migrationDialects["sqlite"]
	fsys := sqliteFS(t)
	files, err := migrationFiles(fsys)
	if err != nil {
		t.Fatal(err)
	}
	fresh := openSQLiteWriter(t, filepath.Join(t.TempDir(), "fresh.db"))
	if err := migrateWith(ctx, fresh, d, fsys); err != nil {
		t.Fatal(err)
	}
	wantVersions, wantSchema := versionsAndSchema(t, fresh)
	if !slices.Equal(wantVersions, wantShared(len(files))) {
		t.Fatalf("a new database records %v, want %v", wantVersions, wantShared(len(files)))
	}
	for old := 0; old <= 14; old++ {
		t.Run(fmt.Sprint(old), func(t *testing.T) {
			db := openSQLiteWriter(t, filepath.Join(t.TempDir(), "old.db"))
			// The old runner: old version v is the file now numbered
			// renumber[v] (or v), recorded as v.
			if _, err := db.Exec(d.create); err != nil {
				t.Fatal(err)
			}
			for v := 1; v <= old; v++ {
				n, ok := d.renumber[v]
				if !ok {
					n = v
				}
				body, err := fs.ReadFile(fsys, files[n-1])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(string(body)); err != nil {
					t.Fatalf("old version %d (%s): %v", v, files[n-1], err)
				}
				if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, 1000+v); err != nil {
					t.Fatal(err)
				}
			}
			if err := migrateWith(ctx, db, d, fsys); err != nil {
				t.Fatal(err)
			}
			versions, schema := versionsAndSchema(t, db)
			if !slices.Equal(versions, wantVersions) {
				t.Errorf("versions: got %v, want %v", versions, wantVersions)
			}
			for _, k := range slices.Sorted(maps.Keys(wantSchema)) {
				if schema[k] != wantSchema[k] {
					t.Errorf("%s:\n got %q\nwant %q", k, schema[k], wantSchema[k])
				}
			}
			if len(schema) != len(wantSchema) {
				t.Errorf("%d tables and indexes, want %d", len(schema), len(wantSchema))
			}
			for v := 1; v <= old; v++ {
				n, ok := d.renumber[v]
				if !ok {
					n = v
				}
				var at int
				if err := db.QueryRow(`SELECT applied_at FROM schema_migrations WHERE version = ?`, n).Scan(&at); err != nil || at != 1000+v {
					t.Errorf("version %d (old %d): applied_at %d, %v; want %d kept", n, v, at, err, 1000+v)
				}
			}
		})
	}
}

// TestMigrate_SQLiteConcurrent: processes opening one new SQLite file at
// once migrate it once.
func TestMigrate_SQLiteConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	// The file exists, in WAL mode, as the store leaves it before it
	// migrates (turning WAL on is not what is tested).
	if _, err := openSQLiteWriter(t, path).Exec(`PRAGMA user_version`); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 4)
	for range 4 {
		db := openSQLiteWriter(t, path)
		go func() { errc <- migrateWith(ctx, db, migrationDialects["sqlite"], sqliteFS(t)) }()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	versions, _ := versionsAndSchema(t, openSQLiteWriter(t, path))
	if want := wantShared(SchemaVersion()); !slices.Equal(versions, want) {
		t.Fatalf("versions: got %v, want %v", versions, want)
	}
}

// TestMigrate_CommentOnly: a migration holding only a comment (a change a
// dialect does not need) runs and is recorded on both drivers.
func TestMigrate_CommentOnly(t *testing.T) {
	fsys := fstest.MapFS{
		"0001_a.sql":    {Data: []byte("CREATE TABLE a (x INTEGER);\n")},
		"0002_none.sql": {Data: []byte("-- Nothing to change in this dialect: it has no such limit.\n")},
		"0003_b.sql":    {Data: []byte("-- b\nCREATE TABLE b (x INTEGER);\n")},
	}
	ctx := context.Background()
	count := func(t *testing.T, db *sql.DB) int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version BETWEEN 1 AND 3`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("sqlite", func(t *testing.T) {
		db := openSQLiteWriter(t, filepath.Join(t.TempDir(), "c.db"))
		for range 2 {
			if err := migrateWith(ctx, db, migrationDialects["sqlite"], fsys); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, db); n != 3 {
			t.Fatalf("%d versions recorded, want 3", n)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sql.Open("pgx", pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for range 2 {
			if err := migrateWith(ctx, db, migrationDialects["postgres"], fsys); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, db); n != 3 {
			t.Fatalf("%d versions recorded, want 3", n)
		}
		var marks int
		if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, sharedNumbering).Scan(&marks); err != nil || marks != 0 {
			t.Fatalf("%d rows of the shared numbering's mark, %v; want none where the numbering never changed", marks, err)
		}
	})
}

// TestMigrate_FailedMigrationRollsBack: a migration that fails leaves
// neither its changes nor its record, and the ones before it stay.
func TestMigrate_FailedMigrationRollsBack(t *testing.T) {
	fsys := fstest.MapFS{
		"0001_a.sql":   {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0002_bad.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")},
	}
	db := openSQLiteWriter(t, filepath.Join(t.TempDir(), "f.db"))
	err := migrateWith(context.Background(), db, migrationDialects["sqlite"], fsys)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("got %v, want an error naming 0002_bad.sql", err)
	}
	versions, schema := versionsAndSchema(t, db)
	if want := []int{1, sharedNumbering}; !slices.Equal(versions, want) {
		t.Errorf("versions: got %v, want %v", versions, want)
	}
	if _, ok := schema["table b"]; ok {
		t.Error("table b exists after its migration failed")
	}
}
