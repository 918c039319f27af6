package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/coffer-money/coffer"
)

// inTx runs fn in one write transaction and appends evs with it.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error, evs ...*coffer.AuditEvent) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	var list []*coffer.AuditEvent
	for _, e := range evs {
		if e != nil {
			list = append(list, e)
		}
	}
	if err := appendAudit(ctx, tx, list); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

func nullMs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}
