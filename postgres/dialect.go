package postgres

import (
	"context"
	"database/sql"

	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
)

// dialect is PostgreSQL's part of the shared SQL layer: numbered
// placeholders, SQLSTATE codes, the store's isolation level, and the head
// rows that order writers across processes (see the package comment).
type dialect struct{ iso pgx.TxIsoLevel }

var _ sqlstore.Dialect = dialect{}

func (dialect) Name() string           { return "postgres" }
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
