package postgres

import (
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// queueOutbox adds to the batch's pipeline the one statement that keeps
// its webhook events for every endpoint subscribed to them. Without
// endpoints the join finds nothing at once.
func queueOutbox(b *pgx.Batch, writes []*coffer.BatchWrites) {
	var cs []coffer.OutboxCandidate
	var at time.Time
	for _, w := range writes {
		at = coffer.BatchTime(w, at)
		cs = append(cs, coffer.OutboxCandidates(w, at)...)
	}
	n := len(cs)
	if n == 0 {
		return
	}
	ev, ty, m, inv, st, seq := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, c := range cs {
		ev[i], ty[i], m[i], seq[i], inv[i], st[i] = c.EventID, c.Type, c.MemberID, c.TransferSeq, c.InvoiceID, c.Status
	}
	b.Queue(`INSERT INTO webhook_outbox (endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, next_at)
		SELECT e.id, v.ev, v.ty, e.member_id, v.seq, v.inv, v.st, $7, $7
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[]) AS v(ev, ty, m, seq, inv, st)
		JOIN webhook_endpoints e ON e.member_id = v.m AND position(',' || v.ty || ',' in e.events) > 0
		WHERE v.ty <> 'checkout.paid' OR EXISTS (SELECT 1 FROM checkouts c WHERE c.invoice_id = v.inv)`,
		ev, ty, m, seq, inv, st, ms(at))
}
