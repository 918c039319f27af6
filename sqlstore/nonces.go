package sqlstore

import (
	"context"
	"math/rand/v2"
	"time"
)

// UseNonce implements coffer.NonceStore: one upsert, so that a signed
// request is refused after a restart, or by another process sharing the
// database, as it is by the process that saw it first. A nonce whose
// earlier use has expired counts as new (its old signature is too old to
// be accepted anyway). Now and then a bounded number of expired nonces are
// removed, more than were written meanwhile, so the table holds about one
// window of them.
//
// SQLite's store defines its own UseNonce, which gathers the nonces of
// concurrent requests into one transaction (group commit): there every
// write is a commit, with its fsync, on the one writer connection the
// ledger's batches need too. This one is right for SQLite as well, only
// slower under load.
func (s *Store) UseNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (bool, error) {
	res, err := s.wr.Exec(ctx, `INSERT INTO signature_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE signature_nonces.expires_at <= ?`,
		keyID, nonce, ms(expires), ms(now))
	if err != nil {
		return false, s.mapErr("UseNonce", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.mapErr("UseNonce", err)
	}
	if rand.IntN(256) == 0 {
		// Best effort: a failure leaves the rows for the next sweep.
		s.wr.Exec(ctx, `DELETE FROM signature_nonces WHERE (key_id, nonce) IN
			(SELECT key_id, nonce FROM signature_nonces WHERE expires_at <= ? LIMIT 1024)`, ms(now))
	}
	return n == 1, nil
}
