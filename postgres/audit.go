package postgres

import (
	"github.com/coffer-money/coffer"
)

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
