package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

func (db *DB) CreateMember(ctx context.Context, m *coffer.Member) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO members (id, email, phone, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		m.ID, nullStr(m.Email), nullStr(m.Phone), m.PasswordHash, ms(m.CreatedAt))
	if isUnique(err) {
		msg := "The member ID is taken."
		switch c := pgConstraint(err); {
		case strings.Contains(c, "email"):
			msg = "email"
		case strings.Contains(c, "phone"):
			msg = "phone"
		}
		return &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: "postgres.CreateMember", Err: err}
	}
	return mapErr("postgres.CreateMember", err)
}

func (db *DB) MemberByLogin(ctx context.Context, login string) (*coffer.Member, error) {
	var m coffer.Member
	var email, phone *string
	var created int64
	err := db.pool.QueryRow(ctx, `SELECT id, email, phone, password_hash, created_at FROM members WHERE id = $1 OR email = $1 OR phone = $1`, login).
		Scan(&m.ID, &email, &phone, &m.PasswordHash, &created)
	if err != nil {
		return nil, mapErr("postgres.MemberByLogin", err)
	}
	m.Email, m.Phone, m.CreatedAt = str(email), str(phone), fromMs(created)
	return &m, nil
}

func (db *DB) SetPasswordHash(ctx context.Context, memberID, hash string) error {
	_, err := db.pool.Exec(ctx, `UPDATE members SET password_hash = $1 WHERE id = $2`, hash, memberID)
	return mapErr("postgres.SetPasswordHash", err)
}

func (db *DB) CreateSession(ctx context.Context, s *coffer.Session) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.ID, s.MemberID, s.TokenHash, s.IP, s.UserAgent, ms(s.CreatedAt), ms(s.LastUsedAt), ms(s.ExpiresAt))
	return mapErr("postgres.CreateSession", err)
}

const sessionCols = `id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at`

func scanSession(row rowScanner) (*coffer.Session, error) {
	var s coffer.Session
	var c, l, e int64
	if err := row.Scan(&s.ID, &s.MemberID, &s.TokenHash, &s.IP, &s.UserAgent, &c, &l, &e); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromMs(c), fromMs(l), fromMs(e)
	return &s, nil
}

func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*coffer.Session, error) {
	s, err := scanSession(db.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = $1`, hash))
	if err != nil {
		return nil, mapErr("postgres.SessionByTokenHash", err)
	}
	return s, nil
}

func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1`, ms(at), id)
	return mapErr("postgres.TouchSession", err)
}

func (db *DB) Sessions(ctx context.Context, memberID string) ([]*coffer.Session, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE member_id = $1 ORDER BY created_at DESC`, memberID)
	return collect(rows, err, "postgres.Sessions", scanSession)
}

func (db *DB) DeleteSession(ctx context.Context, memberID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE member_id = $1 AND id = $2`, memberID, id)
	if err != nil {
		return mapErr("postgres.DeleteSession", err)
	}
	if tag.RowsAffected() == 0 {
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such session.", Op: "postgres.DeleteSession"}
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose absolute expiry has passed.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, ms(now))
	if err != nil {
		return 0, mapErr("postgres.DeleteExpiredSessions", err)
	}
	return tag.RowsAffected(), nil
}

func (db *DB) Currencies(ctx context.Context) ([]*coffer.Currency, error) {
	rows, err := db.pool.Query(ctx, `SELECT code, letter, decimals FROM currencies ORDER BY code`)
	return collect(rows, err, "postgres.Currencies", func(r rowScanner) (*coffer.Currency, error) {
		var c coffer.Currency
		var letter string
		if err := r.Scan(&c.Code, &letter, &c.Decimals); err != nil {
			return nil, err
		}
		c.Letter = letter[0]
		return &c, nil
	})
}

func (db *DB) CreateCurrency(ctx context.Context, c *coffer.Currency) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO currencies (code, letter, decimals) VALUES ($1, $2, $3)`, c.Code, string(c.Letter), c.Decimals)
	return mapErr("postgres.CreateCurrency", err)
}

func (db *DB) CreatePurse(ctx context.Context, p *coffer.Purse) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO purses (number, currency, owner, balance, issuer, lim, created_at) VALUES ($1, $2, $3, 0, $4, $5, $6)`,
		p.Number, p.Currency, p.Owner, p.Issuer, p.Limit, ms(p.CreatedAt))
	return mapErr("postgres.CreatePurse", err)
}

const purseCols = `number, currency, owner, balance, held, issuer, lim, created_at, closed`

// ledgerPurseCols is purseCols with the owner's level, for the ledger
// (purses p joined with members m).
const ledgerPurseCols = `p.number, p.currency, p.owner, p.balance, p.held, p.issuer, p.lim, p.created_at, p.closed, m.level`

func scanLedgerPurse(row rowScanner) (*coffer.Purse, error) {
	var p coffer.Purse
	var c int64
	if err := row.Scan(&p.Number, &p.Currency, &p.Owner, &p.Balance, &p.Held, &p.Issuer, &p.Limit, &c, &p.Closed, &p.OwnerLevel); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(c)
	return &p, nil
}

func scanPurse(row rowScanner) (*coffer.Purse, error) {
	var p coffer.Purse
	var c int64
	if err := row.Scan(&p.Number, &p.Currency, &p.Owner, &p.Balance, &p.Held, &p.Issuer, &p.Limit, &c, &p.Closed); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(c)
	return &p, nil
}

func (db *DB) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	p, err := scanPurse(db.pool.QueryRow(ctx, `SELECT `+purseCols+` FROM purses WHERE number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")
	}
	return p, mapErr("postgres.Purse", err)
}

func (db *DB) Purses(ctx context.Context, memberID string) ([]*coffer.Purse, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+purseCols+` FROM purses WHERE owner = $1 ORDER BY created_at, number`, memberID)
	return collect(rows, err, "postgres.Purses", scanPurse)
}

// SetIssuer makes a purse an issuing purse. It locks the ledger head first,
// so no batch is deciding on the old limit while it changes.
func (db *DB) SetIssuer(ctx context.Context, number string, limit int64) error {
	found := false
	err := db.inTx(ctx, "postgres.SetIssuer", func(tx pgx.Tx) error {
		if err := db.lockLedgerHead(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE purses SET issuer = true, lim = $1 WHERE number = $2`, limit, number)
		found = tag.RowsAffected() > 0
		return err
	})
	if pgCode(errors.Unwrap(err)) == sqlCheckViolation || pgCode(err) == sqlCheckViolation {
		return coffer.Errorf(coffer.EINVALID, "The limit is below the money already issued from this purse.")
	}
	if err != nil {
		return err
	}
	if !found {
		return coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")
	}
	return nil
}

const transferCols = `seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at,
	kind, status, fee, fee_purse, invoice_id, trust_id, refund_of, refunded,
	protect_by_code, protect_salt, protect_hash, protect_until, protect_attempts`

func scanTransfer(row rowScanner) (*coffer.Transfer, error) {
	var t coffer.Transfer
	var c int64
	var byCode bool
	var salt, hash []byte
	var until *int64
	var attempts int
	if err := row.Scan(&t.Seq, &t.Sender, &t.TransferID, &t.From, &t.To, &t.Currency, &t.Amount, &t.Description, &t.Payee, &c,
		&t.Kind, &t.Status, &t.Fee, &t.FeePurse, &t.InvoiceID, &t.TrustID, &t.RefundOf, &t.Refunded,
		&byCode, &salt, &hash, &until, &attempts); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMs(c)
	if t.Kind == coffer.KindProtected {
		t.Protection = &coffer.Protection{ByCode: byCode, CodeSalt: salt, CodeHash: hash, Until: fromNullMs(until), Attempts: attempts}
	}
	return &t, nil
}

// copyTransfer returns a copy the caller may change without changing the
// original (or its Protection).
func copyTransfer(t *coffer.Transfer) *coffer.Transfer {
	if t == nil {
		return nil
	}
	c := *t
	if t.Protection != nil {
		p := *t.Protection
		c.Protection = &p
	}
	return &c
}

func (db *DB) Transfer(ctx context.Context, memberID, transferID, from string) (*coffer.Transfer, error) {
	// The sender's own transfer wins; otherwise the newest one paid to them.
	t, err := scanTransfer(db.pool.QueryRow(ctx, `SELECT `+transferCols+` FROM transfers
		WHERE transfer_id = $1 AND (sender = $2 OR payee = $2) AND ($3 = '' OR from_purse = $3)
		ORDER BY (sender = $2) DESC, seq DESC LIMIT 1`, transferID, memberID, from))
	if err != nil {
		return nil, mapErr("postgres.Transfer", err)
	}
	return t, nil
}

func (db *DB) History(ctx context.Context, purse string, f coffer.HistoryFilter) ([]*coffer.HistoryEntry, error) {
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	var since, until int64 = -1 << 62, 1 << 62
	if !f.Since.IsZero() {
		since = ms(f.Since)
	}
	if !f.Until.IsZero() {
		until = ms(f.Until)
	}
	// Entries written before the payment forms have no counterparty of
	// their own: the other purse of their transfer is.
	rows, err := db.pool.Query(ctx, `SELECT e.seq, e.purse, t.transfer_id,
		CASE WHEN e.counterparty <> '' THEN e.counterparty WHEN e.purse = t.from_purse THEN t.to_purse ELSE t.from_purse END,
		e.amount, e.kind, e.held, e.balance_after, t.description, e.created_at
		FROM entries e JOIN transfers t ON t.seq = e.transfer_seq
		WHERE e.purse = $1 AND e.seq < $2 AND e.created_at >= $3 AND e.created_at < $4
		ORDER BY e.seq DESC LIMIT $5`, purse, before, since, until, f.Limit)
	return collect(rows, err, "postgres.History", func(r rowScanner) (*coffer.HistoryEntry, error) {
		var h coffer.HistoryEntry
		var c int64
		if err := r.Scan(&h.Seq, &h.Purse, &h.TransferID, &h.Counterparty, &h.Amount, &h.Kind, &h.Held, &h.BalanceAfter, &h.Description, &c); err != nil {
			return nil, err
		}
		h.CreatedAt = fromMs(c)
		return &h, nil
	})
}

// PinKey records the fingerprint of a key that every process on this
// database must share, the first time one is started, and refuses a
// process whose key has another fingerprint.
func (db *DB) PinKey(ctx context.Context, name, fingerprint string) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO instance_keys (name, fingerprint, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		name, fingerprint, ms(time.Now())); err != nil {
		return mapErr("postgres.PinKey", err)
	}
	var pinned string
	if err := db.pool.QueryRow(ctx, `SELECT fingerprint FROM instance_keys WHERE name = $1`, name).Scan(&pinned); err != nil {
		return mapErr("postgres.PinKey", err)
	}
	if pinned != fingerprint {
		return fmt.Errorf("postgres: this database was first served with another %s (fingerprint %s, this one %s); every cofferd on one database must use the same one", name, pinned, fingerprint)
	}
	return nil
}

// UseNonce implements coffer.NonceStore. A nonce whose earlier use has
// expired counts as new (its old signature is too old to be accepted).
// Now and then expired nonces are removed.
func (db *DB) UseNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO signature_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE signature_nonces.expires_at <= $4`,
		keyID, nonce, ms(expires), ms(now))
	if err != nil {
		return false, mapErr("postgres.UseNonce", err)
	}
	if rand.IntN(256) == 0 {
		db.pool.Exec(ctx, `DELETE FROM signature_nonces WHERE expires_at <= $1`, ms(now)) // best effort
	}
	return tag.RowsAffected() == 1, nil
}
