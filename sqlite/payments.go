package sqlite

import (
	"database/sql"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

// The row shapes of the payment forms the ledger's hot path reads.
const (
	invoiceCols = sqlstore.InvoiceCols
	trustCols   = sqlstore.TrustCols
	feeRuleCols = sqlstore.FeeRuleCols
)

var (
	scanInvoice = sqlstore.ScanInvoice
	scanTrust   = sqlstore.ScanTrust
)

// scanFeeRules reads every row of a query of feeRuleCols.
func scanFeeRules(rows *sql.Rows, op string) ([]*coffer.FeeRule, error) {
	defer rows.Close()
	var out []*coffer.FeeRule
	for rows.Next() {
		f, err := sqlstore.ScanFeeRule(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, f)
	}
	return out, mapErr(op, rows.Err())
}
