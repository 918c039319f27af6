package postgres

import "github.com/coffer-money/coffer/sqlstore"

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
	invoiceCols   = sqlstore.InvoiceCols
	trustCols     = sqlstore.TrustCols
	feeRulesQuery = `SELECT ` + sqlstore.FeeRuleCols + ` FROM fee_rules ORDER BY currency`
)

var (
	scanInvoice = sqlstore.ScanInvoice
	scanTrust   = sqlstore.ScanTrust
	scanFeeRule = sqlstore.ScanFeeRule
)
