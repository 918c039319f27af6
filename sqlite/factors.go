package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/coffer-money/coffer"
)

// inTx runs fn in one write transaction and appends evs with it.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error, evs ...*coffer.AuditEvent) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	var list []*coffer.AuditEvent
	for _, e := range evs {
		if e != nil {
			list = append(list, e)
		}
	}
	if err := appendAudit(ctx, tx, list); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

func nullMs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

// Factors implements coffer.FactorStore.
func (db *DB) Factors(ctx context.Context, memberID string) ([]*coffer.Factor, error) {
	const op = "sqlite.Factors"
	rows, err := db.r.QueryContext(ctx, `SELECT kind, phone, secret, verified_at, last_step, created_at FROM factors WHERE member_id = ? ORDER BY kind`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []*coffer.Factor
	for rows.Next() {
		f := &coffer.Factor{MemberID: memberID}
		var verified sql.NullInt64
		var created int64
		if err := rows.Scan(&f.Kind, &f.Phone, &f.Secret, &verified, &f.LastStep, &created); err != nil {
			return nil, mapErr(op, err)
		}
		f.CreatedAt = fromMs(created)
		if verified.Valid {
			f.Verified, f.VerifiedAt = true, fromMs(verified.Int64)
		}
		out = append(out, f)
	}
	return out, mapErr(op, rows.Err())
}

// PutFactor implements coffer.FactorStore.
func (db *DB) PutFactor(ctx context.Context, f *coffer.Factor, ev *coffer.AuditEvent) error {
	const op = "sqlite.PutFactor"
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		var verified any
		if f.Verified {
			verified = ms(f.VerifiedAt)
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO factors (member_id, kind, phone, secret, verified_at, last_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			f.MemberID, f.Kind, f.Phone, f.Secret, verified, f.LastStep, ms(f.CreatedAt))
		return mapErr(op, err)
	}, ev)
}

// DeleteFactor implements coffer.FactorStore.
func (db *DB) DeleteFactor(ctx context.Context, memberID, kind string, ev *coffer.AuditEvent) error {
	const op = "sqlite.DeleteFactor"
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM factors WHERE member_id = ? AND kind = ?`, memberID, kind)
		if err != nil {
			return mapErr(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such factor.", Op: op}
		}
		return nil
	}, ev)
}

// AdvanceStep implements coffer.FactorStore.
func (db *DB) AdvanceStep(ctx context.Context, memberID string, step int64) (bool, error) {
	const op = "sqlite.AdvanceStep"
	res, err := db.w.ExecContext(ctx, `UPDATE factors SET last_step = ? WHERE member_id = ? AND kind = 'generator' AND last_step < ?`, step, memberID, step)
	if err != nil {
		return false, mapErr(op, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetRecoveryCodes implements coffer.FactorStore.
func (db *DB) SetRecoveryCodes(ctx context.Context, memberID string, codes []*coffer.RecoveryCode, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetRecoveryCodes"
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE member_id = ?`, memberID); err != nil {
			return mapErr(op, err)
		}
		for _, c := range codes {
			res, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (member_id, salt, hash) VALUES (?, ?, ?)`, memberID, c.Salt, c.Hash)
			if err != nil {
				return mapErr(op, err)
			}
			c.ID, _ = res.LastInsertId()
			c.MemberID = memberID
		}
		return nil
	}, ev)
}

// RecoveryCodes implements coffer.FactorStore.
func (db *DB) RecoveryCodes(ctx context.Context, memberID string) ([]*coffer.RecoveryCode, error) {
	const op = "sqlite.RecoveryCodes"
	rows, err := db.r.QueryContext(ctx, `SELECT id, salt, hash FROM recovery_codes WHERE member_id = ? AND used_at IS NULL ORDER BY id`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []*coffer.RecoveryCode
	for rows.Next() {
		c := &coffer.RecoveryCode{MemberID: memberID}
		if err := rows.Scan(&c.ID, &c.Salt, &c.Hash); err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, c)
	}
	return out, mapErr(op, rows.Err())
}

// UseRecoveryCode implements coffer.FactorStore.
func (db *DB) UseRecoveryCode(ctx context.Context, memberID string, id int64, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.UseRecoveryCode"
	used := false
	err := db.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND member_id = ? AND used_at IS NULL`, ms(at), id, memberID)
		if err != nil {
			return mapErr(op, err)
		}
		n, _ := res.RowsAffected()
		used = n == 1
		if !used {
			return errNothing
		}
		return nil
	}, ev)
	if err == errNothing {
		return false, nil
	}
	return used, err
}

// errNothing rolls back a transaction that found nothing to change.
var errNothing = &coffer.Error{Code: coffer.ENOTFOUND, Message: "nothing to change"}

const confCols = `id, member_id, purpose, ref, body, method, challenge, salt, code_hash, attempts, state, created_at, expires_at`

func scanConfirmation(row interface{ Scan(...any) error }) (*coffer.Confirmation, error) {
	var c coffer.Confirmation
	var created, expires int64
	if err := row.Scan(&c.ID, &c.MemberID, &c.Purpose, &c.Ref, &c.Body, &c.Method, &c.Challenge, &c.Salt, &c.CodeHash,
		&c.Attempts, &c.State, &created, &expires); err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt = fromMs(created), fromMs(expires)
	return &c, nil
}

// CreateConfirmation implements coffer.FactorStore.
func (db *DB) CreateConfirmation(ctx context.Context, c *coffer.Confirmation) error {
	const op = "sqlite.CreateConfirmation"
	_, err := db.w.ExecContext(ctx, `INSERT INTO confirmations (`+confCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.MemberID, c.Purpose, c.Ref, c.Body, c.Method, c.Challenge, c.Salt, c.CodeHash, c.Attempts, c.State,
		ms(c.CreatedAt), ms(c.ExpiresAt))
	return mapErr(op, err)
}

// Confirmation implements coffer.FactorStore.
func (db *DB) Confirmation(ctx context.Context, id string) (*coffer.Confirmation, error) {
	c, err := scanConfirmation(db.w.QueryRowContext(ctx, `SELECT `+confCols+` FROM confirmations WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.Confirmation", err)
	}
	return c, nil
}

// ConfirmationByRef implements coffer.FactorStore.
func (db *DB) ConfirmationByRef(ctx context.Context, memberID, purpose, ref string) (*coffer.Confirmation, error) {
	c, err := scanConfirmation(db.w.QueryRowContext(ctx, `SELECT `+confCols+` FROM confirmations
		WHERE member_id = ? AND purpose = ? AND ref = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, memberID, purpose, ref))
	if err != nil {
		return nil, mapErr("sqlite.ConfirmationByRef", err)
	}
	return c, nil
}

// FailConfirmation implements coffer.FactorStore.
func (db *DB) FailConfirmation(ctx context.Context, id string, max int, ev *coffer.AuditEvent) (*coffer.Confirmation, error) {
	const op = "sqlite.FailConfirmation"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE confirmations SET attempts = attempts + 1,
		state = CASE WHEN attempts + 1 >= ? THEN 'void' ELSE state END WHERE id = ? AND state = 'pending'`, max, id); err != nil {
		return nil, mapErr(op, err)
	}
	c, err := scanConfirmation(tx.QueryRowContext(ctx, `SELECT `+confCols+` FROM confirmations WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(op, err)
	}
	if c.State == coffer.ConfirmVoid && c.Attempts == max && ev != nil {
		if err := appendAudit(ctx, tx, events(ev)); err != nil {
			return nil, err
		}
	}
	return c, mapErr(op, tx.Commit())
}

// FinishConfirmation implements coffer.FactorStore.
func (db *DB) FinishConfirmation(ctx context.Context, id, state string) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE confirmations SET state = ? WHERE id = ? AND state = 'pending'`, state, id)
	if err != nil {
		return false, mapErr("sqlite.FinishConfirmation", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ResendConfirmation implements coffer.FactorStore.
func (db *DB) ResendConfirmation(ctx context.Context, id string, salt, hash []byte, expires time.Time) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE confirmations SET salt = ?, code_hash = ?, expires_at = ? WHERE id = ? AND state = 'pending'`,
		salt, hash, ms(expires), id)
	if err != nil {
		return false, mapErr("sqlite.ResendConfirmation", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Policy implements coffer.FactorStore.
func (db *DB) Policy(ctx context.Context, memberID string) (*coffer.ConfirmationPolicy, error) {
	const op = "sqlite.Policy"
	var text string
	err := db.r.QueryRowContext(ctx, `SELECT policy FROM confirmation_policies WHERE member_id = ?`, memberID).Scan(&text)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	var p coffer.ConfirmationPolicy
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return nil, mapErr(op, err)
	}
	return &p, nil
}

// SetPolicy implements coffer.FactorStore.
func (db *DB) SetPolicy(ctx context.Context, memberID string, p *coffer.ConfirmationPolicy, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetPolicy"
	b, err := json.Marshal(p)
	if err != nil {
		return mapErr(op, err)
	}
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO confirmation_policies (member_id, policy) VALUES (?, ?)
			ON CONFLICT (member_id) DO UPDATE SET policy = excluded.policy`, memberID, string(b))
		return mapErr(op, err)
	}, ev)
}

// PaidBefore implements coffer.FactorStore.
func (db *DB) PaidBefore(ctx context.Context, memberID, purse string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM transfers WHERE sender = ? AND to_purse = ? LIMIT 1`, memberID, purse).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, mapErr("sqlite.PaidBefore", err)
}

// VoidConfirmation implements coffer.FactorStore.
func (db *DB) VoidConfirmation(ctx context.Context, id string) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE confirmations SET state = 'void' WHERE id = ? AND state IN ('pending', 'done')`, id)
	if err != nil {
		return false, mapErr("sqlite.VoidConfirmation", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AddAttempt implements coffer.FactorStore. The writer connection
// serialises concurrent calls.
func (db *DB) AddAttempt(ctx context.Context, key string, at, since time.Time) (int, error) {
	const op = "sqlite.AddAttempt"
	var n int
	err := db.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE key = ? AND at < ?`, key, ms(since)); err != nil {
			return mapErr(op, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO attempts (key, at) VALUES (?, ?)`, key, ms(at)); err != nil {
			return mapErr(op, err)
		}
		return mapErr(op, tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM attempts WHERE key = ? AND at >= ?`, key, ms(since)).Scan(&n))
	})
	return n, err
}

// RemoveAttempt implements coffer.FactorStore.
func (db *DB) RemoveAttempt(ctx context.Context, key string, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM attempts WHERE rowid = (SELECT rowid FROM attempts WHERE key = ? AND at = ? LIMIT 1)`, key, ms(at))
	return mapErr("sqlite.RemoveAttempt", err)
}

// AttemptLock implements coffer.FactorStore.
func (db *DB) AttemptLock(ctx context.Context, key string) (coffer.AttemptLock, error) {
	var until int64
	var l coffer.AttemptLock
	err := db.r.QueryRowContext(ctx, `SELECT until, strikes FROM attempt_locks WHERE key = ?`, key).Scan(&until, &l.Strikes)
	if err == sql.ErrNoRows {
		return coffer.AttemptLock{}, nil
	}
	if err != nil {
		return coffer.AttemptLock{}, mapErr("sqlite.AttemptLock", err)
	}
	l.Until = fromMs(until)
	return l, nil
}

// SetAttemptLock implements coffer.FactorStore.
func (db *DB) SetAttemptLock(ctx context.Context, key string, l coffer.AttemptLock, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetAttemptLock"
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO attempt_locks (key, until, strikes) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET until = excluded.until, strikes = excluded.strikes`, key, ms(l.Until), l.Strikes)
		return mapErr(op, err)
	}, ev)
}
