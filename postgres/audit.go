package postgres

import (
	"context"

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
