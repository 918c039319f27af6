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
	"math/rand/v2"
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
	sqlUniqueViolation      = "23505"
	sqlCheckViolation       = "23514"
	sqlForeignKeyViolation  = "23503"
	sqlSerializationFailure = "40001"
	sqlDeadlockDetected     = "40P01"
	sqlAdminShutdown        = "57P01"
	sqlCrashShutdown        = "57P02"
	sqlCannotConnectNow     = "57P03"
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

func isUnique(err error) bool { return pgCode(err) == sqlUniqueViolation }

// isRetryable reports whether a transaction failed only because it lost a
// race with another one (serialization failure, deadlock): running it
// again from the start is correct.
func isRetryable(err error) bool {
	c := pgCode(err)
	return c == sqlSerializationFailure || c == sqlDeadlockDetected
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
// boundary; anything unknown stays an internal error with its cause.
func mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "Not found.", Op: op}
	case isUnique(err):
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "Already exists.", Op: op, Err: err}
	case isRetryable(err):
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database is busy; try again.", Op: op, Err: err}
	case isConnLoss(err):
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database cannot be reached; try again.", Op: op, Err: err}
	}
	var ce *coffer.Error
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// backoff waits before retry attempt n (0-based): 2, 4, 8 … ms up to 250 ms,
// with jitter so that two losers do not collide again.
func backoff(ctx context.Context, n int) error {
	d := time.Duration(2<<min(n, 7)) * time.Millisecond
	d = min(d, 250*time.Millisecond)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxAttempts bounds how often a transaction that lost a serialization
// conflict is run again.
const maxAttempts = 10

// inTx runs fn in a write transaction at the store's isolation level,
// appends the non-nil events to the audit chain in the same transaction and
// commits. A transaction that loses a serialization conflict is run again.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error, evs ...*coffer.AuditEvent) error {
	var list []*coffer.AuditEvent
	for _, e := range evs {
		if e != nil {
			list = append(list, e)
		}
	}
	for attempt := 0; ; attempt++ {
		err := db.tryTx(ctx, func(tx pgx.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return appendAudit(ctx, tx, list)
		})
		if err == nil {
			return nil
		}
		if isRetryable(err) && attempt+1 < maxAttempts {
			if berr := backoff(ctx, attempt); berr != nil {
				return mapErr(op, err)
			}
			continue
		}
		return mapErr(op, err)
	}
}

// tryTx runs fn once in a transaction and commits it.
func (db *DB) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: db.iso})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func ms(t time.Time) int64 { return t.UnixMilli() }
func fromMs(v int64) time.Time {
	return time.UnixMilli(v).UTC()
}

func nullMs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

func fromNullMs(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMs(*v)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
