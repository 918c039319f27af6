package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

// ledger statements, prepared once on the writer and reused by every batch.
type ledgerStmts struct {
	find, bySeq, purse, maxSeq, dataVer *sql.Stmt
	lastStamp                           *sql.Stmt
	limits, spend, addSpend             *sql.Stmt
	invoice, trust, feeRules            *sql.Stmt
	updT, updInv                        *sql.Stmt
	outbox                              *sql.Stmt // webhook events of the batch; see webhooks.go
	setBal, setHeld, setBoth            *sql.Stmt
	// Multi-row statements for 1, 2, 4, … rows. A batch of n rows is
	// written as the binary decomposition of n, so a handful of statements
	// prepared once (before any transaction holds the single writer
	// connection) serve every batch size without re-parsing SQL.
	// The lean shapes leave out the columns whose defaults fit a plain
	// transfer and its available-money entries (the hot path): fewer
	// values to bind per row.
	insT, insTLean, insA [shapeCount]*sql.Stmt
	insE, insELean       [entryShapeCount]*sql.Stmt
}

const (
	shapeCount      = 9  // 1 << 8 == insertChunk
	entryShapeCount = 10 // entries come two or more per transfer: up to 512 rows
)

// shapeFor returns the largest power-of-two chunk not above n among count
// shapes, and its index.
func shapeFor(n, count int) (int, int) {
	i := 0
	for i+1 < count && 1<<(i+1) <= n {
		i++
	}
	return 1 << i, i
}

func (db *DB) stmts(ctx context.Context) (*ledgerStmts, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if db.ls != nil {
		return db.ls, nil
	}
	var s ledgerStmts
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.w.PrepareContext(ctx, q)
		return st
	}
	s.find = prep(`SELECT ` + sqlstore.TransferCols + ` FROM transfers WHERE sender = ? AND transfer_id = ?`)
	s.bySeq = prep(`SELECT ` + sqlstore.TransferCols + ` FROM transfers WHERE seq = ?`)
	s.purse = prep(`SELECT ` + sqlstore.LedgerPurseCols + ` FROM purses p JOIN members m ON m.id = p.owner WHERE p.number = ?`)
	s.maxSeq = prep(`SELECT COALESCE((SELECT MAX(seq) FROM transfers), 0), COALESCE((SELECT MAX(seq) FROM entries), 0)`)
	s.dataVer = prep(`PRAGMA data_version`)
	s.lastStamp = prep(sqlstore.LastStampQuery)
	s.limits = prep(limitsQuery)
	s.spend = prep(`SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = ? AND period = ?), 0), COALESCE((SELECT amount FROM purse_spend WHERE purse = ? AND period = ?), 0)`)
	s.addSpend = prep(`INSERT INTO purse_spend (purse, period, amount) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT (purse, period) DO UPDATE SET amount = amount + excluded.amount`)
	s.invoice = prep(`SELECT ` + sqlstore.InvoiceCols + ` FROM invoices WHERE id = ?`)
	s.trust = prep(`SELECT ` + sqlstore.TrustCols + ` FROM trusts WHERE id = ?`)
	s.feeRules = prep(`SELECT ` + sqlstore.FeeRuleCols + ` FROM fee_rules`)
	s.updT = prep(`UPDATE transfers SET status = ?, refunded = ?, protect_attempts = COALESCE(?, protect_attempts) WHERE seq = ?`)
	s.updInv = prep(`UPDATE invoices SET state = ?, transfer_seq = ?, updated_at = ? WHERE id = ?`)
	// One prepared single-row UPDATE per purse costs less than a
	// multi-row UPDATE … FROM (which materializes its join).
	s.outbox = prep(outboxInsert)
	s.setBal = prep(`UPDATE purses SET balance = ? WHERE number = ?`)
	s.setHeld = prep(`UPDATE purses SET held = ? WHERE number = ?`)
	s.setBoth = prep(`UPDATE purses SET balance = ?, held = ? WHERE number = ?`)
	for i := 0; i < shapeCount; i++ {
		s.insT[i] = prep(`INSERT INTO transfers (` + sqlstore.TransferCols + `) VALUES ` + sqlstore.Rows(transferTuple, 1<<i))
		s.insTLean[i] = prep(`INSERT INTO transfers (` + leanTransferCols + `) VALUES ` + sqlstore.Rows(`(?,?,?,?,?,?,?,?,?,?,?,?)`, 1<<i))
		s.insA[i] = prep(`INSERT INTO audit_events (seq, at, kind, member_id, detail, prev_hash, hash) VALUES ` + sqlstore.Rows(`(?,?,?,?,?,?,?)`, 1<<i))
	}
	for i := 0; i < entryShapeCount; i++ {
		s.insE[i] = prep(`INSERT INTO entries (seq, purse, transfer_seq, kind, held, amount, balance_after, counterparty, created_at) VALUES ` + sqlstore.Rows(`(?,?,?,?,?,?,?,?,?)`, 1<<i))
		s.insELean[i] = prep(`INSERT INTO entries (seq, purse, transfer_seq, amount, balance_after, counterparty, created_at) VALUES ` + sqlstore.Rows(`(?,?,?,?,?,?,?)`, 1<<i))
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare ledger statements: %w", err)
	}
	db.ls = &s
	return db.ls, nil
}

// leanTransferCols are the columns of a plain transfer (kind transfer,
// completed, not protected, refunding or refunded, paying no invoice,
// under no trust); the others keep their defaults.
const leanTransferCols = `seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at, fee, fee_purse`

func leanTransfer(t *coffer.Transfer) bool {
	return (t.Kind == coffer.KindTransfer || t.Kind == "") && (t.Status == coffer.StatusCompleted || t.Status == "") &&
		t.Protection == nil && t.InvoiceID == "" && t.TrustID == "" && t.RefundOf == 0 && t.Refunded == 0
}

func leanEntry(e *coffer.Entry) bool {
	return (e.Kind == coffer.EntryTransfer || e.Kind == "") && !e.Held
}

// transferTuple has one placeholder per column of sqlstore.TransferCols.
var transferTuple = "(" + strings.TrimSuffix(strings.Repeat("?,", strings.Count(sqlstore.TransferCols, ",")+1), ",") + ")"

type ledgerTx struct {
	db   *DB
	tx   *sql.Tx
	s    *ledgerStmts
	bal  map[string]int64 // balances written in this batch
	held map[string]int64 // held money written in this batch
}

var _ coffer.LedgerTx = (*ledgerTx)(nil)

// Prefetch implements coffer.LedgerTx by loading nothing: the batch's
// reads are local and cheap, and the purse cache already answers most.
func (l *ledgerTx) Prefetch(context.Context, []*coffer.TransferRequest, string, string) error {
	return nil
}

// ApplyBatch implements coffer.Store. The transaction is BEGIN IMMEDIATE (from
// the DSN), so the batch holds the write lock from its first read and no
// other process can change a balance it has read.
func (db *DB) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	err := db.applyBatch(ctx, fn)
	db.NoteDamage(err)
	return err
}

func (db *DB) applyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	s, err := db.stmts(ctx)
	if err != nil {
		return mapErr("ApplyBatch", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr("ApplyBatch", err)
	}
	defer tx.Rollback()
	db.pcMu.Lock()
	defer db.pcMu.Unlock()
	// data_version changes when another connection (another process, such
	// as `cofferd admin`) has committed: then cached purses may be stale.
	var ver int64
	if err := tx.StmtContext(ctx, s.dataVer).QueryRowContext(ctx).Scan(&ver); err != nil {
		return mapErr("ApplyBatch", err)
	}
	if ver != db.pcVer || db.pc == nil {
		db.pc, db.pcVer = map[string]coffer.Purse{}, ver
		db.lc, db.fc = nil, nil
	}
	if db.lc == nil {
		db.lc = map[string]*coffer.PurseLimits{}
	}
	l := &ledgerTx{db: db, tx: tx, s: s, bal: map[string]int64{}, held: map[string]int64{}}
	if err := fn(l); err != nil {
		db.pc, db.lc, db.fc = nil, nil, nil
		return err
	}
	if err := tx.Commit(); err != nil {
		db.pc, db.lc, db.fc = nil, nil, nil // the balances in the cache may not have committed
		return mapErr("ApplyBatch", err)
	}
	for n, b := range l.bal {
		if p, ok := db.pc[n]; ok {
			p.Balance = b
			db.pc[n] = p
		}
	}
	for n, h := range l.held {
		if p, ok := db.pc[n]; ok {
			p.Held = h
			db.pc[n] = p
		}
	}
	return nil
}

func (l *ledgerTx) FindTransfer(ctx context.Context, sender, id string) (*coffer.Transfer, error) {
	t, err := sqlstore.ScanTransfer(l.tx.StmtContext(ctx, l.s.find).QueryRowContext(ctx, sender, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return t, mapErr("FindTransfer", err)
}

// LastStamp implements coffer.LedgerTx: one read of the last entry, under
// the batch's write lock.
func (l *ledgerTx) LastStamp(ctx context.Context) (time.Time, error) {
	var v int64
	if err := l.tx.StmtContext(ctx, l.s.lastStamp).QueryRowContext(ctx).Scan(&v); err != nil {
		return time.Time{}, mapErr("LastStamp", err)
	}
	if v == 0 {
		return time.Time{}, nil
	}
	return fromMs(v), nil
}

// TransferBySeq implements coffer.LedgerTx.
func (l *ledgerTx) TransferBySeq(ctx context.Context, seq int64) (*coffer.Transfer, error) {
	t, err := sqlstore.ScanTransfer(l.tx.StmtContext(ctx, l.s.bySeq).QueryRowContext(ctx, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return t, mapErr("LedgerTransferBySeq", err)
}

func (l *ledgerTx) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	if p, ok := l.db.pc[number]; ok {
		return &p, nil // a copy: the engine changes its balance as it goes
	}
	p, err := sqlstore.ScanLedgerPurse(l.tx.StmtContext(ctx, l.s.purse).QueryRowContext(ctx, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("LedgerPurse", err)
	}
	if len(l.db.pc) < 1<<20 {
		l.db.pc[number] = *p
	}
	return p, nil
}

// Invoice implements coffer.LedgerTx. The batch holds the write lock, so
// the invoice cannot change before it commits.
func (l *ledgerTx) Invoice(ctx context.Context, id string) (*coffer.Invoice, error) {
	inv, err := sqlstore.ScanInvoice(l.tx.StmtContext(ctx, l.s.invoice).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return inv, mapErr("LedgerInvoice", err)
}

// Trust implements coffer.LedgerTx, locked like Invoice.
func (l *ledgerTx) Trust(ctx context.Context, id string) (*coffer.Trust, error) {
	t, err := sqlstore.ScanTrust(l.tx.StmtContext(ctx, l.s.trust).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return t, mapErr("LedgerTrust", err)
}

// FeeRule implements coffer.LedgerTx from a cache of all the rules (a tiny
// table), loaded by the first batch that asks and reset with the purses.
func (l *ledgerTx) FeeRule(ctx context.Context, currency string) (*coffer.FeeRule, error) {
	if l.db.fc == nil {
		rows, err := l.tx.StmtContext(ctx, l.s.feeRules).QueryContext(ctx)
		if err != nil {
			return nil, mapErr("LedgerFeeRule", err)
		}
		list, err := scanFeeRules(rows, "LedgerFeeRule")
		if err != nil {
			return nil, err
		}
		fc := make(map[string]*coffer.FeeRule, len(list))
		for _, f := range list {
			fc[f.Currency] = f
		}
		l.db.fc = fc
	}
	f, ok := l.db.fc[currency]
	if !ok {
		return nil, nil
	}
	c := *f
	return &c, nil
}

// insertChunk bounds rows per multi-row INSERT of transfers, well under
// SQLite's limit on bound parameters.
const insertChunk = 256

// Write implements coffer.LedgerTx: multi-row INSERTs of prepared shapes
// for transfers, entries and audit events, one UPDATE per changed transfer
// and paid invoice, and multi-row UPDATEs of the purses.
func (l *ledgerTx) Write(ctx context.Context, w *coffer.BatchWrites) error {
	const op = "Write"
	events := make([]*coffer.AuditEvent, 0, len(w.Transfers)+len(w.Events))
	if len(w.Transfers) > 0 || len(w.Entries) > 0 {
		// The batch holds the write lock (BEGIN IMMEDIATE), so sequence
		// numbers can be assigned here.
		var tseq, eseq int64
		if err := l.tx.StmtContext(ctx, l.s.maxSeq).QueryRowContext(ctx).Scan(&tseq, &eseq); err != nil {
			return mapErr(op, err)
		}
		for ts := w.Transfers; len(ts) > 0; {
			n, shape := shapeFor(len(ts), shapeCount)
			lean := true
			for _, t := range ts[:n] {
				lean = lean && leanTransfer(t)
			}
			st := l.s.insT[shape]
			var args []any
			if lean {
				st, args = l.s.insTLean[shape], make([]any, 0, n*12)
			} else {
				args = make([]any, 0, n*transferColCount)
			}
			for _, t := range ts[:n] {
				tseq++
				t.Seq = tseq
				if lean {
					args = append(args, t.Seq, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, ms(t.CreatedAt), t.Fee, t.FeePurse)
				} else {
					args = sqlstore.TransferArgs(args, t)
				}
				events = append(events, coffer.NewAuditEvent(t.CreatedAt, coffer.AuditTransferApplied, t.Sender, map[string]any{
					"transfer_seq": t.Seq, "transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": t.Amount, "currency": t.Currency,
					"kind": kindOf(t)}))
			}
			if _, err := l.tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
				return mapErr("InsertTransfers", err)
			}
			ts = ts[n:]
		}
		for es := w.Entries; len(es) > 0; {
			n, shape := shapeFor(len(es), entryShapeCount)
			lean := true
			for _, e := range es[:n] {
				if e.Transfer == nil || e.Transfer.Seq == 0 {
					return fmt.Errorf("%s: entry of %s without a written transfer", op, e.Purse)
				}
				lean = lean && leanEntry(e)
			}
			st := l.s.insE[shape]
			var args []any
			if lean {
				st, args = l.s.insELean[shape], make([]any, 0, n*7)
			} else {
				args = make([]any, 0, n*9)
			}
			for _, e := range es[:n] {
				eseq++
				e.Seq = eseq
				if lean {
					args = append(args, e.Seq, e.Purse, e.Transfer.Seq, e.Amount, e.BalanceAfter, e.Counterparty, ms(e.CreatedAt))
					continue
				}
				kind := e.Kind
				if kind == "" {
					kind = coffer.EntryTransfer
				}
				args = append(args, e.Seq, e.Purse, e.Transfer.Seq, kind, e.Held, e.Amount, e.BalanceAfter, e.Counterparty, ms(e.CreatedAt))
			}
			if _, err := l.tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
				return mapErr("InsertEntries", err)
			}
			es = es[n:]
		}
	}
	if len(w.Updates) > 0 {
		st := l.tx.StmtContext(ctx, l.s.updT)
		for _, t := range w.Updates {
			var attempts any
			if t.Protection != nil {
				attempts = t.Protection.Attempts
			}
			if _, err := st.ExecContext(ctx, t.Status, t.Refunded, attempts, t.Seq); err != nil {
				return mapErr("UpdateTransfers", err)
			}
		}
	}
	if len(w.Invoices) > 0 {
		st := l.tx.StmtContext(ctx, l.s.updInv)
		for _, inv := range w.Invoices {
			if inv.TransferSeq == 0 {
				// Paid by a transfer of this batch, whose Seq is known only now.
				for _, t := range w.Transfers {
					if t.InvoiceID == inv.ID {
						inv.TransferSeq = t.Seq
					}
				}
			}
			if _, err := st.ExecContext(ctx, inv.State, inv.TransferSeq, ms(inv.UpdatedAt), inv.ID); err != nil {
				return mapErr("UpdateInvoices", err)
			}
		}
	}
	events = append(events, w.Events...)
	if err := appendAuditWith(ctx, l.s, l.tx, events); err != nil {
		return err
	}
	if err := l.writeOutbox(ctx, w); err != nil {
		return err
	}
	return l.setPurses(ctx, w.Balances, w.Held)
}

// transferColCount is the number of columns in sqlstore.TransferCols.
var transferColCount = strings.Count(sqlstore.TransferCols, ",") + 1

func kindOf(t *coffer.Transfer) string {
	if t.Kind == "" {
		return coffer.KindTransfer
	}
	return t.Kind
}

// setPurses writes new balances and held money, one UPDATE per purse.
func (l *ledgerTx) setPurses(ctx context.Context, bal, held map[string]int64) error {
	if len(bal) == 0 && len(held) == 0 {
		return nil
	}
	setBal := l.tx.StmtContext(ctx, l.s.setBal)
	var err error
	for n, b := range bal {
		if h, ok := held[n]; ok {
			_, err = l.tx.StmtContext(ctx, l.s.setBoth).ExecContext(ctx, b, h, n)
		} else {
			_, err = setBal.ExecContext(ctx, b, n)
		}
		if err != nil {
			return mapErr("SetBalances", err)
		}
		l.bal[n] = b
	}
	for n, h := range held {
		if _, ok := bal[n]; !ok {
			if _, err := l.tx.StmtContext(ctx, l.s.setHeld).ExecContext(ctx, h, n); err != nil {
				return mapErr("SetBalances", err)
			}
		}
		l.held[n] = h
	}
	return nil
}

// PurseLimits implements coffer.LedgerTx, cached like the purses: a purse
// without limits costs one map lookup after its first batch.
func (l *ledgerTx) PurseLimits(ctx context.Context, number string) (*coffer.PurseLimits, error) {
	if lim, ok := l.db.lc[number]; ok {
		return lim, nil
	}
	lim, err := scanLimits(l.tx.StmtContext(ctx, l.s.limits).QueryRowContext(ctx, number), number)
	if err != nil {
		return nil, mapErr("LedgerPurseLimits", err)
	}
	if len(l.db.lc) < 1<<20 {
		l.db.lc[number] = lim
	}
	return lim, nil
}

// PurseSpend implements coffer.LedgerTx. key is a purse number or a
// Trust.SpendKey.
func (l *ledgerTx) PurseSpend(ctx context.Context, key, day, month string) (int64, int64, error) {
	var d, m int64
	err := l.tx.StmtContext(ctx, l.s.spend).QueryRowContext(ctx, key, day, key, month).Scan(&d, &m)
	return d, m, mapErr("PurseSpend", err)
}

// AddSpend implements coffer.LedgerTx.
func (l *ledgerTx) AddSpend(ctx context.Context, key, day, month string, amount int64) error {
	_, err := l.tx.StmtContext(ctx, l.s.addSpend).ExecContext(ctx, key, day, amount, key, month, amount)
	return mapErr("AddSpend", err)
}

// scanFeeRules reads every row of a query of sqlstore.FeeRuleCols.
func scanFeeRules(rows *sql.Rows, op string) ([]*coffer.FeeRule, error) {
	defer rows.Close()
	var out []*coffer.FeeRule
	for rows.Next() {
		f, err := sqlstore.ScanFeeRule(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, f)
	}
	return out, mapErr(op, rows.Err())
}

// limitsQuery reads one purse's limits, for scanLimits.
const limitsQuery = `SELECT ` + sqlstore.LimitsCols + sqlstore.LimitsFrom + ` WHERE l.purse = ?`

// scanLimits reads the row of limitsQuery: nil when the purse has no limits.
func scanLimits(row *sql.Row, _ string) (*coffer.PurseLimits, error) {
	l, err := sqlstore.ScanLimits(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return l, err
}
