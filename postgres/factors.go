package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// Factors implements coffer.FactorStore.
func (db *DB) Factors(ctx context.Context, memberID string) ([]*coffer.Factor, error) {
	rows, err := db.pool.Query(ctx, `SELECT kind, phone, secret, verified_at, last_step, created_at FROM factors WHERE member_id = $1 ORDER BY kind`, memberID)
	return collect(rows, err, "postgres.Factors", func(row rowScanner) (*coffer.Factor, error) {
		f := &coffer.Factor{MemberID: memberID}
		var verified *int64
		var created int64
		if err := row.Scan(&f.Kind, &f.Phone, &f.Secret, &verified, &f.LastStep, &created); err != nil {
			return nil, err
		}
		f.CreatedAt = fromMs(created)
		if verified != nil {
			f.Verified, f.VerifiedAt = true, fromMs(*verified)
		}
		return f, nil
	})
}

// PutFactor implements coffer.FactorStore.
func (db *DB) PutFactor(ctx context.Context, f *coffer.Factor, ev *coffer.AuditEvent) error {
	var verified any
	if f.Verified {
		verified = ms(f.VerifiedAt)
	}
	return db.inTx(ctx, "postgres.PutFactor", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO factors (member_id, kind, phone, secret, verified_at, last_step, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (member_id, kind) DO UPDATE SET phone = excluded.phone, secret = excluded.secret, verified_at = excluded.verified_at,
			last_step = excluded.last_step, created_at = excluded.created_at`,
			f.MemberID, f.Kind, f.Phone, f.Secret, verified, f.LastStep, ms(f.CreatedAt))
		return err
	}, ev)
}

// DeleteFactor implements coffer.FactorStore.
func (db *DB) DeleteFactor(ctx context.Context, memberID, kind string, ev *coffer.AuditEvent) error {
	const op = "postgres.DeleteFactor"
	return db.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM factors WHERE member_id = $1 AND kind = $2`, memberID, kind)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such factor.", Op: op}
		}
		return nil
	}, ev)
}

// AdvanceStep implements coffer.FactorStore. It is one conditional
// UPDATE: a concurrent one for the same step waits for the row, re-checks
// last_step < step against the committed value and changes nothing, so a
// code is accepted once.
func (db *DB) AdvanceStep(ctx context.Context, memberID string, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE factors SET last_step = $1 WHERE member_id = $2 AND kind = 'generator' AND last_step < $1`, step, memberID)
	if err != nil {
		return false, mapErr("postgres.AdvanceStep", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetRecoveryCodes implements coffer.FactorStore. The member's row is
// locked first, so that of two concurrent replacements the second deletes
// the codes the first inserted and the member ends with one set.
func (db *DB) SetRecoveryCodes(ctx context.Context, memberID string, codes []*coffer.RecoveryCode, ev *coffer.AuditEvent) error {
	return db.inTx(ctx, "postgres.SetRecoveryCodes", func(tx pgx.Tx) error {
		if err := lockMember(ctx, tx, memberID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE member_id = $1`, memberID); err != nil {
			return err
		}
		for _, c := range codes {
			if err := tx.QueryRow(ctx, `INSERT INTO recovery_codes (member_id, salt, hash) VALUES ($1, $2, $3) RETURNING id`,
				memberID, c.Salt, c.Hash).Scan(&c.ID); err != nil {
				return err
			}
			c.MemberID = memberID
		}
		return nil
	}, ev)
}

// RecoveryCodes implements coffer.FactorStore.
func (db *DB) RecoveryCodes(ctx context.Context, memberID string) ([]*coffer.RecoveryCode, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, salt, hash FROM recovery_codes WHERE member_id = $1 AND used_at IS NULL ORDER BY id`, memberID)
	return collect(rows, err, "postgres.RecoveryCodes", func(row rowScanner) (*coffer.RecoveryCode, error) {
		c := &coffer.RecoveryCode{MemberID: memberID}
		if err := row.Scan(&c.ID, &c.Salt, &c.Hash); err != nil {
			return nil, err
		}
		return c, nil
	})
}

// UseRecoveryCode implements coffer.FactorStore. The conditional UPDATE
// decides: of concurrent uses exactly one changes the row and appends ev.
func (db *DB) UseRecoveryCode(ctx context.Context, memberID string, id int64, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	err := db.inTx(ctx, "postgres.UseRecoveryCode", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE id = $2 AND member_id = $3 AND used_at IS NULL`, ms(at), id, memberID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errNothing
		}
		return nil
	}, ev)
	if err == errNothing {
		return false, nil
	}
	return err == nil, err
}

const confCols = `id, member_id, purpose, ref, body, method, challenge, salt, code_hash, attempts, state, created_at, expires_at`

func scanConfirmation(row rowScanner) (*coffer.Confirmation, error) {
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
	_, err := db.pool.Exec(ctx, `INSERT INTO confirmations (`+confCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.ID, c.MemberID, c.Purpose, c.Ref, c.Body, c.Method, c.Challenge, c.Salt, c.CodeHash, c.Attempts, c.State,
		ms(c.CreatedAt), ms(c.ExpiresAt))
	return mapErr("postgres.CreateConfirmation", err)
}

// Confirmation implements coffer.FactorStore.
func (db *DB) Confirmation(ctx context.Context, id string) (*coffer.Confirmation, error) {
	c, err := scanConfirmation(db.pool.QueryRow(ctx, `SELECT `+confCols+` FROM confirmations WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.Confirmation", err)
	}
	return c, nil
}

// ConfirmationByRef implements coffer.FactorStore. seq breaks ties between
// confirmations created in the same millisecond, as SQLite's rowid does.
func (db *DB) ConfirmationByRef(ctx context.Context, memberID, purpose, ref string) (*coffer.Confirmation, error) {
	c, err := scanConfirmation(db.pool.QueryRow(ctx, `SELECT `+confCols+` FROM confirmations
		WHERE member_id = $1 AND purpose = $2 AND ref = $3 ORDER BY created_at DESC, seq DESC LIMIT 1`, memberID, purpose, ref))
	if err != nil {
		return nil, mapErr("postgres.ConfirmationByRef", err)
	}
	return c, nil
}

// FailConfirmation implements coffer.FactorStore. The count is one UPDATE
// (concurrent failures queue on the row and each adds one), and ev is
// appended by the call whose failure voided the confirmation, once.
func (db *DB) FailConfirmation(ctx context.Context, id string, max int, ev *coffer.AuditEvent) (*coffer.Confirmation, error) {
	const op = "postgres.FailConfirmation"
	var c *coffer.Confirmation
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		var err error
		c, err = scanConfirmation(tx.QueryRow(ctx, `UPDATE confirmations SET attempts = attempts + 1,
			state = CASE WHEN attempts + 1 >= $1 THEN 'void' ELSE state END WHERE id = $2 AND state = 'pending'
			RETURNING `+confCols, max, id))
		if err == nil {
			if c.State == coffer.ConfirmVoid && c.Attempts == max {
				return appendAudit(ctx, tx, optEvent(ev))
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Not pending: nothing to count; report it as it is.
		c, err = scanConfirmation(tx.QueryRow(ctx, `SELECT `+confCols+` FROM confirmations WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// FinishConfirmation implements coffer.FactorStore. One conditional
// UPDATE: of concurrent finishes exactly one reports true.
func (db *DB) FinishConfirmation(ctx context.Context, id, state string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE confirmations SET state = $1 WHERE id = $2 AND state = 'pending'`, state, id)
	if err != nil {
		return false, mapErr("postgres.FinishConfirmation", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ResendConfirmation implements coffer.FactorStore.
func (db *DB) ResendConfirmation(ctx context.Context, id string, salt, hash []byte, expires time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE confirmations SET salt = $1, code_hash = $2, expires_at = $3 WHERE id = $4 AND state = 'pending'`,
		salt, hash, ms(expires), id)
	if err != nil {
		return false, mapErr("postgres.ResendConfirmation", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Policy implements coffer.FactorStore.
func (db *DB) Policy(ctx context.Context, memberID string) (*coffer.ConfirmationPolicy, error) {
	const op = "postgres.Policy"
	var text string
	err := db.pool.QueryRow(ctx, `SELECT policy FROM confirmation_policies WHERE member_id = $1`, memberID).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
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
	const op = "postgres.SetPolicy"
	b, err := json.Marshal(p)
	if err != nil {
		return mapErr(op, err)
	}
	return db.inTx(ctx, op, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO confirmation_policies (member_id, policy) VALUES ($1, $2)
			ON CONFLICT (member_id) DO UPDATE SET policy = excluded.policy`, memberID, string(b))
		return err
	}, ev)
}

// PaidBefore implements coffer.FactorStore.
func (db *DB) PaidBefore(ctx context.Context, memberID, purse string) (bool, error) {
	var paid bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE sender = $1 AND to_purse = $2)`, memberID, purse).Scan(&paid)
	return paid, mapErr("postgres.PaidBefore", err)
}

// VoidConfirmation implements coffer.FactorStore.
func (db *DB) VoidConfirmation(ctx context.Context, id string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE confirmations SET state = 'void' WHERE id = $1 AND state IN ('pending', 'done')`, id)
	if err != nil {
		return false, mapErr("postgres.VoidConfirmation", err)
	}
	return tag.RowsAffected() == 1, nil
}

// AddAttempt implements coffer.FactorStore. A transaction-scoped
// advisory lock on the key makes concurrent calls for one key count one
// after another, at any isolation level.
func (db *DB) AddAttempt(ctx context.Context, key string, at, since time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, "postgres.AddAttempt", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('coffer attempts ' || $1, 0))`, key); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM attempts WHERE key = $1 AND at < $2`, key, ms(since)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO attempts (key, at) VALUES ($1, $2)`, key, ms(at)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM attempts WHERE key = $1 AND at >= $2`, key, ms(since)).Scan(&n)
	})
	return n, err
}

// RemoveAttempt implements coffer.FactorStore.
func (db *DB) RemoveAttempt(ctx context.Context, key string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM attempts WHERE ctid = (SELECT ctid FROM attempts WHERE key = $1 AND at = $2 LIMIT 1)`, key, ms(at))
	return mapErr("postgres.RemoveAttempt", err)
}

// AttemptLock implements coffer.FactorStore.
func (db *DB) AttemptLock(ctx context.Context, key string) (coffer.AttemptLock, error) {
	var until int64
	var l coffer.AttemptLock
	err := db.pool.QueryRow(ctx, `SELECT until, strikes FROM attempt_locks WHERE key = $1`, key).Scan(&until, &l.Strikes)
	if errors.Is(err, pgx.ErrNoRows) {
		return coffer.AttemptLock{}, nil
	}
	if err != nil {
		return coffer.AttemptLock{}, mapErr("postgres.AttemptLock", err)
	}
	l.Until = fromMs(until)
	return l, nil
}

// SetAttemptLock implements coffer.FactorStore.
func (db *DB) SetAttemptLock(ctx context.Context, key string, l coffer.AttemptLock, ev *coffer.AuditEvent) error {
	return db.inTx(ctx, "postgres.SetAttemptLock", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO attempt_locks (key, until, strikes) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET until = excluded.until, strikes = excluded.strikes`, key, ms(l.Until), l.Strikes)
		return err
	}, ev)
}
