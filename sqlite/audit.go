package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coffer-money/coffer"
)

// appendAudit chains and inserts events inside the caller's write
// transaction, which holds the write lock, so the chain cannot fork.
func appendAudit(ctx context.Context, tx *sql.Tx, events []*coffer.AuditEvent) error {
	return appendAuditWith(ctx, nil, tx, events)
}

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
		return mapErr("sqlite.appendAudit", err)
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
			_, err = tx.ExecContext(ctx, `INSERT INTO audit_events (seq, at, kind, member_id, detail, prev_hash, hash) VALUES `+rows(`(?,?,?,?,?,?,?)`, n), args...)
		} else {
			_, err = tx.StmtContext(ctx, ls.insA[shape]).ExecContext(ctx, args...)
		}
		if err != nil {
			return mapErr("sqlite.appendAudit", err)
		}
		events = events[n:]
	}
	return nil
}

// AppendAudit records events in a transaction of their own.
func (db *DB) AppendAudit(ctx context.Context, events ...*coffer.AuditEvent) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr("sqlite.AppendAudit", err)
	}
	defer tx.Rollback()
	if err := appendAudit(ctx, tx, events); err != nil {
		return err
	}
	return mapErr("sqlite.AppendAudit", tx.Commit())
}

// AuditEvents implements coffer.Store.
func (db *DB) AuditEvents(ctx context.Context, memberID string, before int64, limit int) ([]*coffer.AuditEvent, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, at, kind, member_id, detail, prev_hash, hash FROM audit_events
		WHERE member_id = ? AND kind <> 'transfer.applied' AND seq < ? ORDER BY seq DESC LIMIT ?`, memberID, before, limit)
	if err != nil {
		return nil, mapErr("sqlite.AuditEvents", err)
	}
	defer rows.Close()
	var out []*coffer.AuditEvent
	for rows.Next() {
		var e coffer.AuditEvent
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Kind, &e.MemberID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, mapErr("sqlite.AuditEvents", err)
		}
		e.At = fromMs(at)
		out = append(out, &e)
	}
	return out, mapErr("sqlite.AuditEvents", rows.Err())
}

// verifyAudit walks the whole chain in order and returns the number of
// events and a description of the first break, if any.
func verifyAudit(ctx context.Context, tx *sql.Tx) (int64, int, string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, kind, member_id, detail, prev_hash, hash FROM audit_events ORDER BY seq`)
	if err != nil {
		return 0, 0, "", mapErr("sqlite.verifyAudit", err)
	}
	defer rows.Close()
	var n int64
	bad := 0
	example := ""
	prev := []byte{}
	var want int64 = 1
	for rows.Next() {
		var e coffer.AuditEvent
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Kind, &e.MemberID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return 0, 0, "", mapErr("sqlite.verifyAudit", err)
		}
		e.At = fromMs(at)
		n++
		problem := ""
		switch {
		case e.Seq != want:
			problem = fmt.Sprintf("event %d follows event %d (gap)", e.Seq, want-1)
		case !bytes.Equal(e.PrevHash, prev):
			problem = fmt.Sprintf("event %d does not link to the event before it", e.Seq)
		case !bytes.Equal(e.Hash, e.ChainHash(prev)):
			problem = fmt.Sprintf("event %d does not match its hash (altered)", e.Seq)
		}
		if problem != "" {
			bad++
			if example == "" {
				example = problem
			}
		}
		prev = e.Hash
		want = e.Seq + 1
	}
	return n, bad, example, mapErr("sqlite.verifyAudit", rows.Err())
}
