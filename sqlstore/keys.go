package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

const keyCols = `id, member_id, name, public_key, created_at, last_used_at, revoked_at`

func scanKey(row Scanner) (*coffer.SigningKey, error) {
	var k coffer.SigningKey
	var created int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.MemberID, &k.Name, &k.PublicKey, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMs(created), fromNullMs(used), fromNullMs(revoked)
	return &k, nil
}

// serializeMember makes the count-then-insert sequences on a member's
// keys, certificates or recovery codes run one at a time, from any process,
// until tx ends. It is a lock on the member's name, not on the member's
// row, so it holds up nothing else of the member's (the foreign-key checks
// of their sessions and purses, say); a missing member is locked all the
// same, and the insert that follows fails on its foreign key.
func (s *Store) serializeMember(ctx context.Context, tx *Tx, memberID string) error {
	return s.d.LockKey(ctx, tx.tx, "member "+memberID)
}

// CreateKey implements coffer.KeyStore. The count and the insert run with
// the member serialized, so concurrent requests cannot together exceed
// maxActive. Errors: coffer.ErrTooManyKeys.
func (s *Store) CreateKey(ctx context.Context, k *coffer.SigningKey, maxActive int, ev *coffer.AuditEvent) error {
	return s.write(ctx, "CreateKey", lockNone, func(tx *Tx) error {
		if err := s.serializeMember(ctx, tx, k.MemberID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM signing_keys WHERE member_id = ? AND revoked_at IS NULL`, k.MemberID).Scan(&n); err != nil {
			return err
		}
		if n >= maxActive {
			return coffer.ErrTooManyKeys
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, NULL, NULL)`,
			k.ID, k.MemberID, k.Name, k.PublicKey, ms(k.CreatedAt))
		if s.is(err, FaultUnique) {
			// The service tells a public key used before from an ID drawn twice.
			msg := "The key ID is taken."
			if strings.Contains(s.d.Constraint(err), "public_key") {
				msg = "public_key"
			}
			return &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: s.d.Name() + ".CreateKey", Err: err}
		}
		if err != nil {
			return err
		}
		return tx.Audit(ctx, ev)
	})
}

// Key implements coffer.KeyStore.
func (s *Store) Key(ctx context.Context, id string) (*coffer.SigningKey, error) {
	return one(s, "Key", s.rd.QueryRow(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE id = ?`, id), scanKey)
}

// Keys implements coffer.KeyStore.
func (s *Store) Keys(ctx context.Context, memberID string) ([]*coffer.SigningKey, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE member_id = ? ORDER BY created_at DESC, id`, memberID)
	return collect(s, "Keys", rows, err, scanKey)
}

// RenameKey implements coffer.KeyStore. The event is appended only when
// the key is the member's (a missing one rolls the transaction back).
func (s *Store) RenameKey(ctx context.Context, memberID, id, name string, ev *coffer.AuditEvent) error {
	return s.write(ctx, "RenameKey", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE signing_keys SET name = ? WHERE id = ? AND member_id = ?`, name, id, memberID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(s.d.Name()+".RenameKey", "key")
		}
		return nil
	}, ev)
}

// RevokeKey implements coffer.KeyStore. The conditional UPDATE decides:
// of two concurrent revocations exactly one changes the row and appends ev.
func (s *Store) RevokeKey(ctx context.Context, memberID, id string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	revoked := false
	err := s.write(ctx, "RevokeKey", lockAudit, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE signing_keys SET revoked_at = ? WHERE id = ? AND member_id = ? AND revoked_at IS NULL`, ms(at), id, memberID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if revoked = n == 1; err != nil {
			return err
		}
		if revoked {
			return tx.Audit(ctx, ev)
		}
		// Revoked already, or not this member's key (sql.ErrNoRows).
		var one int
		return tx.QueryRow(ctx, `SELECT 1 FROM signing_keys WHERE id = ? AND member_id = ?`, id, memberID).Scan(&one)
	})
	return revoked && err == nil, err
}

// NoteKeyUse implements coffer.KeyStore. The address is recorded first:
// only a first use from it takes the head of the audit chain, and it does
// so before the key's row, in the order CloseMember (which revokes keys
// under the head) takes them.
func (s *Store) NoteKeyUse(ctx context.Context, id, ip string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	first := false
	err := s.write(ctx, "NoteKeyUse", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO signing_key_ips (key_id, ip, first_at)
			SELECT id, ?, ? FROM signing_keys WHERE id = ? ON CONFLICT DO NOTHING`, ip, ms(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if first = n > 0; first {
			if err := tx.Audit(ctx, ev); err != nil {
				return err
			}
		}
		res, err = tx.Exec(ctx, `UPDATE signing_keys SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ?1 THEN ?1 ELSE last_used_at END
			WHERE id = ?2`, ms(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(s.d.Name()+".NoteKeyUse", "key")
		}
		return nil
	})
	return first && err == nil, err
}
