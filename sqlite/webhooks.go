package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
)

// outboxInsert keeps a batch's events (a JSON array of
// coffer.OutboxCandidate, one parameter) for every endpoint subscribed to
// them. Without endpoints the join finds nothing at once: the batch pays
// for one short statement.
const outboxInsert = `INSERT INTO webhook_outbox (endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, next_at)
	SELECT e.id, json_extract(j.value, '$.EventID'), json_extract(j.value, '$.Type'), e.member_id,
		json_extract(j.value, '$.TransferSeq'), json_extract(j.value, '$.InvoiceID'), json_extract(j.value, '$.Status'), ?2, ?2
	FROM json_each(?1) j
	JOIN webhook_endpoints e ON e.member_id = json_extract(j.value, '$.MemberID')
		AND instr(e.events, ',' || json_extract(j.value, '$.Type') || ',') > 0
	WHERE json_extract(j.value, '$.Type') <> 'checkout.paid'
		OR EXISTS (SELECT 1 FROM checkouts c WHERE c.invoice_id = json_extract(j.value, '$.InvoiceID'))`

// writeOutbox adds the batch's webhook events to the outbox, in the
// batch's transaction.
func (l *ledgerTx) writeOutbox(ctx context.Context, w *coffer.BatchWrites) error {
	at := coffer.BatchTime(w, time.Time{})
	cs := coffer.OutboxCandidates(w, at)
	if len(cs) == 0 {
		return nil
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("sqlite.WriteOutbox: %w", err)
	}
	_, err = l.tx.StmtContext(ctx, l.s.outbox).ExecContext(ctx, string(b), ms(at))
	return mapErr("WriteOutbox", err)
}
