package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The schema's history, one list for both dialects: migrations/sqlite and
// migrations/postgres hold the same file names, NNNN_what.sql numbered 1,
// 2, 3… without gaps, each the same change written for its dialect. A
// change one dialect does not need still has its file there, saying why.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// SchemaVersion is the newest migration this program knows, the same in
// every dialect.
func SchemaVersion() int {
	names, _ := fs.Glob(migrationFS, "migrations/postgres/*.sql")
	return len(names)
}

// Migrate brings the database up to SchemaVersion, applying each missing
// migration of the dialect ("sqlite" or "postgres") in its own transaction
// and recording it in schema_migrations. It refuses a database that a newer
// program has migrated. Processes migrating one database at once apply each
// migration once: SQLite's writer begins its transactions IMMEDIATE (the
// database's write lock), PostgreSQL's lock schema_migrations.
func Migrate(ctx context.Context, db *sql.DB, dialect string) error {
	d, ok := migrationDialects[dialect]
	if !ok {
		return fmt.Errorf("sqlstore: migrate: unknown dialect %q", dialect)
	}
	fsys, err := fs.Sub(migrationFS, "migrations/"+dialect)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	return migrateWith(ctx, db, d, fsys)
}

// migrationDialect is what the migration runner needs of a dialect.
type migrationDialect struct {
	name string // the messages' prefix and the directory under migrations/

	create string // makes schema_migrations if it is missing
	// createRaced reports whether an error of create only means that
	// another process made the table at the same moment.
	createRaced func(error) bool
	// lock, when set, begins every migration transaction: it serializes
	// processes migrating at once.
	lock string
	// insert records a version: parameters version and applied_at.
	insert string
	// renumber maps the versions a database made before the shared
	// numbering recorded to their shared numbers (versions it lacks keep
	// theirs); nil when the dialect's numbering was always the shared one.
	// See sharedNumbering.
	renumber map[int]int
}

var migrationDialects = map[string]migrationDialect{
	"sqlite": {
		name:   "sqlite",
		create: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		insert: `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		// SQLite numbered the changes in the order they were written for
		// it (0007_payments … 0014_attempts); the shared numbering is
		// PostgreSQL's, which had 0007_instance and 0008_nonces first.
		renumber: map[int]int{7: 9, 8: 10, 9: 11, 10: 12, 11: 13, 12: 14, 13: 8, 14: 15},
	},
	"postgres": {
		name:   "postgres",
		create: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		// Two processes creating the table at once: one of them may be
		// told it exists (in any of three ways) although IF NOT EXISTS
		// found none.
		createRaced: func(err error) bool {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				return false
			}
			switch pe.Code {
			case "23505", "42P07", "42710": // unique_violation, duplicate_table, duplicate_object
				return true
			}
			return false
		},
		// EXCLUSIVE mode lets readers of schema_migrations in but no
		// other migrator, until the transaction ends.
		lock:   `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`,
		insert: `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
	},
}

// sharedNumbering is the version of a row in schema_migrations that says
// the database's versions are in the shared numbering. It matters where a
// dialect was renumbered (SQLite):
//
//   - A database without the row was made by a program from before the
//     shared numbering, so its versions are in its dialect's old one. The
//     runner renumbers them (keeping when each was applied) and adds the
//     row, in one transaction, before it migrates; from then on it applies
//     what is missing in shared order. A new database gets the row the
//     same way, before its first migration, so the row's absence is never
//     ambiguous.
//   - Programs from before the shared numbering compare only the highest
//     version with the newest they know: this one is higher than any of
//     them knows, so they refuse the database ("run a newer cofferd")
//     instead of applying their migrations under the old numbers.
//
// The runner itself leaves the row out when it compares versions. Where the
// numbering did not change (PostgreSQL) it writes no such row, so older
// programs still open the database.
const sharedNumbering = 1_000_000

// migrateWith is Migrate with the dialect's migrations in fsys (tests give
// their own).
func migrateWith(ctx context.Context, db *sql.DB, d migrationDialect, fsys fs.FS) error {
	files, err := migrationFiles(fsys)
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	if _, err := db.ExecContext(ctx, d.create); err != nil && (d.createRaced == nil || !d.createRaced(err)) {
		return fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	if d.renumber != nil {
		if err := renumberMigrations(ctx, db, d); err != nil {
			return err
		}
	}
	for {
		done, err := migrateNext(ctx, db, d, fsys, files)
		if err != nil || done {
			return err
		}
	}
}

// migrationFiles lists the migrations in fsys in order and checks that
// they are numbered 1, 2, 3… without gaps, so that a file's position is its
// version.
func migrationFiles(fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for i, n := range names {
		if !strings.HasPrefix(path.Base(n), fmt.Sprintf("%04d_", i+1)) {
			return nil, fmt.Errorf("migration %s is out of sequence (want %04d_…)", n, i+1)
		}
	}
	return names, nil
}

// migrateNext applies, in one transaction, the first migration the
// database lacks, and reports done when it lacks none. Reading what is
// applied inside the transaction that applies the next one is what makes
// concurrent migrators safe.
func migrateNext(ctx context.Context, db *sql.DB, d migrationDialect, fsys fs.FS, files []string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	defer tx.Rollback()
	if d.lock != "" {
		if _, err := tx.ExecContext(ctx, d.lock); err != nil {
			return false, fmt.Errorf("%s: migrate: %w", d.name, err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations WHERE version <> `+fmt.Sprint(sharedNumbering))
	if err != nil {
		return false, fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	applied := map[int]bool{}
	newest := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return false, fmt.Errorf("%s: migrate: %w", d.name, err)
		}
		applied[v] = true
		newest = max(newest, v)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	if newest > len(files) {
		return false, fmt.Errorf("%s: the database schema is version %d but this program knows only up to %d; run a newer cofferd", d.name, newest, len(files))
	}
	next := 0
	for v := 1; v <= len(files); v++ {
		if !applied[v] {
			next = v
			break
		}
	}
	if next == 0 {
		return true, nil
	}
	name := files[next-1]
	body, err := fs.ReadFile(fsys, name)
	if err != nil {
		return false, fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return false, fmt.Errorf("%s: migration %s: %w", d.name, name, err)
	}
	if _, err := tx.ExecContext(ctx, d.insert, next, time.Now().Unix()); err != nil {
		return false, fmt.Errorf("%s: migration %s: %w", d.name, name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("%s: migration %s: %w", d.name, name, err)
	}
	return false, nil
}

// renumberMigrations gives a database without the sharedNumbering row its
// versions in the shared numbering, and the row, in one transaction.
func renumberMigrations(ctx context.Context, db *sql.DB, d migrationDialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	defer tx.Rollback()
	var marked bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = `+fmt.Sprint(sharedNumbering)+`)`).Scan(&marked); err != nil {
		return fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	if marked {
		return nil
	}
	type row struct{ version, appliedAt int64 }
	var old []row
	rows, err := tx.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.version, &r.appliedAt); err != nil {
			rows.Close()
			return fmt.Errorf("%s: migrate: %w", d.name, err)
		}
		old = append(old, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: migrate: %w", d.name, err)
	}
	// The old numbering ended where the renumbered versions do: any
	// version beyond was written by a program this one does not know.
	oldNewest := 0
	for v := range d.renumber {
		oldNewest = max(oldNewest, v)
	}
	for _, r := range old {
		if r.version > int64(oldNewest) {
			return fmt.Errorf("%s: the database schema is version %d of the numbering before the shared one, which ended at %d; run a newer cofferd", d.name, r.version, oldNewest)
		}
	}
	// The new numbers are a permutation of the old ones, so the rows are
	// removed before any is written back.
	for _, r := range old {
		if _, ok := d.renumber[int(r.version)]; ok {
			if _, err := tx.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = `+fmt.Sprint(r.version)); err != nil {
				return fmt.Errorf("%s: migrate: renumber: %w", d.name, err)
			}
		}
	}
	for _, r := range old {
		if v, ok := d.renumber[int(r.version)]; ok {
			if _, err := tx.ExecContext(ctx, d.insert, v, r.appliedAt); err != nil {
				return fmt.Errorf("%s: migrate: renumber: %w", d.name, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, d.insert, sharedNumbering, time.Now().Unix()); err != nil {
		return fmt.Errorf("%s: migrate: renumber: %w", d.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: migrate: renumber: %w", d.name, err)
	}
	return nil
}
