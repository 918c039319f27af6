package postgres

import (
	"context"

	"github.com/coffer-money/coffer"
)

// Ready reports whether the store takes writes now: the server it reaches
// is a primary (not a standby in recovery) and a small write commits.
// Errors: EUNAVAILABLE.
//
// A primary whose synchronous standby is gone also fails the probe, but
// only once the request's deadline ends the commit that waits for the
// standby; the caller bounds it.
func (db *DB) Ready(ctx context.Context) error {
	var recovery bool
	if err := db.sql.QueryRowContext(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovery); err != nil {
		return mapErr("Ready", err)
	}
	if recovery {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database server is a standby (read-only); no primary is reachable.", Op: "postgres.Ready"}
	}
	return db.Store.Ready(ctx)
}
