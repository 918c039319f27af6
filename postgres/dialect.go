package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coffer-money/coffer"

	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is PostgreSQL's part of the shared SQL layer: numbered
// placeholders, SQLSTATE codes, the store's isolation level, and the head
// rows that order writers across processes (see the package comment).
type dialect struct{ iso pgx.TxIsoLevel }

var _ sqlstore.Dialect = dialect{}

func (dialect) Name() string           { return "postgres" }
func (dialect) CommitInDoubt() bool    { return true }
func (dialect) Rebind(q string) string { return sqlstore.RebindNumbered(q) }
func (dialect) ForUpdate() string      { return " FOR UPDATE" }
func (dialect) ForNoKeyUpdate() string { return " FOR NO KEY UPDATE" }

func (d dialect) WriteTx() *sql.TxOptions {
	if d.iso == pgx.Serializable {
		return &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

func (dialect) Classify(err error) sqlstore.Fault {
	switch pgCode(err) {
	case sqlUniqueViolation:
		return sqlstore.FaultUnique
	case sqlCheckViolation:
		return sqlstore.FaultCheck
	case sqlForeignKeyViolation:
		return sqlstore.FaultForeignKey
	case sqlSerializationFailure, sqlDeadlockDetected:
		return sqlstore.FaultRetry
	case sqlDiskFull:
		return sqlstore.FaultNoSpace
	case sqlDataCorrupted, sqlIndexCorrupted:
		return sqlstore.FaultCorrupt
	}
	if isConnLoss(err) {
		return sqlstore.FaultConnLost
	}
	return sqlstore.FaultOther
}

func (dialect) Constraint(err error) string { return pgConstraint(err) }

// LockLedger locks the ledger head row, as every batch does first. Under
// SERIALIZABLE both head tables are first taken in EXCLUSIVE mode, which
// takes no snapshot, so the write waits for a running batch to commit
// instead of failing on the head row that batch changed.
func (d dialect) LockLedger(ctx context.Context, tx *sql.Tx) (func(), error) {
	if d.iso == pgx.Serializable {
		if _, err := tx.ExecContext(ctx, lockHeadTables); err != nil {
			return nil, err
		}
	}
	_, err := tx.ExecContext(ctx, `SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE`)
	return func() {}, err
}

// AuditHead locks the head of the hash chain, so the chain cannot fork.
func (d dialect) AuditHead(ctx context.Context, tx *sql.Tx) (int64, []byte, error) {
	if d.iso == pgx.Serializable {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE audit_head IN EXCLUSIVE MODE`); err != nil {
			return 0, nil, err
		}
	}
	var seq int64
	var hash []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash)
	return seq, hash, err
}

func (dialect) SetAuditHead(ctx context.Context, tx *sql.Tx, seq int64, hash []byte) error {
	_, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, hash)
	return err
}

// LockKey takes a transaction-scoped advisory lock on the key.
func (dialect) LockKey(ctx context.Context, tx *sql.Tx, key string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('coffer ' || $1, 0))`, key)
	return err
}

func (dialect) ReadTx() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

func (dialect) JSONField(column, field string) string {
	return "(" + column + "::jsonb ->> '" + field + "')"
}

func (dialect) RecordedAuditHead(ctx context.Context, tx *sql.Tx) (int64, []byte, bool, error) {
	var seq int64
	var hash []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if hash == nil {
		hash = []byte{}
	}
	return seq, hash, true, err
}

// NotIndexed is the plain name: TableScans keeps the planner off indexes.
func (dialect) NotIndexed(table string) string { return table }

// TableScans turns index scans off for the rest of the transaction, so
// Check's probes read the tables themselves.
func (dialect) TableScans(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT set_config('enable_indexscan', 'off', true),
		set_config('enable_bitmapscan', 'off', true), set_config('enable_indexonlyscan', 'off', true)`)
	return err
}

// amcheckName is what IntegrityCheck reports it ran.
const amcheckName = "amcheck bt_index_check (heapallindexed) of each B-tree index"

// IntegrityCheck checks each B-tree index of the store with the amcheck
// extension: its structure, and (heapallindexed) that every row of its
// table is in it. The extension is created when missing if the store's
// role may; otherwise the check is reported as skipped, not failed. full
// changes nothing: the heap check is already the thorough one that runs
// without blocking writers.
func (dialect) IntegrityCheck(ctx context.Context, db *sql.DB, tx *sql.Tx, full bool) ([]coffer.IntegrityResult, error) {
	res := coffer.IntegrityResult{Name: amcheckName}
	schema, err := amcheckSchema(ctx, tx)
	if err != nil {
		return nil, err
	}
	if schema == "" {
		// Created outside the read transaction, which cannot; functions
		// are looked up in the current catalog, not tx's snapshot.
		if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS amcheck`); err != nil {
			if schema, _ = amcheckSchema(ctx, db); schema == "" { // not another process's creation racing this one
				res.Skipped = "the amcheck extension is not installed and this role cannot create it (" + pgMessage(err) + "); a superuser can run CREATE EXTENSION amcheck in this database"
				return []coffer.IntegrityResult{res}, nil
			}
		}
		// Read outside tx, whose snapshot predates the extension.
		if schema, err = amcheckSchema(ctx, db); err != nil {
			return nil, err
		}
	}
	fn := pgx.Identifier{schema, "bt_index_check"}.Sanitize()
	rows, err := tx.QueryContext(ctx, `SELECT c.oid, c.relname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am am ON am.oid = c.relam
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence = 'p'
		  AND n.nspname = ANY (current_schemas(false))
		ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	type index struct {
		oid  uint32
		name string
	}
	var list []index
	for rows.Next() {
		var x index
		if err := rows.Scan(&x.oid, &x.name); err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A damaged index raises an error, which aborts the transaction: each
	// check runs under a savepoint so the next index is still checked.
	for _, x := range list {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT amcheck`); err != nil {
			return nil, err
		}
		_, err := tx.ExecContext(ctx, `SELECT `+fn+`($1::oid, true)`, x.oid)
		switch pgCode(err) {
		case sqlInsufficientPrivilege:
			// amcheck's functions are the superuser's unless granted.
			res.Skipped = "this role may not run amcheck (" + pgMessage(err) + "); a superuser can GRANT EXECUTE ON FUNCTION bt_index_check(regclass, boolean) to it"
			res.Problems = nil
			return []coffer.IntegrityResult{res}, nil
		case sqlUndefinedFunction, sqlInvalidSchemaName:
			// The extension was dropped while the check ran.
			res.Skipped = "the amcheck extension went away during the check (" + pgMessage(err) + ")"
			res.Problems = nil
			return []coffer.IntegrityResult{res}, nil
		}
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("index %s: %s", x.name, pgMessage(err)))
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT amcheck`); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT amcheck`); err != nil {
			return nil, err
		}
	}
	return []coffer.IntegrityResult{res}, nil
}

// pgMessage is the server's message of a PostgreSQL error, else the error.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// amcheckSchema returns the schema of the amcheck extension, "" when it is
// not installed.
func amcheckSchema(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (string, error) {
	var schema string
	err := q.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'`).Scan(&schema)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return schema, err
}
