package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"

	"github.com/coffer-money/coffer"
)

// Check verifies ledger invariants 1–6 and the audit chain on the committed
// state, read in one consistent snapshot, and runs the database's quick
// check of its pages and indexes. It returns a report whether or not they
// hold; err is only for failures to read.
//
// What it verifies is read from the tables themselves, never answered by an
// index: a damaged index would otherwise vouch for itself (a duplicate
// transfer ID it cannot see). The indexes are compared with the tables on
// their own (see Dialect.IntegrityCheck).
func (s *Store) Check(ctx context.Context) (*coffer.CheckReport, error) {
	return s.check(ctx, false)
}

// CheckFull is Check with the database's full integrity check, which reads
// every page and index entry: slower on a large database.
func (s *Store) CheckFull(ctx context.Context) (*coffer.CheckReport, error) {
	return s.check(ctx, true)
}

// Integrity runs only the database's own check (full: the thorough one)
// and the comparison of the indexes with the tables; the server runs the
// quick one before it serves.
func (s *Store) Integrity(ctx context.Context, full bool) ([]coffer.IntegrityResult, error) {
	const op = "Integrity"
	stx, err := s.r.BeginTx(ctx, s.d.ReadTx())
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer stx.Rollback()
	res, err := s.d.IntegrityCheck(ctx, s.w, stx, full)
	return res, s.mapErr(op, err)
}

// unreadable records that the rest of a check could not read the database
// because it is damaged; the report so far stands.
func unreadable(rep *coffer.CheckReport, inv int, name string, err error) *coffer.CheckReport {
	rep.Results = append(rep.Results, coffer.InvariantResult{Number: inv, Name: name, Violations: 1,
		Example: "the database cannot be read here: " + err.Error()})
	return rep
}

func (s *Store) check(ctx context.Context, full bool) (*coffer.CheckReport, error) {
	const op = "Check"
	stx, err := s.r.BeginTx(ctx, s.d.ReadTx())
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer stx.Rollback()
	if err := s.d.TableScans(ctx, stx); err != nil {
		return nil, s.mapErr(op, err)
	}
	tx := conn{q: stx, d: s.d}
	rep := &coffer.CheckReport{}
	rep.Integrity, err = s.d.IntegrityCheck(ctx, s.w, stx, full)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	ni := s.d.NotIndexed
	for _, c := range []struct {
		dst   *int64
		table string
	}{
		{&rep.Members, "members"},
		{&rep.Purses, "purses"},
		{&rep.Transfers, "transfers"},
		{&rep.Entries, "entries"},
	} {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+ni(c.table)).Scan(c.dst); err != nil {
			if s.is(err, FaultCorrupt) {
				return unreadable(rep, 0, "count the rows of "+c.table, err), nil
			}
			return nil, s.mapErr(op, err)
		}
	}
	for _, p := range checkProbes(s.d) {
		rows, err := tx.Query(ctx, p.query)
		if s.is(err, FaultCorrupt) {
			return unreadable(rep, p.inv, p.name, err), nil
		}
		if err != nil {
			return nil, s.mapErr(fmt.Sprintf("Check invariant %d", p.inv), err)
		}
		res, err := coffer.Tally(p.inv, p.name, rows)
		rows.Close()
		if s.is(err, FaultCorrupt) {
			return unreadable(rep, p.inv, p.name, err), nil
		}
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		rep.Results = append(rep.Results, res)
	}
	n, bad, example, err := s.checkAudit(ctx, stx)
	if s.is(err, FaultCorrupt) {
		return unreadable(rep, 8, "the audit chain verifies from its first event to its last", err), nil
	}
	if err != nil {
		return nil, err
	}
	rep.AuditEvents = n
	rep.Results = append(rep.Results, coffer.InvariantResult{Number: 8, Name: "the audit chain verifies from its first event to its last", Violations: bad, Example: example})
	return rep, nil
}

// checkProbe is one invariant of the check: the query lists its violations.
type checkProbe struct {
	inv   int
	name  string
	query string
}

// checkProbes are the invariants checked by query, on the dialect d.
func checkProbes(d Dialect) []checkProbe {
	ni := d.NotIndexed
	auditSeq := `CAST(` + d.JSONField("a.detail", "transfer_seq") + ` AS BIGINT)`
	// Each probe lists its violations; Tally counts them and keeps the
	// first. Every table a probe scans is read in full (ni), not through
	// an index; lookups by rowid or primary key remain. The joins are written so that each table is read once (no
	// probe runs a subquery per row of a large table): a missing row is
	// found by an anti join against a grouped or distinct list.
	return []checkProbe{
		{1, "balances and held money of each currency sum to zero",
			`SELECT currency || ' sums to ' || SUM(balance + held) FROM ` + ni("purses") + ` GROUP BY currency HAVING SUM(balance + held) <> 0`},
		{2, "no purse below zero, no issuing purse below minus its limit, no held money below zero",
			`SELECT number || ' has balance ' || balance FROM ` + ni("purses") + ` WHERE balance < CASE WHEN issuer THEN -lim ELSE 0 END
			 UNION ALL
			 SELECT number || ' has held ' || held FROM ` + ni("purses") + ` WHERE held < 0`},
		{3, "every transfer has its history entries, adding up to zero, and its audit event; no refund beyond the amount",
			`SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') has wrong history entries' FROM ` + ni("entries e") + `
			   JOIN ` + ni("transfers t") + ` ON t.seq = e.transfer_seq
			 GROUP BY e.transfer_seq, t.seq
			 HAVING SUM(e.amount) <> 0
			    -- the amount leaves the sender's available money
			    OR COUNT(*) FILTER (WHERE e.kind = 'transfer' AND e.amount < 0) <> 1
			    OR COUNT(*) FILTER (WHERE e.kind = 'transfer' AND e.amount < 0 AND e.purse = t.from_purse AND e.amount = -t.amount AND NOT e.held) <> 1
			    -- and arrives in the payee's: available, or held when protected
			    OR (t.kind = 'protected' AND (COUNT(*) FILTER (WHERE e.kind = 'transfer' AND e.amount > 0) <> 0
			        OR COUNT(*) FILTER (WHERE e.kind = 'hold') <> 1
			        OR COUNT(*) FILTER (WHERE e.kind = 'hold' AND e.purse = t.to_purse AND e.amount = t.amount AND e.held) <> 1))
			    OR (t.kind <> 'protected' AND (COUNT(*) FILTER (WHERE e.kind IN ('hold', 'release', 'return')) <> 0
			        OR COUNT(*) FILTER (WHERE e.kind = 'transfer' AND e.amount > 0) <> 1
			        OR COUNT(*) FILTER (WHERE e.kind = 'transfer' AND e.purse = t.to_purse AND e.amount = t.amount AND NOT e.held) <> 1))
			    -- the fee leaves the sender's purse and arrives in the fee purse,
			    -- held there while a protected transfer is
			    OR COUNT(*) FILTER (WHERE e.kind = 'fee') <> CASE WHEN t.fee > 0 THEN 2 ELSE 0 END
			    OR (t.fee > 0 AND (COUNT(*) FILTER (WHERE e.kind = 'fee' AND e.purse = t.from_purse AND e.amount = -t.fee AND NOT e.held) <> 1
			        OR COUNT(*) FILTER (WHERE e.kind = 'fee' AND e.purse = t.fee_purse AND e.amount = t.fee AND e.held = (t.kind = 'protected')) <> 1))
			 UNION ALL
			 SELECT 'entry ' || seq || ' is of unknown kind ' || kind FROM ` + ni("entries") + `
			 WHERE kind NOT IN ('transfer', 'fee', 'hold', 'release', 'return')
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') is malformed' FROM ` + ni("transfers t") + `
			 WHERE t.amount <= 0 OR t.from_purse = t.to_purse
			    OR (SELECT currency FROM purses WHERE number = t.from_purse) <> t.currency
			    OR (SELECT currency FROM purses WHERE number = t.to_purse) <> t.currency
			    OR t.kind NOT IN ('transfer', 'protected', 'refund')
			    OR t.status NOT IN ('completed', 'held', 'released', 'returned')
			    OR (t.kind = 'protected') = (t.status = 'completed')
			    OR (t.fee > 0 AND (SELECT currency FROM purses WHERE number = t.fee_purse) IS DISTINCT FROM t.currency)
			    OR (t.kind = 'refund') <> (t.refund_of <> 0)
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' (' || t.transfer_id || ') has no history entries' FROM ` + ni("transfers t") + `
			   LEFT JOIN (SELECT DISTINCT transfer_seq FROM ` + ni("entries") + `) e ON e.transfer_seq = t.seq
			 WHERE e.transfer_seq IS NULL
			 UNION ALL
			 SELECT 'entry ' || e.seq || ' has no transfer' FROM ` + ni("entries e") + ` WHERE NOT EXISTS (SELECT 1 FROM transfers t WHERE t.seq = e.transfer_seq)
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' has no audit event' FROM ` + ni("transfers t") + `
			   LEFT JOIN (SELECT DISTINCT ` + auditSeq + ` AS seq FROM ` + ni("audit_events a") + ` WHERE a.kind = 'transfer.applied') a ON a.seq = t.seq
			 WHERE a.seq IS NULL
			 UNION ALL
			 SELECT 'transfer ' || t.seq || ' refunded ' || t.refunded || ' of ' || t.amount || ' but its refunds sum to ' || COALESCE(r.total, 0)
			 FROM ` + ni("transfers t") + ` LEFT JOIN (SELECT refund_of, SUM(amount) AS total FROM ` + ni("transfers") + ` WHERE refund_of <> 0 GROUP BY refund_of) r ON r.refund_of = t.seq
			 WHERE t.refunded < 0 OR t.refunded > t.amount OR t.refunded <> COALESCE(r.total, 0)`},
		{4, "each (sender, transfer ID) applied at most once",
			`SELECT sender || '/' || transfer_id FROM ` + ni("transfers") + ` GROUP BY sender, transfer_id HAVING COUNT(*) > 1`},
		{6, "each balance and held amount equals the sum of its history, and every balance_after runs in order",
			// The entry first: where one changed, it is the example.
			`SELECT 'entry ' || seq || ' of ' || purse || ' balance_after ' || balance_after || ' but running sum ' || run FROM (
			   SELECT seq, purse, balance_after, SUM(amount) OVER (PARTITION BY purse, held ORDER BY seq) AS run FROM ` + ni("entries") + `) r
			 WHERE run <> balance_after
			 UNION ALL
			 SELECT p.number || ' balance ' || p.balance || ' held ' || p.held || ' but history sums to ' ||
			        COALESCE(h.avail, 0) || ' and ' || COALESCE(h.held, 0)
			 FROM ` + ni("purses p") + ` LEFT JOIN (SELECT purse, SUM(amount) FILTER (WHERE NOT held) AS avail, SUM(amount) FILTER (WHERE held) AS held
			                          FROM ` + ni("entries") + ` GROUP BY purse) h ON h.purse = p.number
			 WHERE p.balance <> COALESCE(h.avail, 0) OR p.held <> COALESCE(h.held, 0)`},
	}
}

// checkAudit verifies the audit chain, and where the head of the chain is a
// row of its own, that it names the last event: events removed from the
// end break no link.
func (s *Store) checkAudit(ctx context.Context, stx *sql.Tx) (n int64, bad int, example string, err error) {
	const op = "Check"
	n, bad, example, err = VerifyAudit(ctx, s.d, stx)
	if err != nil {
		return 0, 0, "", err
	}
	seq, hash, ok, err := s.d.RecordedAuditHead(ctx, stx)
	if err != nil {
		return 0, 0, "", s.mapErr(op, err)
	}
	if ok {
		last, lastHash, err := lastAudit(ctx, conn{q: stx, d: s.d})
		if err != nil {
			return 0, 0, "", s.mapErr(op, err)
		}
		if seq != last || !bytes.Equal(hash, lastHash) {
			bad++
			if example == "" {
				example = fmt.Sprintf("the chain head names event %d but the last event is %d (events removed from the end)", seq, last)
			}
		}
	}
	return n, bad, example, nil
}

func lastAudit(ctx context.Context, tx conn) (int64, []byte, error) {
	var seq int64
	var hash []byte
	rows, err := tx.Query(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&seq, &hash); err != nil {
			return 0, nil, err
		}
	}
	if hash == nil {
		hash = []byte{}
	}
	return seq, hash, rows.Err()
}
