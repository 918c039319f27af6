package postgres

import (
	"bytes"
	"context"
	"fmt"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// auditHead locks the head of the hash chain in tx and returns the last
// sequence number and hash.
func auditHead(ctx context.Context, tx pgx.Tx) (int64, []byte, error) {
	var seq int64
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev)
	if prev == nil {
		prev = []byte{}
	}
	return seq, prev, err
}

// chain numbers and links events after (seq, prev) and returns the
// statement arguments for insertAudit and the new head.
func chain(events []*coffer.AuditEvent, seq int64, prev []byte) ([]any, int64, []byte) {
	n := len(events)
	seqs, ats := make([]int64, n), make([]int64, n)
	kinds, members, details := make([]string, n), make([]string, n), make([]string, n)
	prevs, hashes := make([][]byte, n), make([][]byte, n)
	for i, e := range events {
		seq++
		e.Seq, e.PrevHash = seq, prev
		e.Hash = e.ChainHash(prev)
		prev = e.Hash
		seqs[i], ats[i], kinds[i], members[i], details[i], prevs[i], hashes[i] = e.Seq, ms(e.At), e.Kind, e.MemberID, e.Detail, e.PrevHash, e.Hash
	}
	return []any{seqs, ats, kinds, members, details, prevs, hashes}, seq, prev
}

const insertAudit = `INSERT INTO audit_events (seq, at, kind, member_id, detail, prev_hash, hash)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[])`

const setAuditHead = `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`

// appendAudit chains and inserts events inside the caller's transaction,
// under the audit head's row lock, so the chain cannot fork.
func appendAudit(ctx context.Context, tx pgx.Tx, events []*coffer.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	seq, prev, err := auditHead(ctx, tx)
	if err != nil {
		return err
	}
	args, seq, prev := chain(events, seq, prev)
	if _, err := tx.Exec(ctx, insertAudit, args...); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, setAuditHead, seq, prev)
	return err
}

// AppendAudit records events in a transaction of their own.
func (db *DB) AppendAudit(ctx context.Context, events ...*coffer.AuditEvent) error {
	return db.inTx(ctx, "postgres.AppendAudit", func(pgx.Tx) error { return nil }, events...)
}

func scanAudit(row rowScanner) (*coffer.AuditEvent, error) {
	var e coffer.AuditEvent
	var at int64
	if err := row.Scan(&e.Seq, &at, &e.Kind, &e.MemberID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromMs(at)
	return &e, nil
}

// AuditEvents implements coffer.Store.
func (db *DB) AuditEvents(ctx context.Context, memberID string, before int64, limit int) ([]*coffer.AuditEvent, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.pool.Query(ctx, `SELECT seq, at, kind, member_id, detail, prev_hash, hash FROM audit_events
		WHERE member_id = $1 AND kind <> 'transfer.applied' AND seq < $2 ORDER BY seq DESC LIMIT $3`, memberID, before, limit)
	return collect(rows, err, "postgres.AuditEvents", scanAudit)
}

// verifyAudit walks the whole chain in order and returns the number of
// events and a description of the first break, if any. The head row must
// name the last event.
func verifyAudit(ctx context.Context, tx pgx.Tx) (int64, int, string, error) {
	rows, err := tx.Query(ctx, `SELECT seq, at, kind, member_id, detail, prev_hash, hash FROM audit_events ORDER BY seq`)
	if err != nil {
		return 0, 0, "", mapErr("postgres.verifyAudit", err)
	}
	defer rows.Close()
	var n int64
	bad := 0
	example := ""
	prev := []byte{}
	var want int64 = 1
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return 0, 0, "", mapErr("postgres.verifyAudit", err)
		}
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
	if err := rows.Err(); err != nil {
		return 0, 0, "", mapErr("postgres.verifyAudit", err)
	}
	var headSeq int64
	var headHash []byte
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return 0, 0, "", mapErr("postgres.verifyAudit", err)
	}
	if headSeq != want-1 || !bytes.Equal(headHash, prev) {
		bad++
		if example == "" {
			example = fmt.Sprintf("the chain head names event %d but the last event is %d (events removed from the end)", headSeq, want-1)
		}
	}
	return n, bad, example, nil
}
