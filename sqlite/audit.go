package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

// appendAuditWith is appendAudit using the ledger's prepared multi-row
// statements when ls is not nil (the hot path).
func appendAuditWith(ctx context.Context, ls *ledgerStmts, tx *sql.Tx, events []*coffer.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	var seq int64
	var prev []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return mapErr("appendAudit", err)
	}
	if prev == nil {
		prev = []byte{}
	}
	for len(events) > 0 {
		n, shape := shapeFor(len(events), shapeCount)
		args := make([]any, 0, n*7)
		for _, e := range events[:n] {
			seq++
			e.Seq, e.PrevHash = seq, prev
			e.Hash = e.ChainHash(prev)
			prev = e.Hash
			args = append(args, e.Seq, ms(e.At), e.Kind, e.MemberID, e.Detail, e.PrevHash, e.Hash)
		}
		if ls == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO audit_events (seq, at, kind, member_id, detail, prev_hash, hash) VALUES `+sqlstore.Rows(`(?,?,?,?,?,?,?)`, n), args...)
		} else {
			_, err = tx.StmtContext(ctx, ls.insA[shape]).ExecContext(ctx, args...)
		}
		if err != nil {
			return mapErr("appendAudit", err)
		}
		events = events[n:]
	}
	return nil
}
