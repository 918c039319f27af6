// Package postgres is coffer's server-database store: PostgreSQL through
// pgx. It implements the same coffer.Store contract as the embedded SQLite
// store and is tested by the same suite (storetest).
//
// Several cofferd processes may share one database. Every ledger batch
// starts by locking the single ledger_head row, so batches from all
// processes apply one after another, each deciding on the balances the one
// before it committed; within a process the engine still groups concurrent
// transfers into one transaction. The hash-chained audit log is appended
// under the audit_head row lock. Locks are always taken in that order
// (ledger head, then audit head, then rows: purses, invoices, trusts), so
// there are no deadlocks. Under SERIALIZABLE a batch first takes both head
// tables in EXCLUSIVE mode, which takes no snapshot, so that it waits for
// the batch before it to commit instead of failing on the head row that
// batch changed.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Options tune a store.
type Options struct {
	// Isolation of write transactions: "read committed" (default) or
	// "serializable". Both are correct; under serializable a transaction
	// that loses a conflict is retried with backoff.
	Isolation string
	// MaxConns bounds the connection pool (default 16).
	MaxConns int32
}

// DB is the PostgreSQL store. It implements coffer.Store.
type DB struct {
	*sqlstore.Store // the ordinary reads and writes

	pool *pgxpool.Pool
	iso  pgx.TxIsoLevel
	sql  *sql.DB // the pool seen through database/sql, for the shared layer
	URL  string  // as given, for messages; never logged with a password
}

var (
	_ coffer.Store     = (*DB)(nil)
	_ coffer.KeyPinner = (*DB)(nil)
)

// IsURL reports whether s names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url, migrates it and returns the store.
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = 16
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	db := &DB{URL: url}
	switch strings.ToLower(opt.Isolation) {
	case "", "read committed", "read-committed":
		db.iso = pgx.ReadCommitted
	case "serializable":
		db.iso = pgx.Serializable
	default:
		return nil, fmt.Errorf("postgres: isolation must be \"read committed\" or \"serializable\", not %q", opt.Isolation)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.pool = pool
	db.sql = stdlib.OpenDBFromPool(pool)
	db.Store = sqlstore.New(dialect{db.iso}, db.sql, db.sql)
	// The migrations are shared with SQLite, over database/sql.
	if err := sqlstore.Migrate(ctx, db.sql, "postgres"); err != nil {
		db.sql.Close()
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes every connection.
func (db *DB) Close() error {
	db.sql.Close()
	db.pool.Close()
	return nil
}

// Pool gives tests and tools the connection pool.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQLSTATE codes the store acts on.
const (
	sqlUniqueViolation       = "23505"
	sqlDiskFull              = "53100"
	sqlDataCorrupted         = "XX001"
	sqlIndexCorrupted        = "XX002"
	sqlInsufficientPrivilege = "42501"
	sqlUndefinedFunction     = "42883"
	sqlInvalidSchemaName     = "3F000"
	sqlCheckViolation        = "23514"
	sqlForeignKeyViolation   = "23503"
	sqlSerializationFailure  = "40001"
	sqlDeadlockDetected      = "40P01"
	sqlAdminShutdown         = "57P01"
	sqlCrashShutdown         = "57P02"
	sqlCannotConnectNow      = "57P03"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func pgConstraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// isConnLoss reports whether err means the connection to the server broke
// or the server is shutting down or starting up. A transaction cut off this
// way was not committed, unless the break came after COMMIT was sent, which
// is why a transfer is retried with its transfer ID, never blindly.
func isConnLoss(err error) bool {
	switch pgCode(err) {
	case sqlAdminShutdown, sqlCrashShutdown, sqlCannotConnectNow:
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "connection reset")
}

// mapErr translates driver errors into domain errors at the storage
// boundary, as the shared layer does for the rest of the store.
func mapErr(op string, err error) error { return sqlstore.MapErr(dialect{}, op, err) }

func ms(t time.Time) int64 { return t.UnixMilli() }
func fromMs(v int64) time.Time {
	return time.UnixMilli(v).UTC()
}

// rowScanner is what pgx.Row and pgx.Rows have in common.
type rowScanner = sqlstore.Scanner

// collect reads every row of a query with scan.
func collect[T any](rows pgx.Rows, err error, op string, scan func(rowScanner) (*T, error)) ([]*T, error) {
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	return out, mapErr(op, rows.Err())
}

// PoolStats returns the state of the connection pool.
func (db *DB) PoolStats() []coffer.PoolStat {
	s := db.pool.Stat()
	return []coffer.PoolStat{{Pool: "main", Max: int64(s.MaxConns()), Open: int64(s.TotalConns()),
		InUse: int64(s.AcquiredConns()), Idle: int64(s.IdleConns()), Waits: s.EmptyAcquireCount(), WaitTime: s.EmptyAcquireWaitTime()}}
}

// WALFile is "": the PostgreSQL server keeps its write-ahead log.
func (db *DB) WALFile() string { return "" }
