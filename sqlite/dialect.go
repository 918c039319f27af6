package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-money/coffer"

	"github.com/coffer-money/coffer/sqlstore"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// dialect is SQLite's part of the shared SQL layer. One writer connection
// runs one transaction at a time (BEGIN IMMEDIATE), so no row or head needs
// a lock of its own; what needs care is the ledger's cache of purses, limits
// and fee rules, which a write that changes them must drop.
type dialect struct{ db *DB }

var _ sqlstore.Dialect = dialect{}

func (dialect) Name() string            { return "sqlite" }
func (dialect) Rebind(q string) string  { return q }
func (dialect) WriteTx() *sql.TxOptions { return nil }
func (dialect) ForUpdate() string       { return "" }
func (dialect) CommitInDoubt() bool     { return false }
func (dialect) ForNoKeyUpdate() string  { return "" }

func (dialect) Classify(err error) sqlstore.Fault {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return sqlstore.FaultOther
	}
	switch c := se.Code(); {
	case c == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.FaultUnique
	case c == sqlite3lib.SQLITE_CONSTRAINT_CHECK:
		return sqlstore.FaultCheck
	case c == sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.FaultForeignKey
	case c&0xff == sqlite3lib.SQLITE_BUSY || c&0xff == sqlite3lib.SQLITE_LOCKED:
		return sqlstore.FaultBusy
	case c&0xff == sqlite3lib.SQLITE_FULL:
		// SQLite's own answer to ENOSPC on the database or WAL file (the
		// driver does not expose errno for an I/O error, so an
		// SQLITE_IOERR stays an internal error): the statement or
		// transaction failed whole and nothing of it is kept.
		return sqlstore.FaultNoSpace
	case c&0xff == sqlite3lib.SQLITE_CORRUPT || c&0xff == sqlite3lib.SQLITE_NOTADB:
		return sqlstore.FaultCorrupt
	}
	return sqlstore.FaultOther
}

// Constraint returns the message, which names the table and column
// ("UNIQUE constraint failed: members.email").
func (dialect) Constraint(err error) string { return err.Error() }

// LockLedger takes the cache lock after the writer connection, in the order
// ApplyBatch does, and drops the caches before releasing it, so the next
// batch reads what committed.
func (d dialect) LockLedger(context.Context, *sql.Tx) (func(), error) {
	d.db.pcMu.Lock()
	return func() {
		d.db.pc, d.db.lc, d.db.fc = nil, nil, nil
		d.db.pcMu.Unlock()
	}, nil
}

// AuditHead reads the last event: the writer's transaction already
// excludes every other writer.
func (dialect) AuditHead(ctx context.Context, tx *sql.Tx) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, []byte{}, nil
	}
	return seq, hash, err
}

func (dialect) SetAuditHead(context.Context, *sql.Tx, int64, []byte) error { return nil }

func (dialect) LockKey(context.Context, *sql.Tx, string) error { return nil }

// ReadTx: a transaction on the reader pool sees one WAL snapshot.
func (dialect) ReadTx() *sql.TxOptions { return nil }

func (dialect) JSONField(column, field string) string {
	return "json_extract(" + column + ", '$." + field + "')"
}

func (dialect) RecordedAuditHead(context.Context, *sql.Tx) (int64, []byte, bool, error) {
	return 0, nil, false, nil
}

func (dialect) NotIndexed(table string) string { return table + " NOT INDEXED" }

func (dialect) TableScans(context.Context, *sql.Tx) error { return nil }

// IntegrityCheck runs PRAGMA quick_check (full: integrity_check), which
// checks every page's structure but not, in its quick form, that an index
// holds what its table holds; so each UNIQUE index, which writes trust to
// refuse a second row with its key, is compared with a full read of its
// table as well.
func (dialect) IntegrityCheck(ctx context.Context, _ *sql.DB, tx *sql.Tx, full bool) ([]coffer.IntegrityResult, error) {
	pragma := "PRAGMA quick_check"
	if full {
		pragma = "PRAGMA integrity_check"
	}
	res := coffer.IntegrityResult{Name: pragma}
	// On a page it cannot read at all the check names the page, then
	// fails: both are its answer.
	lines, err := pragmaLines(ctx, tx, pragma)
	if err != nil {
		if (dialect{}).Classify(err) != sqlstore.FaultCorrupt {
			return nil, err
		}
		lines = append(lines, err.Error())
	}
	if len(lines) != 1 || lines[0] != "ok" {
		res.Problems = lines
	}
	idx := coffer.IntegrityResult{Name: "each UNIQUE index holds exactly the rows of its table"}
	idx.Problems, err = compareUniqueIndexes(ctx, tx)
	if err != nil {
		if (dialect{}).Classify(err) != sqlstore.FaultCorrupt {
			return nil, err
		}
		idx.Problems = append(idx.Problems, "the indexes cannot be compared: "+err.Error())
	}
	return []coffer.IntegrityResult{res, idx}, nil
}

func pragmaLines(ctx context.Context, tx *sql.Tx, q string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// compareUniqueIndexes reads each UNIQUE index of a rowid table on its
// own (INDEXED BY, a covering scan of the index) and compares its keys and
// rowids with the table read in full (NOT INDEXED). A row the index cannot
// find lets a second row with the same key in; an index entry no row
// matches answers for a row that is not there.
func compareUniqueIndexes(ctx context.Context, tx *sql.Tx) ([]string, error) {
	type index struct{ name, table, where string }
	rows, err := tx.QueryContext(ctx, `SELECT il.name, t.name, il.partial, COALESCE(ix.sql, '')
		FROM sqlite_schema t JOIN pragma_index_list(t.name) il
		LEFT JOIN sqlite_schema ix ON ix.type = 'index' AND ix.name = il.name
		WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' AND t.sql NOT LIKE '%WITHOUT ROWID%' AND il."unique"
		ORDER BY t.name, il.name`)
	if err != nil {
		return nil, err
	}
	var list []index
	for rows.Next() {
		var x index
		var partial bool
		var ddl string
		if err := rows.Scan(&x.name, &x.table, &partial, &ddl); err != nil {
			rows.Close()
			return nil, err
		}
		if partial {
			i := strings.LastIndex(strings.ToUpper(ddl), " WHERE ")
			if i < 0 {
				continue
			}
			x.where = " WHERE " + ddl[i+len(" WHERE "):]
		}
		list = append(list, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var problems []string
	for _, x := range list {
		cols, err := indexColumns(ctx, tx, x.name)
		if err != nil {
			return nil, err
		}
		if cols == nil {
			continue // an index on an expression: integrity_check covers it
		}
		sel := strings.Join(cols, ", ") + ", rowid"
		key := strings.Join(cols, " || ', ' || ")
		table := `SELECT ` + sel + ` FROM "` + x.table + `" NOT INDEXED` + x.where
		viaIndex := `SELECT ` + sel + ` FROM "` + x.table + `" INDEXED BY "` + x.name + `"` + x.where
		about := fmt.Sprintf("index %s on %s(%s)", x.name, x.table, strings.Join(cols, ", "))
		for _, c := range []struct{ q, what string }{
			{table + ` EXCEPT ` + viaIndex, "a row the index cannot find"},
			{viaIndex + ` EXCEPT ` + table, "an index entry no row of the table matches"},
		} {
			var n int
			var example sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN('rowid ' || rowid || ' (' || `+key+` || ')') FROM (`+c.q+`)`).Scan(&n, &example)
			if err != nil {
				return nil, fmt.Errorf("compare %s: %w", about, err)
			}
			if n > 0 {
				problems = append(problems, fmt.Sprintf("%s: %d × %s, e.g. %s", about, n, c.what, example.String))
			}
		}
		// Rows the index and the table agree on may still repeat a key
		// the index should have refused.
		var dup sql.NullString
		var n int
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(k) FROM (SELECT `+key+` AS k FROM "`+x.table+`" NOT INDEXED`+x.where+
			` GROUP BY `+strings.Join(cols, ", ")+` HAVING COUNT(*) > 1 AND `+notNull(cols)+`)`).Scan(&n, &dup)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", about, err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d key(s) held by more than one row, e.g. (%s)", about, n, dup.String))
		}
	}
	return problems, nil
}

// indexColumns returns the quoted key columns of an index, nil when one is
// an expression.
func indexColumns(ctx context.Context, tx *sql.Tx, index string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, index)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	expr := false
	for rows.Next() {
		var name sql.NullString
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if !name.Valid {
			expr = true
		}
		cols = append(cols, `"`+name.String+`"`)
	}
	if expr {
		return nil, rows.Err()
	}
	return cols, rows.Err()
}

// notNull is the condition that a key has no NULL part: UNIQUE lets rows
// with a NULL in the key repeat.
func notNull(cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c + " IS NOT NULL"
	}
	return strings.Join(parts, " AND ")
}
