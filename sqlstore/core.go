package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// CreateMember implements coffer.Store.
func (s *Store) CreateMember(ctx context.Context, m *coffer.Member) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO members (id, email, phone, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		m.ID, nullStr(m.Email), nullStr(m.Phone), m.PasswordHash, ms(m.CreatedAt))
	if s.is(err, FaultUnique) {
		// The service tells the member which of their logins is taken.
		msg := "The member ID is taken."
		switch c := s.d.Constraint(err); {
		case strings.Contains(c, "email"):
			msg = "email"
		case strings.Contains(c, "phone"):
			msg = "phone"
		}
		return &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: s.d.Name() + ".CreateMember", Err: err}
	}
	return s.mapErr("CreateMember", err)
}

// MemberByLogin implements coffer.Store.
func (s *Store) MemberByLogin(ctx context.Context, login string) (*coffer.Member, error) {
	var m coffer.Member
	var email, phone sql.NullString
	var created int64
	err := s.rd.QueryRow(ctx, `SELECT id, email, phone, password_hash, created_at FROM members WHERE id = ?1 OR email = ?1 OR phone = ?1`, login).
		Scan(&m.ID, &email, &phone, &m.PasswordHash, &created)
	if err != nil {
		return nil, s.mapErr("MemberByLogin", err)
	}
	m.Email, m.Phone, m.CreatedAt = email.String, phone.String, fromMs(created)
	return &m, nil
}

// SetPasswordHash implements coffer.Store.
func (s *Store) SetPasswordHash(ctx context.Context, memberID, hash string) error {
	_, err := s.wr.Exec(ctx, `UPDATE members SET password_hash = ? WHERE id = ?`, hash, memberID)
	return s.mapErr("SetPasswordHash", err)
}

// CreateSession implements coffer.Store.
func (s *Store) CreateSession(ctx context.Context, se *coffer.Session) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO sessions (id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		se.ID, se.MemberID, se.TokenHash, se.IP, se.UserAgent, ms(se.CreatedAt), ms(se.LastUsedAt), ms(se.ExpiresAt))
	return s.mapErr("CreateSession", err)
}

const sessionCols = `id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at`

func scanSession(row Scanner) (*coffer.Session, error) {
	var s coffer.Session
	var c, l, e int64
	if err := row.Scan(&s.ID, &s.MemberID, &s.TokenHash, &s.IP, &s.UserAgent, &c, &l, &e); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromMs(c), fromMs(l), fromMs(e)
	return &s, nil
}

// SessionByTokenHash implements coffer.Store.
func (s *Store) SessionByTokenHash(ctx context.Context, hash []byte) (*coffer.Session, error) {
	return one(s, "SessionByTokenHash", s.rd.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`, hash), scanSession)
}

// TouchSession implements coffer.Store.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.wr.Exec(ctx, `UPDATE sessions SET last_used_at = ?1 WHERE id = ?2 AND last_used_at < ?1`, ms(at), id)
	return s.mapErr("TouchSession", err)
}

// Sessions implements coffer.Store.
func (s *Store) Sessions(ctx context.Context, memberID string) ([]*coffer.Session, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE member_id = ? ORDER BY created_at DESC`, memberID)
	return collect(s, "Sessions", rows, err, scanSession)
}

// DeleteSession implements coffer.Store.
func (s *Store) DeleteSession(ctx context.Context, memberID, id string) error {
	res, err := s.wr.Exec(ctx, `DELETE FROM sessions WHERE member_id = ? AND id = ?`, memberID, id)
	if err != nil {
		return s.mapErr("DeleteSession", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(s.d.Name()+".DeleteSession", "session")
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose absolute expiry has passed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	return s.sweep(ctx, "DeleteExpiredSessions", ms(now), `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < ?1 LIMIT ?2)`)
}

// sweepChunk is how many rows one statement of a sweep removes: each is a
// write of its own, well within the write timeout however large the
// backlog, and holds SQLite's writer only briefly.
const sweepChunk = 5000

// sweep runs each chunked DELETE (?1 the time, ?2 the chunk size) until it
// removes fewer rows than a chunk, and returns how many it removed. A sweep
// cut short keeps what it removed; the next one goes on.
func (s *Store) sweep(ctx context.Context, op string, now int64, deletes ...string) (int64, error) {
	var total int64
	for _, q := range deletes {
		for {
			res, err := s.wr.Exec(ctx, q, now, sweepChunk)
			if err != nil {
				return total, s.mapErr(op, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, s.mapErr(op, err)
			}
			total += n
			if n < sweepChunk {
				break
			}
		}
	}
	return total, nil
}

// Currencies implements coffer.Store.
func (s *Store) Currencies(ctx context.Context) ([]*coffer.Currency, error) {
	rows, err := s.rd.Query(ctx, `SELECT code, letter, decimals FROM currencies ORDER BY code`)
	return collect(s, "Currencies", rows, err, func(r Scanner) (*coffer.Currency, error) {
		var c coffer.Currency
		var letter string
		if err := r.Scan(&c.Code, &letter, &c.Decimals); err != nil {
			return nil, err
		}
		if letter == "" {
			return nil, fmt.Errorf("currency %s has no purse letter", c.Code)
		}
		c.Letter = letter[0]
		return &c, nil
	})
}

// CreateCurrency implements coffer.Store.
func (s *Store) CreateCurrency(ctx context.Context, c *coffer.Currency) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO currencies (code, letter, decimals) VALUES (?, ?, ?)`, c.Code, string(c.Letter), c.Decimals)
	return s.mapErr("CreateCurrency", err)
}

// CreatePurse implements coffer.Store.
func (s *Store) CreatePurse(ctx context.Context, p *coffer.Purse) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO purses (number, currency, owner, balance, issuer, lim, created_at) VALUES (?, ?, ?, 0, ?, ?, ?)`,
		p.Number, p.Currency, p.Owner, p.Issuer, p.Limit, ms(p.CreatedAt))
	return s.mapErr("CreatePurse", err)
}

// PurseCols are the columns ScanPurse reads.
const PurseCols = `number, currency, owner, balance, held, issuer, lim, created_at, closed`

// ScanPurse reads a row of PurseCols.
func ScanPurse(row Scanner) (*coffer.Purse, error) {
	var p coffer.Purse
	var c int64
	if err := row.Scan(&p.Number, &p.Currency, &p.Owner, &p.Balance, &p.Held, &p.Issuer, &p.Limit, &c, &p.Closed); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(c)
	return &p, nil
}

// Purse implements coffer.Store.
func (s *Store) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	p, err := ScanPurse(s.rd.QueryRow(ctx, `SELECT `+PurseCols+` FROM purses WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")
	}
	return p, s.mapErr("Purse", err)
}

// Purses implements coffer.Store.
func (s *Store) Purses(ctx context.Context, memberID string) ([]*coffer.Purse, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+PurseCols+` FROM purses WHERE owner = ? ORDER BY created_at, number`, memberID)
	return collect(s, "Purses", rows, err, ScanPurse)
}

// SetIssuer implements coffer.Store. It holds off ledger batches, so none
// decides on the old limit while it changes.
func (s *Store) SetIssuer(ctx context.Context, number string, limit int64) error {
	found := false
	err := s.write(ctx, "SetIssuer", lockLedger, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE purses SET issuer = ?, lim = ? WHERE number = ?`, true, limit, number)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		found = n > 0
		return err
	})
	var ce *coffer.Error
	if errors.As(err, &ce) && s.is(ce.Err, FaultCheck) || s.is(err, FaultCheck) {
		return coffer.ErrLimitBelowIssued
	}
	if err != nil {
		return err
	}
	if !found {
		return coffer.Errorf(coffer.EPURSENOTFOUND, "No such purse.")
	}
	return nil
}

// LedgerPurseCols is PurseCols with the owner's level, for the ledger
// (purses p joined with members m).
const LedgerPurseCols = `p.number, p.currency, p.owner, p.balance, p.held, p.issuer, p.lim, p.created_at, p.closed, m.level`

// ScanLedgerPurse reads a row of LedgerPurseCols.
func ScanLedgerPurse(row Scanner) (*coffer.Purse, error) {
	var p coffer.Purse
	var c int64
	if err := row.Scan(&p.Number, &p.Currency, &p.Owner, &p.Balance, &p.Held, &p.Issuer, &p.Limit, &c, &p.Closed, &p.OwnerLevel); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(c)
	return &p, nil
}

// LastStampQuery reads the time (Unix ms) the ledger's last entry was
// stamped with, 0 for an empty ledger: both ledger paths answer
// coffer.LedgerTx.LastStamp with it, inside the batch's transaction. Every
// ledger change that carries a time writes entries, so the last entry
// holds the latest stamp.
const LastStampQuery = `SELECT COALESCE((SELECT created_at FROM entries ORDER BY seq DESC LIMIT 1), 0)`

// TransferCols are the columns ScanTransfer reads.
const TransferCols = `seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at,
	kind, status, fee, fee_purse, invoice_id, trust_id, refund_of, refunded,
	protect_by_code, protect_salt, protect_hash, protect_until, protect_attempts`

// TransferArgs appends the values of TransferCols for t, in order.
func TransferArgs(args []any, t *coffer.Transfer) []any {
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

// ScanTransfer reads a row of TransferCols.
func ScanTransfer(row Scanner) (*coffer.Transfer, error) {
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
		p := &coffer.Protection{ByCode: byCode, Attempts: attempts, Until: fromNullMs(until)}
		if len(salt) > 0 || len(hash) > 0 {
			p.CodeSalt, p.CodeHash = salt, hash
		}
		t.Protection = p
	}
	return &t, nil
}

// Transfer implements coffer.Store.
func (s *Store) Transfer(ctx context.Context, memberID, transferID, from string) (*coffer.Transfer, error) {
	// The sender's own transfer wins; otherwise the newest one paid to them.
	return one(s, "Transfer", s.rd.QueryRow(ctx, `SELECT `+TransferCols+` FROM transfers
		WHERE transfer_id = ?1 AND (sender = ?2 OR payee = ?2) AND (?3 = '' OR from_purse = ?3)
		ORDER BY (sender = ?2) DESC, seq DESC LIMIT 1`, transferID, memberID, from), ScanTransfer)
}

// History implements coffer.Store.
func (s *Store) History(ctx context.Context, purse string, f coffer.HistoryFilter) ([]*coffer.HistoryEntry, error) {
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
	rows, err := s.rd.Query(ctx, q, args...)
	return collect(s, "History", rows, err, func(r Scanner) (*coffer.HistoryEntry, error) {
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
func (s *Store) PinKey(ctx context.Context, name, fingerprint string) error {
	if _, err := s.wr.Exec(ctx, `INSERT INTO instance_keys (name, fingerprint, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, fingerprint, ms(time.Now())); err != nil {
		return s.mapErr("PinKey", err)
	}
	var pinned string
	if err := s.wr.QueryRow(ctx, `SELECT fingerprint FROM instance_keys WHERE name = ?`, name).Scan(&pinned); err != nil {
		return s.mapErr("PinKey", err)
	}
	if pinned != fingerprint {
		return fmt.Errorf("this database was first served with another %s (fingerprint %s, this one %s); every cofferd on one database must use the same one", name, pinned, fingerprint)
	}
	return nil
}
