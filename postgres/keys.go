package postgres

import (
	"context"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

const keyCols = `id, member_id, name, public_key, created_at, last_used_at, revoked_at`

func scanKey(row rowScanner) (*coffer.SigningKey, error) {
	var k coffer.SigningKey
	var created int64
	var used, revoked *int64
	if err := row.Scan(&k.ID, &k.MemberID, &k.Name, &k.PublicKey, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMs(created), fromNullMs(used), fromNullMs(revoked)
	return &k, nil
}

// optEvent turns an optional event into the list appendAudit takes.
func optEvent(ev *coffer.AuditEvent) []*coffer.AuditEvent {
	if ev == nil {
		return nil
	}
	return []*coffer.AuditEvent{ev}
}

// lockMember locks a member's row for the rest of tx, so that count-then-
// insert sequences on the member's keys, certificates or recovery codes run
// one at a time. FOR NO KEY UPDATE does not conflict with the KEY SHARE
// locks that foreign-key checks take, so inserts of the member's sessions,
// purses and the like are not held up. A missing member locks nothing; the
// insert that follows then fails on its foreign key, as it would in SQLite.
func lockMember(ctx context.Context, tx pgx.Tx, memberID string) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE`, memberID)
	return err
}

// errNothing rolls back a transaction that found nothing to change (and so
// appends no audit event); the method then reports false.
var errNothing = &coffer.Error{Code: coffer.ENOTFOUND, Message: "nothing to change"}

// CreateKey implements coffer.KeyStore. The member's row is locked before
// the count, so concurrent requests, from any process, cannot together
// exceed maxActive.
func (db *DB) CreateKey(ctx context.Context, k *coffer.SigningKey, maxActive int, ev *coffer.AuditEvent) error {
	const op = "postgres.CreateKey"
	// A conflict travels past inTx on the side: mapErr would replace its
	// message, which tells a taken public key from a taken ID.
	var conflict error
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := lockMember(ctx, tx, k.MemberID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM signing_keys WHERE member_id = $1 AND revoked_at IS NULL`, k.MemberID).Scan(&n); err != nil {
			return err
		}
		if n >= maxActive {
			return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "Too many active keys.", Op: op}
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, NULL, NULL)`,
			k.ID, k.MemberID, k.Name, k.PublicKey, ms(k.CreatedAt))
		if isUnique(err) {
			msg := "The key ID is taken."
			if pgConstraint(err) == "signing_keys_public_key_key" {
				msg = "public_key"
			}
			conflict = &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: op, Err: err}
			return errNothing
		}
		return err
	}, ev)
	if err == errNothing {
		return conflict
	}
	return err
}

// Key implements coffer.KeyStore.
func (db *DB) Key(ctx context.Context, id string) (*coffer.SigningKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.Key", err)
	}
	return k, nil
}

// Keys implements coffer.KeyStore.
func (db *DB) Keys(ctx context.Context, memberID string) ([]*coffer.SigningKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE member_id = $1 ORDER BY created_at DESC, id`, memberID)
	return collect(rows, err, "postgres.Keys", scanKey)
}

// RenameKey implements coffer.KeyStore.
func (db *DB) RenameKey(ctx context.Context, memberID, id, name string, ev *coffer.AuditEvent) error {
	const op = "postgres.RenameKey"
	return db.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET name = $1 WHERE id = $2 AND member_id = $3`, name, id, memberID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such key.", Op: op}
		}
		return nil
	}, ev)
}

// RevokeKey implements coffer.KeyStore. The conditional UPDATE decides:
// of two concurrent revocations exactly one changes the row and appends ev.
func (db *DB) RevokeKey(ctx context.Context, memberID, id string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "postgres.RevokeKey"
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET revoked_at = $1 WHERE id = $2 AND member_id = $3 AND revoked_at IS NULL`, ms(at), id, memberID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM signing_keys WHERE id = $1 AND member_id = $2`, id, memberID).Scan(&one); err != nil {
			return err // ErrNoRows: not this member's key
		}
		return errNothing // revoked already
	}, ev)
	if err == errNothing {
		return false, nil
	}
	return err == nil, err
}

// NoteKeyUse implements coffer.KeyStore.
func (db *DB) NoteKeyUse(ctx context.Context, id, ip string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "postgres.NoteKeyUse"
	first := false
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		first = false
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) WHERE id = $2`, ms(at), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such key.", Op: op}
		}
		tag, err = tx.Exec(ctx, `INSERT INTO signing_key_ips (key_id, ip, first_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, ip, ms(at))
		if err != nil {
			return err
		}
		if first = tag.RowsAffected() > 0; first {
			return appendAudit(ctx, tx, optEvent(ev))
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return first, nil
}
