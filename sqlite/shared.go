package sqlite

import (
	"database/sql"
	"errors"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

// The row shapes the ledger's hot path shares with the ordinary reads.
const (
	transferCols = sqlstore.TransferCols
	purseCols    = sqlstore.PurseCols
)

var (
	scanTransfer = sqlstore.ScanTransfer
	transferArgs = sqlstore.TransferArgs
	scanPurse    = sqlstore.ScanPurse
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

// limitsQuery reads one purse's limits, for scanLimits.
const limitsQuery = `SELECT ` + sqlstore.LimitsCols + sqlstore.LimitsFrom + ` WHERE l.purse = ?`

// scanLimits reads the row of limitsQuery: nil when the purse has no limits.
func scanLimits(row *sql.Row, _ string) (*coffer.PurseLimits, error) {
	l, err := sqlstore.ScanLimits(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return l, err
}
