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
	find, purse, insT, insE, setBal *sql.Stmt
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
	s.insT = prep(`INSERT INTO transfers (sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	s.insE = prep(`INSERT INTO entries (purse, transfer_seq, amount, balance_after, created_at) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)`)
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

func (l *ledgerTx) Insert(ctx context.Context, t *coffer.Transfer, fromAfter, toAfter int64) error {
	at := ms(t.CreatedAt)
	res, err := l.tx.StmtContext(ctx, l.s.insT).ExecContext(ctx, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, at)
	if err != nil {
		return mapErr("sqlite.InsertTransfer", err)
	}
	if t.Seq, err = res.LastInsertId(); err != nil {
		return mapErr("sqlite.InsertTransfer", err)
	}
	_, err = l.tx.StmtContext(ctx, l.s.insE).ExecContext(ctx,
		t.From, t.Seq, -t.Amount, fromAfter, at,
		t.To, t.Seq, t.Amount, toAfter, at)
	return mapErr("sqlite.InsertEntries", err)
}

func (l *ledgerTx) SetBalance(ctx context.Context, number string, balance int64) error {
	_, err := l.tx.StmtContext(ctx, l.s.setBal).ExecContext(ctx, balance, number)
	return mapErr("sqlite.SetBalance", err)
}
