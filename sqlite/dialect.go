package sqlite

import (
	"context"
	"database/sql"
	"errors"

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
