package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-money/coffer"
)

// ledger statements, prepared once on the writer and reused by every batch.
type ledgerStmts struct {
	find, purse, maxSeq, setBal *sql.Stmt
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
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare ledger statements: %w", err)
	}
	db.ls = &s
	return db.ls, nil
}

type ledgerTx struct {
	tx *sql.Tx
	s  *ledgerStmts
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
	if err := fn(&ledgerTx{tx: tx, s: s}); err != nil {
		return err
	}
	return mapErr("sqlite.ApplyBatch", tx.Commit())
}

func (l *ledgerTx) FindTransfer(ctx context.Context, sender, id string) (*coffer.Transfer, error) {
	t, err := scanTransfer(l.tx.StmtContext(ctx, l.s.find).QueryRowContext(ctx, sender, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return t, mapErr("sqlite.FindTransfer", err)
}

func (l *ledgerTx) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	p, err := scanPurse(l.tx.StmtContext(ctx, l.s.purse).QueryRowContext(ctx, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return p, mapErr("sqlite.LedgerPurse", err)
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
		n := min(len(ts), insertChunk)
		chunk := ts[:n]
		ts = ts[n:]
		var tq, eq strings.Builder
		tq.WriteString(`INSERT INTO transfers (seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at) VALUES `)
		eq.WriteString(`INSERT INTO entries (seq, purse, transfer_seq, amount, balance_after, created_at) VALUES `)
		targs := make([]any, 0, n*10)
		eargs := make([]any, 0, n*12)
		for i, a := range chunk {
			if i > 0 {
				tq.WriteByte(',')
				eq.WriteByte(',')
			}
			tq.WriteString(`(?,?,?,?,?,?,?,?,?,?)`)
			eq.WriteString(`(?,?,?,?,?,?),(?,?,?,?,?,?)`)
			t := a.T
			tseq++
			t.Seq = tseq
			at := ms(t.CreatedAt)
			targs = append(targs, t.Seq, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, at)
			eargs = append(eargs, eseq+1, t.From, t.Seq, -t.Amount, a.FromAfter, at, eseq+2, t.To, t.Seq, t.Amount, a.ToAfter, at)
			eseq += 2
		}
		for _, a := range chunk {
			t := a.T
			events = append(events, coffer.NewAuditEvent(t.CreatedAt, coffer.AuditTransferApplied, t.Sender, map[string]any{
				"transfer_seq": t.Seq, "transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": t.Amount, "currency": t.Currency}))
		}
		if _, err := l.tx.ExecContext(ctx, tq.String(), targs...); err != nil {
			return mapErr("sqlite.InsertTransfers", err)
		}
		if _, err := l.tx.ExecContext(ctx, eq.String(), eargs...); err != nil {
			return mapErr("sqlite.InsertEntries", err)
		}
	}
	return appendAudit(ctx, l.tx, events)
}

func (l *ledgerTx) SetBalance(ctx context.Context, number string, balance int64) error {
	_, err := l.tx.StmtContext(ctx, l.s.setBal).ExecContext(ctx, balance, number)
	return mapErr("sqlite.SetBalance", err)
}
