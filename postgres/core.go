package postgres

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/coffer-money/coffer"
)

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
