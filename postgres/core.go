package postgres

import (
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
