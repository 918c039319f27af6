package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
)

// The writes of factors, keys and certificates that append an event only
// when they changed something (a recovery code used, a key revoked, a
// confirmation voided) lock their rows before the audit head, and so do the
// other writes to the same tables, which call Tx.Audit last: no two of them
// wait on each other in the opposite order. Ledger batches lock none of
// these rows.

// Factors implements coffer.FactorStore.
func (s *Store) Factors(ctx context.Context, memberID string) ([]*coffer.Factor, error) {
	rows, err := s.rd.Query(ctx, `SELECT kind, phone, secret, verified_at, last_step, created_at FROM factors WHERE member_id = ? ORDER BY kind`, memberID)
	return collect(s, "Factors", rows, err, func(r Scanner) (*coffer.Factor, error) {
		f := &coffer.Factor{MemberID: memberID}
		var verified sql.NullInt64
		var created int64
		if err := r.Scan(&f.Kind, &f.Phone, &f.Secret, &verified, &f.LastStep, &created); err != nil {
			return nil, err
		}
		f.CreatedAt = fromMs(created)
		if verified.Valid {
			f.Verified, f.VerifiedAt = true, fromMs(verified.Int64)
		}
		return f, nil
	})
}

// PutFactor implements coffer.FactorStore.
func (s *Store) PutFactor(ctx context.Context, f *coffer.Factor, ev *coffer.AuditEvent) error {
	var verified any
	if f.Verified {
		verified = ms(f.VerifiedAt)
	}
	return s.write(ctx, "PutFactor", lockNone, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO factors (member_id, kind, phone, secret, verified_at, last_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (member_id, kind) DO UPDATE SET phone = excluded.phone, secret = excluded.secret, verified_at = excluded.verified_at,
			last_step = excluded.last_step, created_at = excluded.created_at`,
			f.MemberID, f.Kind, f.Phone, f.Secret, verified, f.LastStep, ms(f.CreatedAt))
		return err
	}, ev)
}

// DeleteFactor implements coffer.FactorStore.
func (s *Store) DeleteFactor(ctx context.Context, memberID, kind string, ev *coffer.AuditEvent) error {
	return s.write(ctx, "DeleteFactor", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM factors WHERE member_id = ? AND kind = ?`, memberID, kind)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = notFound(s.d.Name()+".DeleteFactor", "factor")
		}
		return err
	}, ev)
}

// AdvanceStep implements coffer.FactorStore. It is one conditional UPDATE:
// a concurrent one for the same step waits for the row, re-checks
// last_step < step against the committed value and changes nothing, so a
// code is accepted once.
func (s *Store) AdvanceStep(ctx context.Context, memberID string, step int64) (bool, error) {
	res, err := s.wr.Exec(ctx, `UPDATE factors SET last_step = ?1 WHERE member_id = ?2 AND kind = 'generator' AND last_step < ?1`, step, memberID)
	return changedOne(s, "AdvanceStep", res, err)
}

// SetRecoveryCodes implements coffer.FactorStore. Replacements for one
// member run one at a time, so that the second deletes the codes the first
// inserted and the member ends with one set.
func (s *Store) SetRecoveryCodes(ctx context.Context, memberID string, codes []*coffer.RecoveryCode, ev *coffer.AuditEvent) error {
	return s.write(ctx, "SetRecoveryCodes", lockNone, func(tx *Tx) error {
		if err := s.serializeMember(ctx, tx, memberID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE member_id = ?`, memberID); err != nil {
			return err
		}
		for _, c := range codes {
			if err := tx.QueryRow(ctx, `INSERT INTO recovery_codes (member_id, salt, hash) VALUES (?, ?, ?) RETURNING id`,
				memberID, c.Salt, c.Hash).Scan(&c.ID); err != nil {
				return err
			}
			c.MemberID = memberID
		}
		return tx.Audit(ctx, ev)
	})
}

// RecoveryCodes implements coffer.FactorStore.
func (s *Store) RecoveryCodes(ctx context.Context, memberID string) ([]*coffer.RecoveryCode, error) {
	rows, err := s.rd.Query(ctx, `SELECT id, salt, hash FROM recovery_codes WHERE member_id = ? AND used_at IS NULL ORDER BY id`, memberID)
	return collect(s, "RecoveryCodes", rows, err, func(r Scanner) (*coffer.RecoveryCode, error) {
		c := &coffer.RecoveryCode{MemberID: memberID}
		if err := r.Scan(&c.ID, &c.Salt, &c.Hash); err != nil {
			return nil, err
		}
		return c, nil
	})
}

// UseRecoveryCode implements coffer.FactorStore. The conditional UPDATE
// decides: of concurrent uses exactly one changes the row and appends ev.
func (s *Store) UseRecoveryCode(ctx context.Context, memberID string, id int64, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	used := false
	err := s.write(ctx, "UseRecoveryCode", lockAudit, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND member_id = ? AND used_at IS NULL`, ms(at), id, memberID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if used = n == 1; err != nil || !used {
			return err
		}
		return tx.Audit(ctx, ev)
	})
	return used && err == nil, err
}

const confCols = `id, member_id, purpose, ref, body, method, challenge, salt, code_hash, attempts, state, created_at, expires_at`

func scanConfirmation(row Scanner) (*coffer.Confirmation, error) {
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
func (s *Store) CreateConfirmation(ctx context.Context, c *coffer.Confirmation) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO confirmations (`+confCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.MemberID, c.Purpose, c.Ref, c.Body, c.Method, c.Challenge, c.Salt, c.CodeHash, c.Attempts, c.State,
		ms(c.CreatedAt), ms(c.ExpiresAt))
	return s.mapErr("CreateConfirmation", err)
}

// Confirmation implements coffer.FactorStore. Confirmations are read
// through the writer, as they always were: a confirmation is read to be
// answered, and the writer has seen every change to it.
func (s *Store) Confirmation(ctx context.Context, id string) (*coffer.Confirmation, error) {
	c, err := scanConfirmation(s.wr.QueryRow(ctx, `SELECT `+confCols+` FROM confirmations WHERE id = ?`, id))
	if err != nil {
		return nil, s.mapErr("Confirmation", err)
	}
	return c, nil
}

// ConfirmationByRef implements coffer.FactorStore.
//
// Confirmations of one ref created in the same millisecond are told apart
// by where they are in their life, as the table has no column that records
// insertion order in both databases: a new confirmation of a ref is only
// made once the one before has left pending (at most one is pending, by a
// unique index), and after a done one only once it was voided. So a pending
// one is the newest, then a done one; the ID orders the rest, void and
// expired ones, which mean the same to every caller.
func (s *Store) ConfirmationByRef(ctx context.Context, memberID, purpose, ref string) (*coffer.Confirmation, error) {
	c, err := scanConfirmation(s.wr.QueryRow(ctx, `SELECT `+confCols+` FROM confirmations
		WHERE member_id = ? AND purpose = ? AND ref = ?
		ORDER BY created_at DESC, CASE state WHEN 'pending' THEN 2 WHEN 'done' THEN 1 ELSE 0 END DESC, id DESC LIMIT 1`, memberID, purpose, ref))
	if err != nil {
		return nil, s.mapErr("ConfirmationByRef", err)
	}
	return c, nil
}

// FailConfirmation implements coffer.FactorStore. The count is one UPDATE
// (concurrent failures queue on the row and each adds one), and ev is
// appended by the call whose failure voided the confirmation, once.
func (s *Store) FailConfirmation(ctx context.Context, id string, max int, ev *coffer.AuditEvent) (*coffer.Confirmation, error) {
	var c *coffer.Confirmation
	err := s.write(ctx, "FailConfirmation", lockAudit, func(tx *Tx) error {
		var err error
		c, err = scanConfirmation(tx.QueryRow(ctx, `UPDATE confirmations SET attempts = attempts + 1,
			state = CASE WHEN attempts + 1 >= ? THEN 'void' ELSE state END WHERE id = ? AND state = 'pending'
			RETURNING `+confCols, max, id))
		if errors.Is(err, sql.ErrNoRows) {
			// Not pending: nothing to count; report it as it is.
			c, err = scanConfirmation(tx.QueryRow(ctx, `SELECT `+confCols+` FROM confirmations WHERE id = ?`, id))
			return err
		}
		if err != nil {
			return err
		}
		if c.State == coffer.ConfirmVoid && c.Attempts == max {
			return tx.Audit(ctx, ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// FinishConfirmation implements coffer.FactorStore. One conditional
// UPDATE: of concurrent finishes exactly one reports true.
func (s *Store) FinishConfirmation(ctx context.Context, id, state string) (bool, error) {
	res, err := s.wr.Exec(ctx, `UPDATE confirmations SET state = ? WHERE id = ? AND state = 'pending'`, state, id)
	return changedOne(s, "FinishConfirmation", res, err)
}

// ResendConfirmation implements coffer.FactorStore.
func (s *Store) ResendConfirmation(ctx context.Context, id string, salt, hash []byte, expires time.Time) (bool, error) {
	res, err := s.wr.Exec(ctx, `UPDATE confirmations SET salt = ?, code_hash = ?, expires_at = ? WHERE id = ? AND state = 'pending'`,
		salt, hash, ms(expires), id)
	return changedOne(s, "ResendConfirmation", res, err)
}

// VoidConfirmation implements coffer.FactorStore.
func (s *Store) VoidConfirmation(ctx context.Context, id string) (bool, error) {
	res, err := s.wr.Exec(ctx, `UPDATE confirmations SET state = 'void' WHERE id = ? AND state IN ('pending', 'done')`, id)
	return changedOne(s, "VoidConfirmation", res, err)
}

// Policy implements coffer.FactorStore.
func (s *Store) Policy(ctx context.Context, memberID string) (*coffer.ConfirmationPolicy, error) {
	var text string
	err := s.rd.QueryRow(ctx, `SELECT policy FROM confirmation_policies WHERE member_id = ?`, memberID).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.mapErr("Policy", err)
	}
	var p coffer.ConfirmationPolicy
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return nil, s.mapErr("Policy", err)
	}
	return &p, nil
}

// SetPolicy implements coffer.FactorStore.
func (s *Store) SetPolicy(ctx context.Context, memberID string, p *coffer.ConfirmationPolicy, ev *coffer.AuditEvent) error {
	b, err := json.Marshal(p)
	if err != nil {
		return s.mapErr("SetPolicy", err)
	}
	return s.write(ctx, "SetPolicy", lockNone, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO confirmation_policies (member_id, policy) VALUES (?, ?)
			ON CONFLICT (member_id) DO UPDATE SET policy = excluded.policy`, memberID, string(b))
		return err
	}, ev)
}

// PaidBefore implements coffer.FactorStore.
func (s *Store) PaidBefore(ctx context.Context, memberID, purse string) (bool, error) {
	var paid bool
	err := s.rd.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE sender = ? AND to_purse = ?)`, memberID, purse).Scan(&paid)
	return paid, s.mapErr("PaidBefore", err)
}

// lockAttempts serializes the transactions that count or change the
// attempts of one key, from any process, at any isolation level.
func (s *Store) lockAttempts(ctx context.Context, tx *Tx, key string) error {
	return s.d.LockKey(ctx, tx.tx, "attempts "+key)
}

// AddAttempt implements coffer.FactorStore.
func (s *Store) AddAttempt(ctx context.Context, key string, at, since time.Time) (int, error) {
	var n int
	err := s.write(ctx, "AddAttempt", lockNone, func(tx *Tx) error {
		if err := s.lockAttempts(ctx, tx, key); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM attempts WHERE key = ? AND at < ?`, key, ms(since)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO attempts (key, at) VALUES (?, ?)`, key, ms(at)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM attempts WHERE key = ? AND at >= ?`, key, ms(since)).Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RemoveAttempt implements coffer.FactorStore. An attempt is its key and
// time and nothing else, so the attempts of one key at one time cannot be
// told apart: taking back one deletes them all and puts back one fewer.
func (s *Store) RemoveAttempt(ctx context.Context, key string, at time.Time) error {
	return s.write(ctx, "RemoveAttempt", lockNone, func(tx *Tx) error {
		if err := s.lockAttempts(ctx, tx, key); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM attempts WHERE key = ? AND at = ?`, key, ms(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n <= 1 {
			return err
		}
		args := make([]any, 0, 2*(n-1))
		for range n - 1 {
			args = append(args, key, ms(at))
		}
		_, err = tx.Exec(ctx, `INSERT INTO attempts (key, at) VALUES `+Rows(`(?, ?)`, int(n-1)), args...)
		return err
	})
}

// AttemptLock implements coffer.FactorStore.
func (s *Store) AttemptLock(ctx context.Context, key string) (coffer.AttemptLock, error) {
	var until int64
	var l coffer.AttemptLock
	err := s.rd.QueryRow(ctx, `SELECT until, strikes FROM attempt_locks WHERE key = ?`, key).Scan(&until, &l.Strikes)
	if errors.Is(err, sql.ErrNoRows) {
		return coffer.AttemptLock{}, nil
	}
	if err != nil {
		return coffer.AttemptLock{}, s.mapErr("AttemptLock", err)
	}
	l.Until = fromMs(until)
	return l, nil
}

// SetAttemptLock implements coffer.FactorStore.
func (s *Store) SetAttemptLock(ctx context.Context, key string, l coffer.AttemptLock, ev *coffer.AuditEvent) error {
	return s.write(ctx, "SetAttemptLock", lockNone, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO attempt_locks (key, until, strikes) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET until = excluded.until, strikes = excluded.strikes`, key, ms(l.Until), l.Strikes)
		return err
	}, ev)
}

// changedOne reports whether a conditional single-row write changed its
// row.
func changedOne(s *Store, op string, res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, s.mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.mapErr(op, err)
	}
	return n == 1, nil
}
