// Package sqlite is coffer's embedded store: one SQLite file in WAL mode with
// synchronous=FULL, one writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the SQLite store. It implements coffer.Store.
type DB struct {
	w      *sql.DB // the single writer connection
	r      *sql.DB // read-only pool
	Path   string
	ls     *ledgerStmts
	stmtMu sync.Mutex
	nonces nonceGroup // see nonces.go

	// The ledger's cache of purses (owner, currency, limit, balance, held)
	// as last committed, valid while data_version is pcVer.
	pcMu  sync.Mutex
	pc    map[string]coffer.Purse
	pcVer int64
	// Outgoing limits by purse (nil: none), reset with pc and by
	// SetPurseLimits.
	lc map[string]*coffer.PurseLimits
	// Fee rules by currency (nil: not loaded), reset with pc and by
	// SetFeeRule and DeleteFeeRule.
	fc map[string]*coffer.FeeRule

	ck     *sql.DB // checkpointer connection
	stopCk chan struct{}
	ckDone chan struct{}
}

var (
	_ coffer.Store     = (*DB)(nil)
	_ coffer.KeyPinner = (*DB)(nil)
)

// FileName is the database file inside a data directory.
const FileName = "coffer.db"

type connRole int

const (
	roleWriter connRole = iota
	roleReader
	roleCheckpointer
)

func dsn(path string, role connRole) string {
	q := url.Values{}
	// Pragmas live in the DSN so every pooled connection gets them.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	switch role {
	case roleReader:
		q.Add("_pragma", "query_only(1)")
	case roleWriter:
		q.Set("_txlock", "immediate")
		// A large page cache keeps the indexes the ledger touches in
		// memory. Checkpoints run on their own connection (checkpointLoop)
		// so commits do not pay for them; the automatic one is only a
		// backstop should that loop fall behind.
		q.Add("_pragma", "cache_size(-65536)")
		// Statement journals (kept for multi-row INSERTs so that one failing
		// row can be undone) live in memory, not in a temp file written
		// page by page; the WAL still makes every commit durable.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", "wal_autocheckpoint(20000)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating when needed) the store in dir and migrates it.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	return OpenFile(ctx, filepath.Join(dir, FileName))
}

// OpenFile opens the store at an explicit file path.
func OpenFile(ctx context.Context, path string) (*DB, error) {
	// The file holds password and token hashes: readable by its owner only.
	// SQLite gives the -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	} else {
		f.Close()
	}
	w, err := sql.Open("sqlite", dsn(path, roleWriter))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db := &DB{w: w, Path: path}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, roleReader))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.r = r
	ck, err := sql.Open("sqlite", dsn(path, roleCheckpointer))
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	ck.SetMaxOpenConns(1)
	db.ck, db.stopCk, db.ckDone = ck, make(chan struct{}), make(chan struct{})
	go db.checkpointLoop()
	return db, nil
}

// checkpointLoop copies the WAL into the database file in the background,
// off the ledger's commit path. PASSIVE never blocks writers or readers.
func (db *DB) checkpointLoop() {
	defer close(db.ckDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-db.stopCk:
			return
		case <-t.C:
			db.ck.Exec(`PRAGMA wal_checkpoint(PASSIVE)`) // best effort; the autocheckpoint is the backstop
		}
	}
}

// Close stops the checkpointer and closes every pool.
func (db *DB) Close() error {
	close(db.stopCk)
	<-db.ckDone
	return errors.Join(db.ck.Close(), db.r.Close(), db.w.Close())
}

// PinKey implements coffer.KeyPinner by accepting every key: a SQLite
// database is served by the one process that owns its data directory, which
// keeps the keys beside it, so there is no other process to agree with.
func (db *DB) PinKey(context.Context, string, string) error { return nil }

// rows returns n copies of a VALUES tuple joined by commas.
func rows(tuple string, n int) string {
	return strings.TrimSuffix(strings.Repeat(tuple+",", n), ",")
}

// SchemaVersion is the newest migration this program knows.
func SchemaVersion() int {
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	return len(names)
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	var cur int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	sort.Strings(names)
	// Files are named NNNN_what.sql and numbered 1, 2, 3… without gaps, so
	// a file's position is its version.
	for i, n := range names {
		if !strings.HasPrefix(filepath.Base(n), fmt.Sprintf("%04d_", i+1)) {
			return fmt.Errorf("sqlite: migration %s is out of sequence (want %04d_…)", n, i+1)
		}
	}
	if cur > len(names) {
		return fmt.Errorf("sqlite: the database schema is version %d but this program knows only up to %d; run a newer cofferd", cur, len(names))
	}
	for i := cur; i < len(names); i++ {
		body, err := migrationFS.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, i+1, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
	}
	return nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isBusy reports whether err means the database was locked by another
// process for longer than the busy timeout.
func isBusy(err error) bool {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3lib.SQLITE_BUSY || se.Code()&0xff == sqlite3lib.SQLITE_LOCKED
	}
	return false
}

// mapErr translates driver errors into domain errors at the storage
// boundary; anything unknown stays an internal error with its cause.
func mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "Not found.", Op: op}
	case isUnique(err):
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "Already exists.", Op: op, Err: err}
	case isBusy(err):
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database is busy; try again.", Op: op, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func ms(t time.Time) int64 { return t.UnixMilli() }
func fromMs(v int64) time.Time {
	return time.UnixMilli(v).UTC()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (db *DB) CreateMember(ctx context.Context, m *coffer.Member) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO members (id, email, phone, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		m.ID, nullStr(m.Email), nullStr(m.Phone), m.PasswordHash, ms(m.CreatedAt))
	if isUnique(err) {
		msg := "The member ID is taken."
		switch {
		case strings.Contains(err.Error(), "members.email"):
			msg = "email"
		case strings.Contains(err.Error(), "members.phone"):
			msg = "phone"
		}
		return &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: "sqlite.CreateMember", Err: err}
	}
	return mapErr("sqlite.CreateMember", err)
}

func (db *DB) MemberByLogin(ctx context.Context, login string) (*coffer.Member, error) {
	var m coffer.Member
	var email, phone sql.NullString
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT id, email, phone, password_hash, created_at FROM members WHERE id = ?1 OR email = ?1 OR phone = ?1`, login).
		Scan(&m.ID, &email, &phone, &m.PasswordHash, &created)
	if err != nil {
		return nil, mapErr("sqlite.MemberByLogin", err)
	}
	m.Email, m.Phone, m.CreatedAt = email.String, phone.String, fromMs(created)
	return &m, nil
}

func (db *DB) SetPasswordHash(ctx context.Context, memberID, hash string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE members SET password_hash = ? WHERE id = ?`, hash, memberID)
	return mapErr("sqlite.SetPasswordHash", err)
}

func (db *DB) CreateSession(ctx context.Context, s *coffer.Session) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions (id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.MemberID, s.TokenHash, s.IP, s.UserAgent, ms(s.CreatedAt), ms(s.LastUsedAt), ms(s.ExpiresAt))
	return mapErr("sqlite.CreateSession", err)
}

const sessionCols = `id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at`

func scanSession(row interface{ Scan(...any) error }) (*coffer.Session, error) {
	var s coffer.Session
	var c, l, e int64
	if err := row.Scan(&s.ID, &s.MemberID, &s.TokenHash, &s.IP, &s.UserAgent, &c, &l, &e); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromMs(c), fromMs(l), fromMs(e)
	return &s, nil
}

func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*coffer.Session, error) {
	s, err := scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`, hash))
	if err != nil {
		return nil, mapErr("sqlite.SessionByTokenHash", err)
	}
	return s, nil
}

func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sessions SET last_used_at = ? WHERE id = ? AND last_used_at < ?`, ms(at), id, ms(at))
	return mapErr("sqlite.TouchSession", err)
}

func (db *DB) Sessions(ctx context.Context, memberID string) ([]*coffer.Session, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE member_id = ? ORDER BY created_at DESC`, memberID)
	if err != nil {
		return nil, mapErr("sqlite.Sessions", err)
	}
	defer rows.Close()
	var out []*coffer.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, mapErr("sqlite.Sessions", err)
		}
		out = append(out, s)
	}
	return out, mapErr("sqlite.Sessions", rows.Err())
}

func (db *DB) DeleteSession(ctx context.Context, memberID, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE member_id = ? AND id = ?`, memberID, id)
	if err != nil {
		return mapErr("sqlite.DeleteSession", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such session.", Op: "sqlite.DeleteSession"}
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose absolute expiry has passed.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, ms(now))
	if err != nil {
		return 0, mapErr("sqlite.DeleteExpiredSessions", err)
	}
	return res.RowsAffected()
}

func (db *DB) Currencies(ctx context.Context) ([]*coffer.Currency, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT code, letter, decimals FROM currencies ORDER BY code`)
	if err != nil {
		return nil, mapErr("sqlite.Currencies", err)
	}
	defer rows.Close()
	var out []*coffer.Currency
	for rows.Next() {
		var c coffer.Currency
		var letter string
		if err := rows.Scan(&c.Code, &letter, &c.Decimals); err != nil {
			return nil, mapErr("sqlite.Currencies", err)
		}
		c.Letter = letter[0]
		out = append(out, &c)
	}
	return out, mapErr("sqlite.Currencies", rows.Err())
}

func (db *DB) CreateCurrency(ctx context.Context, c *coffer.Currency) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO currencies (code, letter, decimals) VALUES (?, ?, ?)`, c.Code, string(c.Letter), c.Decimals)
	return mapErr("sqlite.CreateCurrency", err)
}

func (db *DB) CreatePurse(ctx context.Context, p *coffer.Purse) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO purses (number, currency, owner, balance, issuer, lim, created_at) VALUES (?, ?, ?, 0, ?, ?, ?)`,
		p.Number, p.Currency, p.Owner, p.Issuer, p.Limit, ms(p.CreatedAt))
	return mapErr("sqlite.CreatePurse", err)
}

const purseCols = `number, currency, owner, balance, held, issuer, lim, created_at, closed`

// ledgerPurseCols is purseCols with the owner's level, for the ledger
// (purses p joined with members m).
const ledgerPurseCols = `p.number, p.currency, p.owner, p.balance, p.held, p.issuer, p.lim, p.created_at, p.closed, m.level`

func scanLedgerPurse(row interface{ Scan(...any) error }) (*coffer.Purse, error) {
	var p coffer.Purse
	var c int64
	if err := row.Scan(&p.Number, &p.Currency, &p.Owner, &p.Balance, &p.Held, &p.Issuer, &p.Limit, &c, &p.Closed, &p.OwnerLevel); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(c)
	return &p, nil
}

func scanPurse(row interface{ Scan(...any) error }) (*coffer.Purse, error) {
	var p coffer.Purse
	var c int64
	if err := row.Scan(&p.Number, &p.Currency, &p.Owner, &p.Balance, &p.Held, &p.Issuer, &p.Limit, &c, &p.Closed); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(c)
	return &p, nil
}

func (db *DB) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	p, err := scanPurse(db.r.QueryRowContext(ctx, `SELECT `+purseCols+` FROM purses WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")
	}
	return p, mapErr("sqlite.Purse", err)
}

func (db *DB) Purses(ctx context.Context, memberID string) ([]*coffer.Purse, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+purseCols+` FROM purses WHERE owner = ? ORDER BY created_at, number`, memberID)
	if err != nil {
		return nil, mapErr("sqlite.Purses", err)
	}
	defer rows.Close()
	var out []*coffer.Purse
	for rows.Next() {
		p, err := scanPurse(rows)
		if err != nil {
			return nil, mapErr("sqlite.Purses", err)
		}
		out = append(out, p)
	}
	return out, mapErr("sqlite.Purses", rows.Err())
}

func (db *DB) SetIssuer(ctx context.Context, number string, limit int64) error {
	defer db.forgetPurses()
	res, err := db.w.ExecContext(ctx, `UPDATE purses SET issuer = 1, lim = ? WHERE number = ?`, limit, number)
	if err != nil {
		if strings.Contains(err.Error(), "CHECK constraint") {
			return coffer.Errorf(coffer.EINVALID, "The limit is below the money already issued from this purse.")
		}
		return mapErr("sqlite.SetIssuer", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")
	}
	return nil
}

const transferCols = `seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at,
	kind, status, fee, fee_purse, invoice_id, trust_id, refund_of, refunded,
	protect_by_code, protect_salt, protect_hash, protect_until, protect_attempts`

// transferArgs returns the values of transferCols for t, in order.
func transferArgs(args []any, t *coffer.Transfer) []any {
	kind, status := t.Kind, t.Status
	if kind == "" {
		kind = coffer.KindTransfer
	}
	if status == "" {
		status = coffer.StatusCompleted
	}
	var byCode bool
	var salt, hash []byte
	var until any
	var attempts int
	if p := t.Protection; p != nil {
		byCode, salt, hash, until, attempts = p.ByCode, p.CodeSalt, p.CodeHash, ms(p.Until), p.Attempts
	}
	return append(args, t.Seq, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, ms(t.CreatedAt),
		kind, status, t.Fee, t.FeePurse, t.InvoiceID, t.TrustID, t.RefundOf, t.Refunded,
		byCode, salt, hash, until, attempts)
}

func scanTransfer(row interface{ Scan(...any) error }) (*coffer.Transfer, error) {
	var t coffer.Transfer
	var c int64
	var byCode bool
	var salt, hash []byte
	var until sql.NullInt64
	var attempts int
	if err := row.Scan(&t.Seq, &t.Sender, &t.TransferID, &t.From, &t.To, &t.Currency, &t.Amount, &t.Description, &t.Payee, &c,
		&t.Kind, &t.Status, &t.Fee, &t.FeePurse, &t.InvoiceID, &t.TrustID, &t.RefundOf, &t.Refunded,
		&byCode, &salt, &hash, &until, &attempts); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMs(c)
	if t.Kind == coffer.KindProtected {
		p := &coffer.Protection{ByCode: byCode, Attempts: attempts}
		if len(salt) > 0 || len(hash) > 0 {
			p.CodeSalt, p.CodeHash = salt, hash
		}
		if until.Valid {
			p.Until = fromMs(until.Int64)
		}
		t.Protection = p
	}
	return &t, nil
}

func scanTransfers(rows *sql.Rows, op string) ([]*coffer.Transfer, error) {
	defer rows.Close()
	var out []*coffer.Transfer
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, t)
	}
	return out, mapErr(op, rows.Err())
}

func (db *DB) Transfer(ctx context.Context, memberID, transferID, from string) (*coffer.Transfer, error) {
	// The sender's own transfer wins; otherwise the newest one paid to them.
	t, err := scanTransfer(db.r.QueryRowContext(ctx, `SELECT `+transferCols+` FROM transfers
		WHERE transfer_id = ?1 AND (sender = ?2 OR payee = ?2) AND (?3 = '' OR from_purse = ?3)
		ORDER BY (sender = ?2) DESC, seq DESC LIMIT 1`, transferID, memberID, from))
	if err != nil {
		return nil, mapErr("sqlite.Transfer", err)
	}
	return t, nil
}

func (db *DB) History(ctx context.Context, purse string, f coffer.HistoryFilter) ([]*coffer.HistoryEntry, error) {
	// Entries written before the payment forms have no counterparty of
	// their own: it is the transfer's other purse.
	q := `SELECT e.seq, e.purse, t.transfer_id,
		CASE WHEN e.counterparty <> '' THEN e.counterparty WHEN e.purse = t.from_purse THEN t.to_purse ELSE t.from_purse END,
		e.amount, e.kind, e.held, e.balance_after, t.description, e.created_at
		FROM entries e JOIN transfers t ON t.seq = e.transfer_seq WHERE e.purse = ?`
	args := []any{purse}
	if f.Before > 0 {
		q += ` AND e.seq < ?`
		args = append(args, f.Before)
	}
	if !f.Since.IsZero() {
		q += ` AND e.created_at >= ?`
		args = append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND e.created_at < ?`
		args = append(args, ms(f.Until))
	}
	q += ` ORDER BY e.seq DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr("sqlite.History", err)
	}
	defer rows.Close()
	var out []*coffer.HistoryEntry
	for rows.Next() {
		var h coffer.HistoryEntry
		var c int64
		if err := rows.Scan(&h.Seq, &h.Purse, &h.TransferID, &h.Counterparty, &h.Amount, &h.Kind, &h.Held, &h.BalanceAfter, &h.Description, &c); err != nil {
			return nil, mapErr("sqlite.History", err)
		}
		h.CreatedAt = fromMs(c)
		out = append(out, &h)
	}
	return out, mapErr("sqlite.History", rows.Err())
}
