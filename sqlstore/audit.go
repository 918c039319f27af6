package sqlstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/coffer-money/coffer"
)

// AppendAudit records events in a transaction of their own.
func (s *Store) AppendAudit(ctx context.Context, events ...*coffer.AuditEvent) error {
	return s.write(ctx, "AppendAudit", lockNone, func(*Tx) error { return nil }, events...)
}

const auditCols = `seq, at, kind, member_id, detail, prev_hash, hash`

func scanAudit(row Scanner) (*coffer.AuditEvent, error) {
	var e coffer.AuditEvent
	var at int64
	if err := row.Scan(&e.Seq, &at, &e.Kind, &e.MemberID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromMs(at)
	return &e, nil
}

// AuditEvents implements coffer.Store.
func (s *Store) AuditEvents(ctx context.Context, memberID string, before int64, limit int) ([]*coffer.AuditEvent, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.rd.Query(ctx, `SELECT `+auditCols+` FROM audit_events
		WHERE member_id = ? AND kind <> 'transfer.applied' AND seq < ? ORDER BY seq DESC LIMIT ?`, memberID, before, limit)
	return collect(s, "AuditEvents", rows, err, scanAudit)
}

// VerifyAudit walks the whole chain in order, inside q (a read transaction
// of Check), and returns the number of events, how many are broken and a
// description of the first break.
func VerifyAudit(ctx context.Context, d Dialect, q execer) (n int64, bad int, example string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_events ORDER BY seq`)
	if err != nil {
		return 0, 0, "", MapErr(d, "VerifyAudit", err)
	}
	defer rows.Close()
	prev := []byte{}
	var want int64 = 1
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return 0, 0, "", MapErr(d, "VerifyAudit", err)
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
	return n, bad, example, MapErr(d, "VerifyAudit", rows.Err())
}
