package sqlite

import (
	"database/sql"
	"errors"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

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
