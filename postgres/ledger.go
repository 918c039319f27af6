package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A ledger batch costs two round trips to the server, whatever its size:
//
//  1. BEGIN, lock the ledger head, lock the audit head, and load every
//     earlier transfer, purse, limit and spend counter the batch's requests
//     name (Prefetch), pipelined;
//  2. every insert and update the batch decided on, as array statements
//     (unnest), and COMMIT, pipelined.
//
// The engine decides in between, in memory. Holding the ledger head row for
// the whole transaction is what makes batches from several processes apply
// one after another on the balances the previous one committed.

type spendKey struct{ purse, period string }

type ledgerTx struct {
	db    *DB
	conn  *pgxpool.Conn
	begun bool
	// ctx bounds every statement of the batch (the store's write
	// timeout), whatever context the engine passes to the methods.
	ctx context.Context

	tseq, eseq int64  // last sequence numbers, from the ledger head
	aseq       int64  // last audit event
	ahash      []byte // and its hash
	lastStamp  int64  // of the last entry committed (Unix ms), read with the head

	// What Prefetch loaded; a key present with a nil value is known absent.
	transfers            map[[2]string]*coffer.Transfer
	bySeq                map[int64]*coffer.Transfer
	purses               map[string]*coffer.Purse
	limits               map[string]*coffer.PurseLimits
	spend                map[spendKey]int64
	spendOf              map[string]bool // keys whose counters for spendDay and spendMonth are loaded
	spendDay, spendMonth string
	invoices             map[string]*coffer.Invoice
	trusts               map[string]*coffer.Trust
	fees                 map[string]*coffer.FeeRule // every fee rule, once loaded (nil before)

	// What the batch decided, written by flush.
	writes []*coffer.BatchWrites
	adds   map[spendKey]int64
}

var _ coffer.LedgerTx = (*ledgerTx)(nil)

func (db *DB) isoSQL() string {
	if db.iso == pgx.Serializable {
		return "BEGIN ISOLATION LEVEL SERIALIZABLE"
	}
	return "BEGIN ISOLATION LEVEL READ COMMITTED"
}

// ApplyBatch implements coffer.Store. A batch that loses a serialization
// conflict or a deadlock (possible only with other writers than coffer's
// ledger, or under SERIALIZABLE) is run again from the start, fn included.
func (db *DB) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.tryBatch(ctx, fn)
		if err == nil {
			return nil
		}
		if (dialect{}).Classify(err) == sqlstore.FaultRetry && attempt+1 < sqlstore.MaxAttempts {
			if berr := sqlstore.Backoff(ctx, attempt); berr == nil {
				continue
			}
		}
		err = mapErr("ApplyBatch", err)
		db.NoteDamage(err)
		return err
	}
}

func (db *DB) tryBatch(ctx context.Context, fn func(coffer.LedgerTx) error) (err error) {
	// The store's write timeout bounds one batch, commit included: a server
	// that stops answering, or a commit that waits for a synchronous
	// standby that is gone, fails the batch (clients retry with the same
	// transfer ID) instead of hanging the ledger. The connection is closed
	// before its answer is read, so the batch is never acknowledged; the
	// server may still commit it locally (a cancelled wait for a standby
	// does), and then a resent ID finds it. Such a resend is answered only
	// once a standby has it too: every batch locks the ledger head row,
	// which makes its own commit wait for the standby, and the standby
	// confirms the log in order.
	ctx, cancel := context.WithTimeout(ctx, db.Timeout())
	defer cancel()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection that is broken or still inside a
	// transaction, so a failed batch never leaks its transaction.
	defer conn.Release()
	l := &ledgerTx{db: db, conn: conn, ctx: ctx}
	defer func() {
		if err != nil && l.begun {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			conn.Exec(rctx, "ROLLBACK")
			rcancel()
		}
	}()
	if err := fn(l); err != nil {
		return err
	}
	if err := l.start(ctx, nil); err != nil {
		return err
	}
	return l.flush(ctx)
}

// lockHeadTables, sent first in a SERIALIZABLE transaction, waits for the
// batch (or head change) before it to commit, before this transaction takes
// its snapshot: LOCK TABLE does not take one, the first SELECT does. Without
// it, a batch that waited on the ledger head row would find the row changed
// since its snapshot and fail with a serialization error every time batches
// contend. EXCLUSIVE blocks only writers and row lockers, never readers.
const lockHeadTables = `LOCK TABLE ledger_head, audit_head IN EXCLUSIVE MODE`

// start sends BEGIN and the head locks (once) together with the queries add
// queues, in one round trip.
func (l *ledgerTx) start(ctx context.Context, add func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	if !l.begun {
		l.begun = true
		b.Queue(l.db.isoSQL())
		if l.db.iso == pgx.Serializable {
			b.Queue(lockHeadTables)
		}
		b.Queue(`SELECT transfer_seq, entry_seq FROM ledger_head WHERE id = 1 FOR UPDATE`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&l.tseq, &l.eseq)
		})
		b.Queue(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&l.aseq, &l.ahash)
			if l.ahash == nil {
				l.ahash = []byte{}
			}
			return err
		})
		// A statement of its own, after the head lock: under READ
		// COMMITTED it sees the batch committed just before this one.
		b.Queue(sqlstore.LastStampQuery).QueryRow(func(r pgx.Row) error { return r.Scan(&l.lastStamp) })
	}
	if add != nil {
		add(b)
	}
	if b.Len() == 0 {
		return nil
	}
	return l.conn.SendBatch(l.ctx, b).Close()
}

// Prefetch implements coffer.LedgerTx. Besides what every batch
// needs (earlier transfers by ID, purses, limits, spend counters) it loads
// every fee rule and the purses they pay into, and, only when a request
// names them, the transfers being refunded and the invoices and trusts
// (locked FOR UPDATE, after the head locks) with the trusts' spend counters.
func (l *ledgerTx) Prefetch(ctx context.Context, reqs []*coffer.TransferRequest, day, month string) error {
	var senders, ids, numbers, froms, invoiceIDs, trustIDs []string
	var refundOf []int64
	l.transfers = make(map[[2]string]*coffer.Transfer, len(reqs))
	l.purses = make(map[string]*coffer.Purse, 2*len(reqs))
	l.limits = make(map[string]*coffer.PurseLimits, len(reqs))
	l.spend, l.spendOf = map[spendKey]int64{}, map[string]bool{}
	l.bySeq, l.invoices, l.trusts = map[int64]*coffer.Transfer{}, map[string]*coffer.Invoice{}, map[string]*coffer.Trust{}
	for _, r := range reqs {
		k := [2]string{r.Sender, r.TransferID}
		if _, ok := l.transfers[k]; !ok {
			l.transfers[k] = nil
			senders, ids = append(senders, r.Sender), append(ids, r.TransferID)
		}
		for _, n := range []string{r.From, r.To} {
			if _, ok := l.purses[n]; !ok {
				l.purses[n] = nil
				numbers = append(numbers, n)
			}
		}
		if _, ok := l.limits[r.From]; !ok {
			l.limits[r.From] = nil
			l.spendOf[r.From] = true
			froms = append(froms, r.From)
		}
		if r.RefundOf != 0 {
			if _, ok := l.bySeq[r.RefundOf]; !ok {
				l.bySeq[r.RefundOf] = nil
				refundOf = append(refundOf, r.RefundOf)
			}
		}
		if r.InvoiceID != "" {
			if _, ok := l.invoices[r.InvoiceID]; !ok {
				l.invoices[r.InvoiceID] = nil
				invoiceIDs = append(invoiceIDs, r.InvoiceID)
			}
		}
		if r.TrustID != "" {
			if _, ok := l.trusts[r.TrustID]; !ok {
				l.trusts[r.TrustID] = nil
				trustIDs = append(trustIDs, r.TrustID)
				key := (&coffer.Trust{ID: r.TrustID}).SpendKey()
				l.spendOf[key] = true
				froms = append(froms, key) // spend counters only: no purse has this number
			}
		}
	}
	l.spendOf[""] = false
	l.spendDay, l.spendMonth = day, month
	fees := map[string]*coffer.FeeRule{}
	return l.start(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT `+sqlstore.TransferCols+` FROM transfers t JOIN unnest($1::text[], $2::text[]) AS k(s, i) ON t.sender = k.s AND t.transfer_id = k.i`,
			senders, ids).Query(scanInto(sqlstore.ScanTransfer, func(t *coffer.Transfer) { l.transfers[[2]string{t.Sender, t.TransferID}] = t }))
		b.Queue(feeRulesQuery).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				f, err := sqlstore.ScanFeeRule(rows)
				if err != nil {
					return err
				}
				fees[f.Currency] = f
			}
			l.fees = fees
			return rows.Err()
		})
		// The fee purses too: most transfers credit one.
		b.Queue(`SELECT `+sqlstore.LedgerPurseCols+` FROM purses p JOIN members m ON m.id = p.owner WHERE p.number = ANY($1::text[] || ARRAY(SELECT purse FROM fee_rules))`, numbers).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				p, err := sqlstore.ScanLedgerPurse(rows)
				if err != nil {
					return err
				}
				l.purses[p.Number] = p
			}
			return rows.Err()
		})
		b.Queue(`SELECT `+sqlstore.LimitsCols+sqlstore.LimitsFrom+` WHERE l.purse = ANY($1)`, froms).Query(scanInto(sqlstore.ScanLimits, func(lim *coffer.PurseLimits) { l.limits[lim.Purse] = lim }))
		b.Queue(`SELECT purse, period, amount FROM purse_spend WHERE purse = ANY($1) AND period IN ($2, $3)`, froms, day, month).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k spendKey
				var v int64
				if err := rows.Scan(&k.purse, &k.period, &v); err != nil {
					return err
				}
				l.spend[k] = v
			}
			return rows.Err()
		})
		if len(refundOf) > 0 {
			b.Queue(`SELECT `+sqlstore.TransferCols+` FROM transfers WHERE seq = ANY($1)`, refundOf).Query(scanInto(sqlstore.ScanTransfer, func(t *coffer.Transfer) { l.bySeq[t.Seq] = t }))
		}
		if len(invoiceIDs) > 0 {
			b.Queue(`SELECT `+sqlstore.InvoiceCols+` FROM invoices WHERE id = ANY($1) ORDER BY id FOR UPDATE`, invoiceIDs).Query(scanInto(sqlstore.ScanInvoice, func(inv *coffer.Invoice) { l.invoices[inv.ID] = inv }))
		}
		if len(trustIDs) > 0 {
			b.Queue(`SELECT `+sqlstore.TrustCols+` FROM trusts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, trustIDs).Query(scanInto(sqlstore.ScanTrust, func(t *coffer.Trust) { l.trusts[t.ID] = t }))
		}
	})
}

// LastStamp implements coffer.LedgerTx from the read that comes with the
// head locks: no round trip of its own once the batch has begun.
func (l *ledgerTx) LastStamp(ctx context.Context) (time.Time, error) {
	if err := l.start(ctx, nil); err != nil {
		return time.Time{}, err
	}
	if l.lastStamp == 0 {
		return time.Time{}, nil
	}
	return fromMs(l.lastStamp), nil
}

func (l *ledgerTx) FindTransfer(ctx context.Context, sender, id string) (*coffer.Transfer, error) {
	if t, ok := l.transfers[[2]string{sender, id}]; ok {
		return t, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	t, err := sqlstore.ScanTransfer(l.conn.QueryRow(l.ctx, `SELECT `+sqlstore.TransferCols+` FROM transfers WHERE sender = $1 AND transfer_id = $2`, sender, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return t, err
}

func (l *ledgerTx) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	if p, ok := l.purses[number]; ok {
		if p == nil {
			return nil, nil
		}
		c := *p // a copy: the engine changes its balance as it goes
		return &c, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	p, err := sqlstore.ScanLedgerPurse(l.conn.QueryRow(l.ctx, `SELECT `+sqlstore.LedgerPurseCols+` FROM purses p JOIN members m ON m.id = p.owner WHERE p.number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return p, err
}

func (l *ledgerTx) PurseLimits(ctx context.Context, number string) (*coffer.PurseLimits, error) {
	if lim, ok := l.limits[number]; ok {
		return lim, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	lim, err := sqlstore.ScanLimits(l.conn.QueryRow(l.ctx, `SELECT `+sqlstore.LimitsCols+sqlstore.LimitsFrom+` WHERE l.purse = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return lim, err
}

// PurseSpend implements coffer.LedgerTx: the committed counters plus what
// this batch added so far.
func (l *ledgerTx) PurseSpend(ctx context.Context, key, day, month string) (int64, int64, error) {
	d, m := l.adds[spendKey{key, day}], l.adds[spendKey{key, month}]
	if l.spendOf[key] && l.spendDay == day && l.spendMonth == month {
		return l.spend[spendKey{key, day}] + d, l.spend[spendKey{key, month}] + m, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return 0, 0, err
	}
	var cd, cm int64
	err := l.conn.QueryRow(l.ctx, `SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = $1 AND period = $2), 0),
		COALESCE((SELECT amount FROM purse_spend WHERE purse = $1 AND period = $3), 0)`, key, day, month).Scan(&cd, &cm)
	return cd + d, cm + m, err
}

// TransferBySeq implements coffer.LedgerTx. A transfer Prefetch did not
// load (one a hold action names) comes in one round trip with the purses
// it moved money between, which the batch reads next.
func (l *ledgerTx) TransferBySeq(ctx context.Context, seq int64) (*coffer.Transfer, error) {
	if t, ok := l.bySeq[seq]; ok {
		return copyTransfer(t), nil
	}
	if l.bySeq == nil {
		l.bySeq = map[int64]*coffer.Transfer{}
	}
	if l.purses == nil {
		l.purses = map[string]*coffer.Purse{}
	}
	l.bySeq[seq] = nil
	purses := map[string]*coffer.Purse{}
	err := l.start(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT `+sqlstore.TransferCols+` FROM transfers WHERE seq = $1`, seq).Query(scanInto(sqlstore.ScanTransfer, func(t *coffer.Transfer) { l.bySeq[t.Seq] = t }))
		b.Queue(`SELECT `+sqlstore.LedgerPurseCols+` FROM purses p JOIN members m ON m.id = p.owner WHERE p.number IN (SELECT unnest(ARRAY[from_purse, to_purse, fee_purse]) FROM transfers WHERE seq = $1)`, seq).Query(scanInto(sqlstore.ScanLedgerPurse, func(p *coffer.Purse) { purses[p.Number] = p }))
	})
	if err != nil {
		delete(l.bySeq, seq)
		return nil, err
	}
	for n, p := range purses {
		if _, ok := l.purses[n]; !ok {
			l.purses[n] = p
		}
	}
	return copyTransfer(l.bySeq[seq]), nil
}

// Invoice implements coffer.LedgerTx: the row stays locked until the batch
// ends, so a concurrent cancel waits for it (and then finds it paid).
func (l *ledgerTx) Invoice(ctx context.Context, id string) (*coffer.Invoice, error) {
	if inv, ok := l.invoices[id]; ok {
		if inv == nil {
			return nil, nil
		}
		c := *inv
		return &c, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	inv, err := sqlstore.ScanInvoice(l.conn.QueryRow(l.ctx, `SELECT `+sqlstore.InvoiceCols+` FROM invoices WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return inv, err
}

// Trust implements coffer.LedgerTx, locking the row like Invoice.
func (l *ledgerTx) Trust(ctx context.Context, id string) (*coffer.Trust, error) {
	if t, ok := l.trusts[id]; ok {
		if t == nil {
			return nil, nil
		}
		c := *t
		return &c, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	t, err := sqlstore.ScanTrust(l.conn.QueryRow(l.ctx, `SELECT `+sqlstore.TrustCols+` FROM trusts WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return t, err
}

// FeeRule implements coffer.LedgerTx from the rules Prefetch loaded (or
// loads them all once).
func (l *ledgerTx) FeeRule(ctx context.Context, currency string) (*coffer.FeeRule, error) {
	if l.fees == nil {
		if err := l.start(ctx, nil); err != nil {
			return nil, err
		}
		rows, err := l.conn.Query(l.ctx, feeRulesQuery)
		list, err := collect(rows, err, "FeeRule", sqlstore.ScanFeeRule)
		if err != nil {
			return nil, err
		}
		l.fees = make(map[string]*coffer.FeeRule, len(list))
		for _, f := range list {
			l.fees[f.Currency] = f
		}
	}
	f := l.fees[currency]
	if f == nil {
		return nil, nil
	}
	c := *f
	return &c, nil
}

func (l *ledgerTx) AddSpend(ctx context.Context, key, day, month string, amount int64) error {
	if l.adds == nil {
		l.adds = map[spendKey]int64{}
	}
	l.adds[spendKey{key, day}] += amount
	l.adds[spendKey{key, month}] += amount
	return nil
}

// Write implements coffer.LedgerTx: it numbers the new transfers and
// entries from the ledger head and keeps everything for flush, which sends
// it with the COMMIT.
func (l *ledgerTx) Write(ctx context.Context, w *coffer.BatchWrites) error {
	if w == nil {
		return nil
	}
	if err := l.start(ctx, nil); err != nil {
		return err
	}
	for _, t := range w.Transfers {
		l.tseq++
		t.Seq = l.tseq
		if t.Kind == "" {
			t.Kind = coffer.KindTransfer
		}
		if t.Status == "" {
			t.Status = coffer.StatusCompleted
		}
	}
	for _, inv := range w.Invoices {
		if inv.TransferSeq == 0 { // paid by a transfer of this batch, numbered just now
			for _, t := range w.Transfers {
				if t.InvoiceID == inv.ID {
					inv.TransferSeq = t.Seq
				}
			}
		}
	}
	for _, e := range w.Entries {
		l.eseq++
		e.Seq = l.eseq
		if e.Kind == "" {
			e.Kind = coffer.EntryTransfer
		}
	}
	l.writes = append(l.writes, w)
	return nil
}

// flush writes what the batch decided and commits, in one round trip:
// transfers, entries, transfer updates, invoices, the audit events (each new
// transfer's transfer.applied, then the batch's others), the ledger head,
// balances and held money, spend counters, COMMIT.
func (l *ledgerTx) flush(ctx context.Context) error {
	b := &pgx.Batch{}
	var ts []*coffer.Transfer
	var es []*coffer.Entry
	var events []*coffer.AuditEvent
	updates := map[int64]*coffer.Transfer{}
	var updateOrder []int64
	invoices := map[string]*coffer.Invoice{}
	var invoiceOrder []string
	balances, held := map[string]int64{}, map[string]int64{}
	for _, w := range l.writes {
		ts = append(ts, w.Transfers...)
		es = append(es, w.Entries...)
		for _, t := range w.Transfers {
			events = append(events, coffer.NewAuditEvent(t.CreatedAt, coffer.AuditTransferApplied, t.Sender, map[string]any{
				"transfer_seq": t.Seq, "transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": t.Amount, "currency": t.Currency, "kind": t.Kind}))
		}
		for _, e := range w.Events {
			if e != nil {
				events = append(events, e)
			}
		}
		for _, t := range w.Updates { // the last word on a transfer wins
			if _, ok := updates[t.Seq]; !ok {
				updateOrder = append(updateOrder, t.Seq)
			}
			updates[t.Seq] = t
		}
		for _, inv := range w.Invoices {
			if _, ok := invoices[inv.ID]; !ok {
				invoiceOrder = append(invoiceOrder, inv.ID)
			}
			invoices[inv.ID] = inv
		}
		for n, v := range w.Balances {
			balances[n] = v
		}
		for n, v := range w.Held {
			held[n] = v
		}
	}
	if len(ts) > 0 {
		queueTransfers(b, ts)
	}
	if len(es) > 0 {
		if err := queueEntries(b, es); err != nil {
			return err
		}
	}
	if n := len(updateOrder); n > 0 {
		seq, status, refunded, attempts := make([]int64, n), make([]string, n), make([]int64, n), make([]int32, n)
		for i, s := range updateOrder {
			t := updates[s]
			seq[i], status[i], refunded[i] = t.Seq, t.Status, t.Refunded
			if t.Protection != nil {
				attempts[i] = int32(t.Protection.Attempts)
			}
		}
		b.Queue(`UPDATE transfers SET status = v.s, refunded = v.r, protect_attempts = v.a
			FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::integer[]) AS v(q, s, r, a) WHERE transfers.seq = v.q`,
			seq, status, refunded, attempts).Exec(rowsAffected("transfer updates", n))
	}
	if n := len(invoiceOrder); n > 0 {
		id, state, tseq, upd := make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
		for i, k := range invoiceOrder {
			inv := invoices[k]
			id[i], state[i], tseq[i], upd[i] = inv.ID, inv.State, inv.TransferSeq, ms(inv.UpdatedAt)
		}
		b.Queue(`UPDATE invoices SET state = v.s, transfer_seq = v.t, updated_at = v.u
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS v(i, s, t, u) WHERE invoices.id = v.i`,
			id, state, tseq, upd).Exec(rowsAffected("invoice updates", n))
	}
	if len(events) > 0 {
		args, aseq, ahash := chain(events, l.aseq, l.ahash)
		b.Queue(insertAudit, args...)
		b.Queue(setAuditHead, aseq, ahash)
	}
	if len(ts) > 0 || len(es) > 0 {
		b.Queue(`UPDATE ledger_head SET transfer_seq = $1, entry_seq = $2 WHERE id = 1`, l.tseq, l.eseq)
	}
	if len(balances)+len(held) > 0 {
		queueBalances(b, balances, held)
	}
	if len(l.adds) > 0 {
		ps, pers, amts := make([]string, 0, len(l.adds)), make([]string, 0, len(l.adds)), make([]int64, 0, len(l.adds))
		for k, v := range l.adds {
			ps, pers, amts = append(ps, k.purse), append(pers, k.period), append(amts, v)
		}
		b.Queue(`INSERT INTO purse_spend (purse, period, amount) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
			ON CONFLICT (purse, period) DO UPDATE SET amount = purse_spend.amount + excluded.amount`, ps, pers, amts)
	}
	queueOutbox(b, l.writes) // see webhooks.go
	b.Queue("COMMIT")
	return l.conn.SendBatch(l.ctx, b).Close()
}

// queueTransfers queues the insert of the batch's new transfers.
func queueTransfers(b *pgx.Batch, ts []*coffer.Transfer) {
	n := len(ts)
	seq, sender, tid, from, to, cur, desc, payee := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, at := make([]int64, n), make([]int64, n)
	kind, status, feePurse, invoiceID, trustID := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	fee, refundOf, refunded := make([]int64, n), make([]int64, n), make([]int64, n)
	byCode, salt, hash, until, attempts := make([]bool, n), make([][]byte, n), make([][]byte, n), make([]*int64, n), make([]int32, n)
	for i, t := range ts {
		seq[i], sender[i], tid[i], from[i], to[i], cur[i], amount[i], desc[i], payee[i], at[i] = t.Seq, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, ms(t.CreatedAt)
		kind[i], status[i], fee[i], feePurse[i], invoiceID[i], trustID[i], refundOf[i], refunded[i] = t.Kind, t.Status, t.Fee, t.FeePurse, t.InvoiceID, t.TrustID, t.RefundOf, t.Refunded
		if p := t.Protection; p != nil {
			byCode[i], salt[i], hash[i], attempts[i] = p.ByCode, p.CodeSalt, p.CodeHash, int32(p.Attempts)
			if !p.Until.IsZero() {
				u := ms(p.Until)
				until[i] = &u
			}
		}
	}
	b.Queue(`INSERT INTO transfers (seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at,
			kind, status, fee, fee_purse, invoice_id, trust_id, refund_of, refunded,
			protect_by_code, protect_salt, protect_hash, protect_until, protect_attempts)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[],
			$11::text[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::text[], $17::bigint[], $18::bigint[],
			$19::boolean[], $20::bytea[], $21::bytea[], $22::bigint[], $23::integer[])`,
		seq, sender, tid, from, to, cur, amount, desc, payee, at,
		kind, status, fee, feePurse, invoiceID, trustID, refundOf, refunded,
		byCode, salt, hash, until, attempts)
}

// queueEntries queues the insert of the batch's new history entries.
func queueEntries(b *pgx.Batch, es []*coffer.Entry) error {
	n := len(es)
	seq, purse, tseq, kind, cp := make([]int64, n), make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	eheld, amount, after, at := make([]bool, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, e := range es {
		if e.Transfer == nil || e.Transfer.Seq == 0 {
			return fmt.Errorf("postgres: entry %d of purse %s names no recorded transfer", e.Seq, e.Purse)
		}
		seq[i], purse[i], tseq[i], kind[i], eheld[i], amount[i], after[i], cp[i], at[i] = e.Seq, e.Purse, e.Transfer.Seq, e.Kind, e.Held, e.Amount, e.BalanceAfter, e.Counterparty, ms(e.CreatedAt)
	}
	b.Queue(`INSERT INTO entries (seq, purse, transfer_seq, kind, held, amount, balance_after, counterparty, created_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::boolean[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[])`,
		seq, purse, tseq, kind, eheld, amount, after, cp, at)
	return nil
}

// queueBalances queues one update of the purses whose balance or held
// money the batch changed.
func queueBalances(b *pgx.Batch, balances, held map[string]int64) {
	n := len(balances) + len(held)
	// One statement for both; NULL leaves a column as it is.
	nums, bals, helds := make([]string, 0, n), make([]*int64, 0, n), make([]*int64, 0, n)
	for num, v := range balances {
		v := v
		nums, bals = append(nums, num), append(bals, &v)
		if h, ok := held[num]; ok {
			helds = append(helds, &h)
		} else {
			helds = append(helds, nil)
		}
	}
	for num, h := range held {
		if _, ok := balances[num]; ok {
			continue
		}
		h := h
		nums, bals, helds = append(nums, num), append(bals, nil), append(helds, &h)
	}
	b.Queue(`UPDATE purses SET balance = COALESCE(v.b, purses.balance), held = COALESCE(v.h, purses.held)
		FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(n, b, h) WHERE purses.number = v.n`,
		nums, bals, helds).Exec(rowsAffected("purse balances", len(nums)))
}

// rowsAffected fails a statement that did not touch every row it names.
func rowsAffected(what string, want int) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		if int(tag.RowsAffected()) != want {
			return fmt.Errorf("postgres: %d of %d %s applied", tag.RowsAffected(), want, what)
		}
		return nil
	}
}

// scanInto is a batch query callback that reads every row with scan and
// hands each value to keep.
func scanInto[T any](scan func(rowScanner) (*T, error), keep func(*T)) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			keep(v)
		}
		return rows.Err()
	}
}

// feeRulesQuery reads every fee rule, for Prefetch.
const feeRulesQuery = `SELECT ` + sqlstore.FeeRuleCols + ` FROM fee_rules ORDER BY currency`
