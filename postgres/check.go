package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// Check verifies ledger invariants 1–6 and the audit chain on the committed
// state, read in one consistent snapshot (REPEATABLE READ, read only). It
// returns a report whether or not they hold; err is only for failures to
// read.
func (db *DB) Check(ctx context.Context) (*coffer.CheckReport, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, mapErr("postgres.Check", err)
	}
	defer tx.Rollback(ctx)
	rep := &coffer.CheckReport{}
	for _, c := range []struct {
		dst *int64
		q   string
	}{
		{&rep.Members, `SELECT COUNT(*) FROM members`},
		{&rep.Purses, `SELECT COUNT(*) FROM purses`},
		{&rep.Transfers, `SELECT COUNT(*) FROM transfers`},
		{&rep.Entries, `SELECT COUNT(*) FROM entries`},
	} {
		if err := tx.QueryRow(ctx, c.q).Scan(c.dst); err != nil {
			return nil, mapErr("postgres.Check", err)
		}
	}
	probes := []struct {
		inv   int
		name  string
		query string
	}{
		{1, "balances of each currency sum to zero",
			`SELECT currency || ' sums to ' || SUM(balance + held) FROM purses GROUP BY currency HAVING SUM(balance + held) <> 0`},
		{2, "no purse below zero, no issuing purse below minus its limit, no held money below zero",
			`SELECT number || ' has balance ' || balance FROM purses WHERE balance < CASE WHEN issuer THEN -lim ELSE 0 END
			 UNION ALL
			 SELECT number || ' has held money ' || held FROM purses WHERE held < 0`},
		// A protected transfer's fee is held by the fee purse until the
		// transfer is released or returned.
		{3, "every transfer has its history entries, adding up to zero, and its audit event; no refund beyond the amount",
			`SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') has wrong history entries' FROM entries e
			   JOIN transfers t ON t.seq = e.transfer_seq
			 GROUP BY e.transfer_seq, t.seq, t.transfer_id, t.kind, t.status, t.fee
			 HAVING SUM(e.amount) <> 0
			    OR COUNT(*) FILTER (WHERE e.kind = 'transfer' AND NOT e.held AND e.purse = t.from_purse AND e.amount = -t.amount) <> 1
			    OR (t.kind IN ('transfer', 'refund') AND t.status = 'completed' AND
			        COUNT(*) FILTER (WHERE e.kind = 'transfer' AND NOT e.held AND e.purse = t.to_purse AND e.amount = t.amount) <> 1)
			    OR (t.kind = 'protected' AND
			        COUNT(*) FILTER (WHERE e.kind = 'hold' AND e.held AND e.purse = t.to_purse AND e.amount = t.amount) <> 1)
			    OR (t.fee > 0 AND (
			        COUNT(*) FILTER (WHERE e.kind = 'fee' AND NOT e.held AND e.purse = t.from_purse AND e.amount = -t.fee) <> 1 OR
			        COUNT(*) FILTER (WHERE e.kind = 'fee' AND e.held = (t.kind = 'protected') AND e.purse = t.fee_purse AND e.amount = t.fee) <> 1))
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') is malformed' FROM transfers t
			 WHERE t.amount <= 0 OR t.from_purse = t.to_purse
			    OR (SELECT currency FROM purses WHERE number = t.from_purse) <> t.currency
			    OR (SELECT currency FROM purses WHERE number = t.to_purse) <> t.currency
			    OR NOT ((t.kind IN ('transfer', 'refund') AND t.status = 'completed') OR
			            (t.kind = 'protected' AND t.status IN ('held', 'released', 'returned')))
			    OR (t.kind = 'refund') <> (t.refund_of <> 0)
			    OR (t.fee > 0 AND t.fee_purse = '')
			 UNION ALL
			 -- On its own, not inside the OR above, so that it is planned as
			 -- an anti join rather than a scan of entries per transfer.
			 SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') has no history entries' FROM transfers t
			 WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.transfer_seq = t.seq)
			 UNION ALL
			 SELECT 'entry ' || e.seq || ' has no transfer' FROM entries e WHERE NOT EXISTS (SELECT 1 FROM transfers t WHERE t.seq = e.transfer_seq)
			 UNION ALL
			 SELECT 'entry ' || seq || ' is of unknown kind ' || kind FROM entries
			 WHERE kind NOT IN ('transfer', 'fee', 'hold', 'release', 'return')
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' has no audit event' FROM transfers t
			 WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.kind = 'transfer.applied'
			                   AND (a.detail::jsonb->>'transfer_seq')::bigint = t.seq)
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' refunded ' || t.refunded || ' of ' || t.amount || ' but its refunds sum to ' || COALESCE(r.total, 0)
			 FROM transfers t LEFT JOIN (SELECT refund_of, SUM(amount) AS total FROM transfers WHERE refund_of <> 0 GROUP BY refund_of) r
			   ON r.refund_of = t.seq
			 WHERE t.refunded > t.amount OR t.refunded <> COALESCE(r.total, 0)`},
		{4, "each (sender, transfer ID) applied at most once",
			`SELECT sender || '/' || transfer_id FROM transfers GROUP BY sender, transfer_id HAVING COUNT(*) > 1`},
		{6, "each balance and held amount equals the sum of its history, and every balance_after runs in order",
			`SELECT p.number || ' balance ' || p.balance || ' held ' || p.held || ' but history sums to ' ||
			        COALESCE(s.avail, 0) || ' and ' || COALESCE(s.held, 0)
			 FROM purses p LEFT JOIN (SELECT purse, SUM(amount) FILTER (WHERE NOT held) AS avail, SUM(amount) FILTER (WHERE held) AS held
			                          FROM entries GROUP BY purse) s ON s.purse = p.number
			 WHERE p.balance <> COALESCE(s.avail, 0) OR p.held <> COALESCE(s.held, 0)
			 UNION ALL
			 SELECT 'entry ' || seq || ' of ' || purse || ' balance_after ' || balance_after || ' but running sum ' || run FROM (
			   SELECT seq, purse, balance_after, SUM(amount) OVER (PARTITION BY purse, held ORDER BY seq) AS run FROM entries) r
			 WHERE run <> balance_after`},
	}
	for _, p := range probes {
		rows, err := tx.Query(ctx, p.query)
		if err != nil {
			return nil, mapErr(fmt.Sprintf("postgres.Check invariant %d", p.inv), err)
		}
		res, err := coffer.Tally(p.inv, p.name, rows)
		rows.Close()
		if err != nil {
			return nil, mapErr("postgres.Check", err)
		}
		rep.Results = append(rep.Results, res)
	}
	n, bad, example, err := verifyAudit(ctx, tx)
	if err != nil {
		return nil, err
	}
	rep.AuditEvents = n
	rep.Results = append(rep.Results, coffer.InvariantResult{Number: 8, Name: "the audit chain verifies from its first event to its last", Violations: bad, Example: example})
	return rep, nil
}
