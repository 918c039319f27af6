package postgres

import (
	"context"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
)

// The row shapes of the payment forms the ledger's hot path reads.
const (
	invoiceCols   = sqlstore.InvoiceCols
	trustCols     = sqlstore.TrustCols
	feeRulesQuery = `SELECT ` + sqlstore.FeeRuleCols + ` FROM fee_rules ORDER BY currency`
)

var (
	scanInvoice = sqlstore.ScanInvoice
	scanTrust   = sqlstore.ScanTrust
	scanFeeRule = sqlstore.ScanFeeRule
)

// ledgerChange runs fn in a transaction that first locks the ledger head
// (so no batch decides on the old value while it changes) and then the
// audit head, in the store's lock order, and appends ev only when fn
// reports that it changed something.
func (db *DB) ledgerChange(ctx context.Context, op string, fn func(tx pgx.Tx) (bool, error), ev *coffer.AuditEvent) (bool, error) {
	var changed bool
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		changed = false
		if db.iso == pgx.Serializable {
			if _, err := tx.Exec(ctx, lockHeadTables); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		seq, prev, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		if changed, err = fn(tx); err != nil || !changed || ev == nil {
			return err
		}
		args, seq, prev := chain([]*coffer.AuditEvent{ev}, seq, prev)
		if _, err := tx.Exec(ctx, insertAudit, args...); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, setAuditHead, seq, prev)
		return err
	})
	return changed, err
}
