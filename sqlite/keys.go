package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

const keyCols = `id, member_id, name, public_key, created_at, last_used_at, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (*coffer.SigningKey, error) {
	var k coffer.SigningKey
	var created int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.MemberID, &k.Name, &k.PublicKey, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMs(created)
	if used.Valid {
		k.LastUsedAt = fromMs(used.Int64)
	}
	if revoked.Valid {
		k.RevokedAt = fromMs(revoked.Int64)
	}
	return &k, nil
}

// events turns an optional event into the list appendAudit takes.
func events(ev *coffer.AuditEvent) []*coffer.AuditEvent {
	if ev == nil {
		return nil
	}
	return []*coffer.AuditEvent{ev}
}

// CreateKey implements coffer.KeyStore. The count and the insert share one
// write transaction, which holds SQLite's write lock, so concurrent
// requests cannot together exceed maxActive.
func (db *DB) CreateKey(ctx context.Context, k *coffer.SigningKey, maxActive int, ev *coffer.AuditEvent) error {
	const op = "sqlite.CreateKey"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signing_keys WHERE member_id = ? AND revoked_at IS NULL`, k.MemberID).Scan(&n); err != nil {
		return mapErr(op, err)
	}
	if n >= maxActive {
		return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "Too many active keys.", Op: op}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, NULL, NULL)`,
		k.ID, k.MemberID, k.Name, k.PublicKey, ms(k.CreatedAt))
	if isUnique(err) {
		msg := "The key ID is taken."
		if strings.Contains(err.Error(), "signing_keys.public_key") {
			msg = "public_key"
		}
		return &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: op, Err: err}
	}
	if err != nil {
		return mapErr(op, err)
	}
	if err := appendAudit(ctx, tx, events(ev)); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

// Key implements coffer.KeyStore.
func (db *DB) Key(ctx context.Context, id string) (*coffer.SigningKey, error) {
	k, err := scanKey(db.r.QueryRowContext(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.Key", err)
	}
	return k, nil
}

// Keys implements coffer.KeyStore.
func (db *DB) Keys(ctx context.Context, memberID string) ([]*coffer.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE member_id = ? ORDER BY created_at DESC, id`, memberID)
	if err != nil {
		return nil, mapErr("sqlite.Keys", err)
	}
	defer rows.Close()
	var out []*coffer.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, mapErr("sqlite.Keys", err)
		}
		out = append(out, k)
	}
	return out, mapErr("sqlite.Keys", rows.Err())
}

// RenameKey implements coffer.KeyStore.
func (db *DB) RenameKey(ctx context.Context, memberID, id, name string, ev *coffer.AuditEvent) error {
	const op = "sqlite.RenameKey"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET name = ? WHERE id = ? AND member_id = ?`, name, id, memberID)
	if err != nil {
		return mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such key.", Op: op}
	}
	if err := appendAudit(ctx, tx, events(ev)); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

// RevokeKey implements coffer.KeyStore.
func (db *DB) RevokeKey(ctx context.Context, memberID, id string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.RevokeKey"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(op, err)
	}
	defer tx.Rollback()
	var revoked sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT revoked_at FROM signing_keys WHERE id = ? AND member_id = ?`, id, memberID).Scan(&revoked)
	if err != nil {
		return false, mapErr(op, err)
	}
	if revoked.Valid {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET revoked_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return false, mapErr(op, err)
	}
	if err := appendAudit(ctx, tx, events(ev)); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, mapErr(op, err)
	}
	return true, nil
}

// NoteKeyUse implements coffer.KeyStore.
func (db *DB) NoteKeyUse(ctx context.Context, id, ip string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.NoteKeyUse"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`, ms(at), id)
	if err != nil {
		return false, mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such key.", Op: op}
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO signing_key_ips (key_id, ip, first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, id, ip, ms(at))
	if err != nil {
		return false, mapErr(op, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		if err := appendAudit(ctx, tx, events(ev)); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, mapErr(op, err)
	}
	return n > 0, nil
}
