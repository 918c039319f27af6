// Package sqlstore is coffer's storage layer written once for both SQL
// databases it runs on. Every ordinary read and write of the coffer.Store
// contract lives here as hand-written SQL over database/sql; what differs
// between SQLite and PostgreSQL is a small Dialect value: placeholders, the
// classification of driver errors, transaction options, locks and the head
// of the audit chain.
//
// The ledger's hot path (ApplyBatch with its batch reads and writes) stays
// native in each database's own package, as does connection setup; those
// packages embed a *Store for the rest of the contract.
//
// Queries are written with SQLite's placeholders, ? or ?N for a parameter
// used more than once; Dialect.Rebind turns them into the database's own.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-money/coffer"
)

// Fault is what a driver error means to the store.
type Fault int

const (
	FaultOther      Fault = iota // not one the store acts on: an internal error
	FaultUnique                  // a UNIQUE or PRIMARY KEY violation
	FaultCheck                   // a CHECK constraint violation
	FaultForeignKey              // a FOREIGN KEY violation: a row names a missing one
	FaultRetry                   // the transaction lost a race (serialization failure, deadlock): run it again
	FaultBusy                    // the database stayed locked longer than the busy timeout
	FaultConnLost                // the connection broke or the server is shutting down
	FaultNoSpace                 // the disk is full: the write failed whole and may succeed once space is freed
	FaultCorrupt                 // the database file or an index is damaged: permanent, retrying cannot help
)

// Dialect is everything that differs between the databases for the
// ordinary reads and writes.
type Dialect interface {
	// Name prefixes operation names in errors: "sqlite", "postgres".
	Name() string
	// Rebind turns a query written with ? and ?N placeholders into the
	// database's own.
	Rebind(query string) string
	// Classify says what a driver error means.
	Classify(err error) Fault
	// Constraint names the constraint or column a constraint error is about,
	// as far as the driver tells ("members.email", "members_email_key").
	Constraint(err error) string
	// CommitInDoubt says whether a commit cut off by its context may still
	// take effect (PostgreSQL: the server may commit locally while it waits
	// for a synchronous standby) or is always rolled back (SQLite).
	CommitInDoubt() bool
	// WriteTx is the options of a write transaction (isolation level).
	WriteTx() *sql.TxOptions
	// ReadTx is the options of a read transaction that must see one
	// consistent snapshot (Check).
	ReadTx() *sql.TxOptions
	// JSONField is an expression for the text of a top-level field of a
	// JSON object held in a text column.
	JSONField(column, field string) string
	// RecordedAuditHead returns the head of the audit chain where the
	// database keeps it in a row of its own (ok false where the last event
	// is the head), read in a read transaction.
	RecordedAuditHead(ctx context.Context, tx *sql.Tx) (seq int64, hash []byte, ok bool, err error)
	// ForUpdate is the clause that locks the rows a SELECT inside a write
	// transaction reads ("" where the whole database is locked anyway).
	ForUpdate() string
	// ForNoKeyUpdate is ForUpdate for rows the transaction neither deletes
	// nor re-keys (a member's row locked to order writes about the member):
	// it holds off other writers of the rows but not the foreign-key checks
	// of inserts naming them, such as the member's sessions and purses.
	ForNoKeyUpdate() string
	// LockLedger is the first statement of a write that changes what the
	// ledger decides on (issuer limits, fee rules, levels, closed purses):
	// it waits for and holds off ledger batches. after runs once the
	// transaction has ended, committed or not.
	LockLedger(ctx context.Context, tx *sql.Tx) (after func(), err error)
	// AuditHead locks the head of the audit chain in tx, where the database
	// needs a lock for that, and returns the last event's sequence number
	// and hash (0 and empty when there is none).
	AuditHead(ctx context.Context, tx *sql.Tx) (seq int64, hash []byte, err error)
	// SetAuditHead records the new head after events were appended.
	SetAuditHead(ctx context.Context, tx *sql.Tx, seq int64, hash []byte) error
	// LockKey serializes the transactions that name one key until they end.
	LockKey(ctx context.Context, tx *sql.Tx, key string) error
	// NotIndexed is a table (with its alias, "transfers t") in a FROM
	// clause that reads the table itself, not an index of it
	// ("transfers t NOT INDEXED"; unchanged where TableScans does the work).
	NotIndexed(table string) string
	// TableScans makes the rest of a read transaction read tables rather
	// than answer from indexes, where the database needs a setting for that.
	TableScans(ctx context.Context, tx *sql.Tx) error
	// IntegrityCheck runs the database's own check of its pages and
	// indexes (full: the slow, thorough one) in tx, read from the snapshot
	// Check reads, and compares what the indexes answer with the tables.
	// db is the writer handle, for a check that must first be installed.
	IntegrityCheck(ctx context.Context, db *sql.DB, tx *sql.Tx, full bool) ([]coffer.IntegrityResult, error)
}

// Store implements the ordinary part of the coffer.Store contract over a
// writer and a reader handle (the same pool where the database has no
// single-writer rule).
type Store struct {
	d  Dialect
	w  *sql.DB
	r  *sql.DB
	wr conn // the writer, outside transactions
	rd conn // the readers

	timeout time.Duration // of one write; see SetTimeout

	onDamage   atomic.Pointer[func(error)]
	damageOnce sync.Once
}

// OnDamage has fn called once, with the first permanent fault the store
// meets (a damaged page or index): the operator hears of it once, not once
// per request that touches it.
func (s *Store) OnDamage(fn func(err error)) { s.onDamage.Store(&fn) }

// NoteDamage reports err to OnDamage's function when it is a permanent
// fault, as MapErr maps it (IsDamaged); the ledger paths, which map their
// errors themselves, call it.
func (s *Store) NoteDamage(err error) {
	if !IsDamaged(err) && !s.is(err, FaultCorrupt) {
		return
	}
	if fn := s.onDamage.Load(); fn != nil {
		s.damageOnce.Do(func() { (*fn)(err) })
	}
}

// New returns a store writing through w and reading through r.
func New(d Dialect, w, r *sql.DB) *Store {
	return &Store{d: d, w: w, r: r, wr: conn{q: w, d: d, timeout: DefaultTimeout}, rd: conn{q: r, d: d}, timeout: DefaultTimeout}
}

// DefaultTimeout is how long one write may take, commit included, unless
// SetTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// SetTimeout bounds every write the store makes (a transaction, commit
// included, or a single statement) to d; 0 means DefaultTimeout. A write
// past it is answered EUNAVAILABLE: on PostgreSQL a commit that waits for a
// synchronous standby that is gone would otherwise hang its request for as
// long as the standby stays away. Reads are bounded by their caller's
// context (the server gives every request a deadline). Call it before the
// store is used.
func (s *Store) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	s.timeout, s.wr.timeout = d, d
}

// Timeout is the bound SetTimeout set, for the store's own write paths
// outside this package (the ledger batch).
func (s *Store) Timeout() time.Duration { return s.timeout }

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.d }

// execer is what *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with ? placeholders on a handle.
type conn struct {
	q execer
	d Dialect
	// timeout, when set, bounds each Exec: a statement outside a
	// transaction commits by itself, and the commit may wait.
	timeout time.Duration
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.timeout <= 0 {
		return c.q.ExecContext(ctx, c.d.Rebind(query), args...)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.q.ExecContext(ctx, c.d.Rebind(query), args...)
	if err != nil && ctx.Err() != nil && c.d.CommitInDoubt() {
		err = commitError{err}
	}
	return res, err
}

func (c conn) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.Rebind(query), args...)
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.Rebind(query), args...)
}

// RebindNumbered turns ? and ?N placeholders into $N ones, outside quoted
// strings and identifiers. It is the Rebind of databases that number their
// parameters (PostgreSQL).
func RebindNumbered(q string) string {
	if strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
			} else {
				n++
				fmt.Fprint(&b, n)
			}
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Scanner is what *sql.Row and *sql.Rows have in common.
type Scanner interface{ Scan(...any) error }

// collect reads every row of a query with scan.
func collect[T any](s *Store, op string, rows *sql.Rows, err error, scan func(Scanner) (*T, error)) ([]*T, error) {
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, v)
	}
	return out, s.mapErr(op, rows.Err())
}

// collectValues reads the single column of every row of a query.
func collectValues[T any](s *Store, op string, rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, v)
	}
	return out, s.mapErr(op, rows.Err())
}

// placeholders returns n question marks joined by commas, for IN lists.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Rows returns n copies of a VALUES tuple joined by commas.
func Rows(tuple string, n int) string {
	return strings.TrimSuffix(strings.Repeat(tuple+",", n), ",")
}

// Times are stored as Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

func fromNullMs(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMs(v.Int64)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func notFound(op, what string) error {
	return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such " + what + ".", Op: op}
}

// one reads the single row of a query with scan.
func one[T any](s *Store, op string, row *sql.Row, scan func(Scanner) (*T, error)) (*T, error) {
	v, err := scan(row)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return v, nil
}
