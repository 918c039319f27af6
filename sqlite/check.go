package sqlite

import (
	"context"
	"fmt"

	"github.com/coffer-money/coffer"
)

// Check verifies ledger invariants 1–6 on the committed state, read in one
// consistent snapshot. It returns a report whether or not they hold; err is
// only for failures to read.
func (db *DB) Check(ctx context.Context) (*coffer.CheckReport, error) {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr("sqlite.Check", err)
	}
	defer tx.Rollback()
	rep := &coffer.CheckReport{}
	count := func(q string, args ...any) (int64, error) {
		var n int64
		err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
		return n, err
	}
	if rep.Members, err = count(`SELECT COUNT(*) FROM members`); err != nil {
		return nil, mapErr("sqlite.Check", err)
	}
	if rep.Purses, err = count(`SELECT COUNT(*) FROM purses`); err != nil {
		return nil, mapErr("sqlite.Check", err)
	}
	if rep.Transfers, err = count(`SELECT COUNT(*) FROM transfers`); err != nil {
		return nil, mapErr("sqlite.Check", err)
	}
	if rep.Entries, err = count(`SELECT COUNT(*) FROM entries`); err != nil {
		return nil, mapErr("sqlite.Check", err)
	}
	type probe struct {
		inv   int
		name  string
		query string
	}
	// Each probe counts violations and names the first one.
	probes := []probe{
		{1, "balances and held money of each currency sum to zero",
			`SELECT currency || ' sums to ' || SUM(balance + held) FROM purses GROUP BY currency HAVING SUM(balance + held) <> 0`},
		{2, "no purse below zero, no issuing purse below minus its limit, no held money below zero",
			`SELECT number || ' has balance ' || balance FROM purses WHERE balance < CASE WHEN issuer = 1 THEN -lim ELSE 0 END
			 UNION ALL
			 SELECT number || ' has held ' || held FROM purses WHERE held < 0`},
		{3, "every transfer has its history entries, adding up to zero, and its audit event; no refund beyond the amount",
			// Entries are grouped by their transfer (found by primary key),
			// so the check scans each table once instead of probing an
			// index the ledger would otherwise have to maintain.
			`SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') has wrong history entries' FROM entries e
			   JOIN transfers t ON t.seq = e.transfer_seq
			 GROUP BY e.transfer_seq
			 HAVING SUM(e.amount) <> 0
			    OR SUM(e.kind NOT IN ('transfer', 'fee', 'hold', 'release', 'return')) > 0
			    -- the amount leaves the sender's available money
			    OR SUM(e.kind = 'transfer' AND e.amount < 0) <> 1
			    OR SUM(e.kind = 'transfer' AND e.amount < 0 AND e.purse = t.from_purse AND e.amount = -t.amount AND NOT e.held) <> 1
			    -- and arrives in the payee's: available, or held when protected
			    OR (t.kind = 'protected' AND (SUM(e.kind = 'transfer' AND e.amount > 0) <> 0
			        OR SUM(e.kind = 'hold') <> 1
			        OR SUM(e.kind = 'hold' AND e.purse = t.to_purse AND e.amount = t.amount AND e.held) <> 1))
			    OR (t.kind <> 'protected' AND (SUM(e.kind IN ('hold', 'release', 'return')) <> 0
			        OR SUM(e.kind = 'transfer' AND e.amount > 0) <> 1
			        OR SUM(e.kind = 'transfer' AND e.purse = t.to_purse AND e.amount = t.amount AND NOT e.held) <> 1))
			    -- the fee leaves the sender's purse and arrives in the fee purse,
			    -- held there while a protected transfer is
			    OR SUM(e.kind = 'fee') <> CASE WHEN t.fee > 0 THEN 2 ELSE 0 END
			    OR (t.fee > 0 AND (SUM(e.kind = 'fee' AND e.purse = t.from_purse AND e.amount = -t.fee AND NOT e.held) <> 1
			        OR SUM(e.kind = 'fee' AND e.purse = t.fee_purse AND e.amount = t.fee AND e.held = (t.kind = 'protected')) <> 1))
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') is malformed' FROM transfers t
			 WHERE t.amount <= 0 OR t.from_purse = t.to_purse
			    OR (SELECT currency FROM purses WHERE number = t.from_purse) <> t.currency
			    OR (SELECT currency FROM purses WHERE number = t.to_purse) <> t.currency
			    OR t.kind NOT IN ('transfer', 'protected', 'refund')
			    OR t.status NOT IN ('completed', 'held', 'released', 'returned')
			    OR (t.kind = 'protected') = (t.status = 'completed')
			    OR (t.fee > 0 AND (SELECT currency FROM purses WHERE number = t.fee_purse) IS NOT t.currency)
			    OR (t.kind = 'refund') <> (t.refund_of <> 0)
			    OR t.seq NOT IN (SELECT transfer_seq FROM entries)
			 UNION ALL
			 SELECT 'entry ' || e.seq || ' has no transfer' FROM entries e WHERE NOT EXISTS (SELECT 1 FROM transfers t WHERE t.seq = e.transfer_seq)
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' has no audit event' FROM transfers t
			 WHERE t.seq NOT IN (SELECT json_extract(detail, '$.transfer_seq') FROM audit_events
			                     WHERE kind = 'transfer.applied' AND json_extract(detail, '$.transfer_seq') IS NOT NULL)
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' refunded ' || t.refunded || ' of ' || t.amount || ' but its refunds sum to ' || COALESCE(r.sum, 0)
			 FROM transfers t LEFT JOIN (SELECT refund_of, SUM(amount) AS sum FROM transfers WHERE refund_of <> 0 GROUP BY refund_of) r ON r.refund_of = t.seq
			 WHERE t.refunded < 0 OR t.refunded > t.amount OR t.refunded <> COALESCE(r.sum, 0)`},
		{4, "each (sender, transfer ID) applied at most once",
			`SELECT sender || '/' || transfer_id FROM transfers GROUP BY sender, transfer_id HAVING COUNT(*) > 1`},
		{6, "each balance and held amount equals the sum of its history, and every balance_after runs in order",
			`SELECT p.number || ' balance ' || p.balance || ' but history sums to ' || COALESCE((SELECT SUM(amount) FROM entries e WHERE e.purse = p.number AND NOT e.held), 0)
			 FROM purses p WHERE p.balance <> COALESCE((SELECT SUM(amount) FROM entries e WHERE e.purse = p.number AND NOT e.held), 0)
			 UNION ALL
			 SELECT p.number || ' held ' || p.held || ' but history sums to ' || COALESCE((SELECT SUM(amount) FROM entries e WHERE e.purse = p.number AND e.held), 0)
			 FROM purses p WHERE p.held <> COALESCE((SELECT SUM(amount) FROM entries e WHERE e.purse = p.number AND e.held), 0)
			 UNION ALL
			 SELECT 'entry ' || seq || ' of ' || purse || ' balance_after ' || balance_after || ' but running sum ' || run FROM (
			   SELECT seq, purse, balance_after, SUM(amount) OVER (PARTITION BY purse, held ORDER BY seq) AS run FROM entries)
			 WHERE run <> balance_after`},
	}
	for _, p := range probes {
		rows, err := tx.QueryContext(ctx, p.query)
		if err != nil {
			return nil, mapErr(fmt.Sprintf("sqlite.Check invariant %d", p.inv), err)
		}
		res, err := coffer.Tally(p.inv, p.name, rows)
		rows.Close()
		if err != nil {
			return nil, mapErr("sqlite.Check", err)
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
