package postgres

import (
	"context"
	"fmt"
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
