package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coffer-money/coffer"
)

// ledger statements, prepared once on the writer and reused by every batch.
type ledgerStmts struct {
	find, purse, maxSeq, setBal, dataVer *sql.Stmt
	limits, spend, addSpend              *sql.Stmt
	// Multi-row INSERTs for 1, 2, 4, … insertChunk rows. A batch of n rows
	// is written as the binary decomposition of n, so a handful of
	// statements prepared once (before any transaction holds the single
	// writer connection) serve every batch size without re-parsing SQL.
	insT, insE, insA [shapeCount]*sql.Stmt
}

const shapeCount = 9 // 1 << 8 == insertChunk

// shapeFor returns the largest power-of-two chunk not above n, and its index.
func shapeFor(n int) (int, int) {
	i := 0
	for i+1 < shapeCount && 1<<(i+1) <= n {
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
	s.find = prep(`SELECT ` + transferCols + ` FROM transfers WHERE sender = ? AND transfer_id = ?`)
	s.purse = prep(`SELECT ` + purseCols + ` FROM purses WHERE number = ?`)
	s.maxSeq = prep(`SELECT COALESCE((SELECT MAX(seq) FROM transfers), 0), COALESCE((SELECT MAX(seq) FROM entries), 0)`)
	s.setBal = prep(`UPDATE purses SET balance = ? WHERE number = ?`)
	s.dataVer = prep(`PRAGMA data_version`)
	s.limits = prep(limitsQuery)
	s.spend = prep(`SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = ? AND period = ?), 0), COALESCE((SELECT amount FROM purse_spend WHERE purse = ? AND period = ?), 0)`)
	s.addSpend = prep(`INSERT INTO purse_spend (purse, period, amount) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT (purse, period) DO UPDATE SET amount = amount + excluded.amount`)
	for i := 0; i < shapeCount; i++ {
		s.insT[i] = prep(`INSERT INTO transfers (seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at) VALUES ` + rows(`(?,?,?,?,?,?,?,?,?,?)`, 1<<i))
		s.insE[i] = prep(`INSERT INTO entries (seq, purse, transfer_seq, amount, balance_after, created_at) VALUES ` + rows(`(?,?,?,?,?,?)`, 2<<i))
		s.insA[i] = prep(`INSERT INTO audit_events (seq, at, kind, member_id, detail, prev_hash, hash) VALUES ` + rows(`(?,?,?,?,?,?,?)`, 1<<i))
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare ledger statements: %w", err)
	}
	db.ls = &s
	return db.ls, nil
}

type ledgerTx struct {
	db      *DB
	tx      *sql.Tx
	s       *ledgerStmts
	pending map[string]int64 // balances written in this batch
}

// ApplyBatch implements coffer.Store. The transaction is BEGIN IMMEDIATE (from
// the DSN), so the batch holds the write lock from its first read and no
// other process can change a balance it has read.
func (db *DB) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	s, err := db.stmts(ctx)
	if err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr("sqlite.ApplyBatch", err)
	}
	defer tx.Rollback()
	db.pcMu.Lock()
	defer db.pcMu.Unlock()
	// data_version changes when another connection (another process, such
	// as `cofferd admin`) has committed: then cached purses may be stale.
	var ver int64
	if err := tx.StmtContext(ctx, s.dataVer).QueryRowContext(ctx).Scan(&ver); err != nil {
		return mapErr("sqlite.ApplyBatch", err)
	}
	if ver != db.pcVer || db.pc == nil {
		db.pc, db.pcVer = map[string]coffer.Purse{}, ver
		db.lc = nil
	}
	if db.lc == nil {
		db.lc = map[string]*coffer.PurseLimits{}
	}
	l := &ledgerTx{db: db, tx: tx, s: s, pending: map[string]int64{}}
	if err := fn(l); err != nil {
		db.pc, db.lc = nil, nil
		return err
	}
	if err := tx.Commit(); err != nil {
		db.pc, db.lc = nil, nil // the balances in the cache may not have committed
		return mapErr("sqlite.ApplyBatch", err)
	}
	for n, b := range l.pending {
		if p, ok := db.pc[n]; ok {
			p.Balance = b
			db.pc[n] = p
		}
	}
	return nil
}

// forgetPurses drops the ledger's purse cache; every write to purses outside
// the ledger on this connection must call it.
func (db *DB) forgetPurses() {
	db.pcMu.Lock()
	db.pc, db.lc = nil, nil
	db.pcMu.Unlock()
}

func (l *ledgerTx) FindTransfer(ctx context.Context, sender, id string) (*coffer.Transfer, error) {
	t, err := scanTransfer(l.tx.StmtContext(ctx, l.s.find).QueryRowContext(ctx, sender, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return t, mapErr("sqlite.FindTransfer", err)
}

func (l *ledgerTx) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	if p, ok := l.db.pc[number]; ok {
		return &p, nil // a copy: the engine changes its balance as it goes
	}
	p, err := scanPurse(l.tx.StmtContext(ctx, l.s.purse).QueryRowContext(ctx, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("sqlite.LedgerPurse", err)
	}
	if len(l.db.pc) < 1<<20 {
		l.db.pc[number] = *p
	}
	return p, nil
}

// insertChunk bounds rows per multi-row INSERT, well under SQLite's limit
// on bound parameters.
const insertChunk = 256

func (l *ledgerTx) Insert(ctx context.Context, ts []coffer.Applied) error {
	events := make([]*coffer.AuditEvent, 0, len(ts))
	// The batch holds the write lock (BEGIN IMMEDIATE), so sequence numbers
	// can be assigned here and both tables filled with multi-row INSERTs.
	var tseq, eseq int64
	if err := l.tx.StmtContext(ctx, l.s.maxSeq).QueryRowContext(ctx).Scan(&tseq, &eseq); err != nil {
		return mapErr("sqlite.Insert", err)
	}
	for len(ts) > 0 {
		n, shape := shapeFor(len(ts))
		chunk := ts[:n]
		ts = ts[n:]
		targs := make([]any, 0, n*10)
		eargs := make([]any, 0, n*12)
		for _, a := range chunk {
			t := a.T
			tseq++
			t.Seq = tseq
			at := ms(t.CreatedAt)
			targs = append(targs, t.Seq, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, at)
			eargs = append(eargs, eseq+1, t.From, t.Seq, -t.Amount, a.FromAfter, at, eseq+2, t.To, t.Seq, t.Amount, a.ToAfter, at)
			eseq += 2
			events = append(events, coffer.NewAuditEvent(t.CreatedAt, coffer.AuditTransferApplied, t.Sender, map[string]any{
				"transfer_seq": t.Seq, "transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": t.Amount, "currency": t.Currency}))
		}
		if _, err := l.tx.StmtContext(ctx, l.s.insT[shape]).ExecContext(ctx, targs...); err != nil {
			return mapErr("sqlite.InsertTransfers", err)
		}
		if _, err := l.tx.StmtContext(ctx, l.s.insE[shape]).ExecContext(ctx, eargs...); err != nil {
			return mapErr("sqlite.InsertEntries", err)
		}
	}
	return appendAuditWith(ctx, l.s, l.tx, events)
}

func (l *ledgerTx) SetBalance(ctx context.Context, number string, balance int64) error {
	_, err := l.tx.StmtContext(ctx, l.s.setBal).ExecContext(ctx, balance, number)
	if err == nil {
		l.pending[number] = balance
	}
	return mapErr("sqlite.SetBalance", err)
}

// PurseLimits implements coffer.LedgerTx, cached like the purses: a purse
// without limits costs one map lookup after its first batch.
func (l *ledgerTx) PurseLimits(ctx context.Context, number string) (*coffer.PurseLimits, error) {
	if lim, ok := l.db.lc[number]; ok {
		return lim, nil
	}
	lim, err := scanLimits(l.tx.StmtContext(ctx, l.s.limits).QueryRowContext(ctx, number), number)
	if err != nil {
		return nil, mapErr("sqlite.LedgerPurseLimits", err)
	}
	if len(l.db.lc) < 1<<20 {
		l.db.lc[number] = lim
	}
	return lim, nil
}

// PurseSpend implements coffer.LedgerTx.
func (l *ledgerTx) PurseSpend(ctx context.Context, number, day, month string) (int64, int64, error) {
	var d, m int64
	err := l.tx.StmtContext(ctx, l.s.spend).QueryRowContext(ctx, number, day, number, month).Scan(&d, &m)
	return d, m, mapErr("sqlite.PurseSpend", err)
}

// AddSpend implements coffer.LedgerTx.
func (l *ledgerTx) AddSpend(ctx context.Context, number, day, month string, amount int64) error {
	_, err := l.tx.StmtContext(ctx, l.s.addSpend).ExecContext(ctx, number, day, amount, number, month, amount)
	return mapErr("sqlite.AddSpend", err)
}
