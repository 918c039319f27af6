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
