package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
)

const invoiceCols = `id, merchant, payer, purse, currency, amount, description, order_number, state, transfer_seq, created_at, expires_at, updated_at`

func scanInvoice(row interface{ Scan(...any) error }) (*coffer.Invoice, error) {
	var i coffer.Invoice
	var c, e, u int64
	if err := row.Scan(&i.ID, &i.Merchant, &i.Payer, &i.Purse, &i.Currency, &i.Amount, &i.Description, &i.OrderNumber,
		&i.State, &i.TransferSeq, &c, &e, &u); err != nil {
		return nil, err
	}
	i.CreatedAt, i.ExpiresAt, i.UpdatedAt = fromMs(c), fromMs(e), fromMs(u)
	return &i, nil
}

const trustCols = `id, owner, merchant, purse, per_transfer, per_day, per_month, created_at, revoked_at`

func scanTrust(row interface{ Scan(...any) error }) (*coffer.Trust, error) {
	var t coffer.Trust
	var c int64
	var r sql.NullInt64
	if err := row.Scan(&t.ID, &t.Owner, &t.Merchant, &t.Purse, &t.PerTransfer, &t.PerDay, &t.PerMonth, &c, &r); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMs(c)
	if r.Valid {
		t.RevokedAt = fromMs(r.Int64)
	}
	return &t, nil
}

const feeRuleCols = `currency, ppm, min, max, purse, updated_at`

func scanFeeRules(rows *sql.Rows, op string) ([]*coffer.FeeRule, error) {
	defer rows.Close()
	var out []*coffer.FeeRule
	for rows.Next() {
		var f coffer.FeeRule
		var u int64
		if err := rows.Scan(&f.Currency, &f.PPM, &f.Min, &f.Max, &f.Purse, &u); err != nil {
			return nil, mapErr(op, err)
		}
		f.UpdatedAt = fromMs(u)
		out = append(out, &f)
	}
	return out, mapErr(op, rows.Err())
}

func audit(ctx context.Context, tx *sql.Tx, ev *coffer.AuditEvent) error {
	if ev == nil {
		return nil
	}
	return appendAudit(ctx, tx, []*coffer.AuditEvent{ev})
}

// CreateInvoice implements coffer.PaymentStore.
func (db *DB) CreateInvoice(ctx context.Context, inv *coffer.Invoice) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO invoices (`+invoiceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.Merchant, inv.Payer, inv.Purse, inv.Currency, inv.Amount, inv.Description, inv.OrderNumber,
		inv.State, inv.TransferSeq, ms(inv.CreatedAt), ms(inv.ExpiresAt), ms(inv.UpdatedAt))
	return mapErr("sqlite.CreateInvoice", err)
}

// Invoice implements coffer.PaymentStore.
func (db *DB) Invoice(ctx context.Context, id string) (*coffer.Invoice, error) {
	inv, err := scanInvoice(db.r.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.Invoice", err)
	}
	return inv, nil
}

// Invoices implements coffer.PaymentStore.
func (db *DB) Invoices(ctx context.Context, f coffer.InvoiceFilter) ([]*coffer.Invoice, error) {
	const op = "sqlite.Invoices"
	q := `SELECT ` + invoiceCols + ` FROM invoices WHERE 1`
	var args []any
	if f.Merchant == "" && f.Payer == "" {
		return nil, &coffer.Error{Code: coffer.EINVALID, Message: "A merchant or a payer is required.", Op: op}
	}
	if f.Merchant != "" {
		q += ` AND merchant = ?`
		args = append(args, f.Merchant)
	}
	if f.Payer != "" {
		q += ` AND payer = ?`
		args = append(args, f.Payer)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if !f.Before.IsZero() {
		q += ` AND created_at < ?`
		args = append(args, ms(f.Before))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // no limit
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []*coffer.Invoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, inv)
	}
	return out, mapErr(op, rows.Err())
}

// EndInvoice implements coffer.PaymentStore. The write transaction holds
// the write lock, so no ledger batch pays the invoice meanwhile.
func (db *DB) EndInvoice(ctx context.Context, id, state string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.EndInvoice"
	var changed bool
	err := db.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE invoices SET state = ?, updated_at = ? WHERE id = ? AND state = 'pending'`, state, ms(at), id)
		if err != nil {
			return mapErr(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		changed = true
		return audit(ctx, tx, ev)
	})
	return changed && err == nil, err
}

// CreateTrust implements coffer.PaymentStore.
func (db *DB) CreateTrust(ctx context.Context, t *coffer.Trust, ev *coffer.AuditEvent) error {
	const op = "sqlite.CreateTrust"
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trusts (`+trustCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Owner, t.Merchant, t.Purse, t.PerTransfer, t.PerDay, t.PerMonth, ms(t.CreatedAt), nullMs(t.RevokedAt)); err != nil {
			return mapErr(op, err)
		}
		return audit(ctx, tx, ev)
	})
}

// Trust implements coffer.PaymentStore.
func (db *DB) Trust(ctx context.Context, id string) (*coffer.Trust, error) {
	t, err := scanTrust(db.r.QueryRowContext(ctx, `SELECT `+trustCols+` FROM trusts WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.Trust", err)
	}
	return t, nil
}

// Trusts implements coffer.PaymentStore.
func (db *DB) Trusts(ctx context.Context, memberID string) ([]*coffer.Trust, error) {
	const op = "sqlite.Trusts"
	rows, err := db.r.QueryContext(ctx, `SELECT `+trustCols+` FROM trusts WHERE owner = ?1
		UNION SELECT `+trustCols+` FROM trusts WHERE merchant = ?1
		ORDER BY created_at DESC, id DESC`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []*coffer.Trust
	for rows.Next() {
		t, err := scanTrust(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, t)
	}
	return out, mapErr(op, rows.Err())
}

// RevokeTrust implements coffer.PaymentStore.
func (db *DB) RevokeTrust(ctx context.Context, id string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.RevokeTrust"
	var changed bool
	err := db.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE trusts SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms(at), id)
		if err != nil {
			return mapErr(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		changed = true
		return audit(ctx, tx, ev)
	})
	return changed && err == nil, err
}

// TrustSpend implements coffer.PaymentStore: the counters the ledger keeps
// under the trust's spend key.
func (db *DB) TrustSpend(ctx context.Context, t *coffer.Trust, at time.Time) (int64, int64, error) {
	var d, m int64
	key := t.SpendKey()
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = ? AND period = ?), 0),
		COALESCE((SELECT amount FROM purse_spend WHERE purse = ? AND period = ?), 0)`,
		key, coffer.DayKey(at), key, coffer.MonthKey(at)).Scan(&d, &m)
	return d, m, mapErr("sqlite.TrustSpend", err)
}

// FeeRules implements coffer.PaymentStore.
func (db *DB) FeeRules(ctx context.Context) ([]*coffer.FeeRule, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+feeRuleCols+` FROM fee_rules ORDER BY currency`)
	if err != nil {
		return nil, mapErr("sqlite.FeeRules", err)
	}
	return scanFeeRules(rows, "sqlite.FeeRules")
}

// feeTx runs fn in a write transaction, then resets the ledger's fee rule
// cache before any batch can run (it takes the writer connection first, in
// the order ApplyBatch does).
func (db *DB) feeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	db.pcMu.Lock()
	defer db.pcMu.Unlock()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		db.fc = nil
		return mapErr(op, err)
	}
	db.fc = nil
	return nil
}

// SetFeeRule implements coffer.PaymentStore.
func (db *DB) SetFeeRule(ctx context.Context, f *coffer.FeeRule, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetFeeRule"
	return db.feeTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fee_rules (`+feeRuleCols+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (currency) DO UPDATE SET ppm = excluded.ppm, min = excluded.min, max = excluded.max,
			purse = excluded.purse, updated_at = excluded.updated_at`,
			f.Currency, f.PPM, f.Min, f.Max, f.Purse, ms(f.UpdatedAt)); err != nil {
			return mapErr(op, err)
		}
		return audit(ctx, tx, ev)
	})
}

// DeleteFeeRule implements coffer.PaymentStore; ev is recorded only when
// there was a rule.
func (db *DB) DeleteFeeRule(ctx context.Context, currency string, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.DeleteFeeRule"
	var deleted bool
	err := db.feeTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM fee_rules WHERE currency = ?`, currency)
		if err != nil {
			return mapErr(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		deleted = true
		return audit(ctx, tx, ev)
	})
	return deleted && err == nil, err
}

// TransferBySeq implements coffer.PaymentStore.
func (db *DB) TransferBySeq(ctx context.Context, seq int64) (*coffer.Transfer, error) {
	t, err := scanTransfer(db.r.QueryRowContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE seq = ?`, seq))
	if err != nil {
		return nil, mapErr("sqlite.TransferBySeq", err)
	}
	return t, nil
}

// HeldTransfers implements coffer.PaymentStore through the partial indexes
// of held transfers by sender and by payee.
func (db *DB) HeldTransfers(ctx context.Context, memberID string) ([]*coffer.Transfer, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE status = 'held' AND sender = ?1
		UNION SELECT `+transferCols+` FROM transfers WHERE status = 'held' AND payee = ?1
		ORDER BY seq DESC`, memberID)
	if err != nil {
		return nil, mapErr("sqlite.HeldTransfers", err)
	}
	return scanTransfers(rows, "sqlite.HeldTransfers")
}

// HeldDue implements coffer.PaymentStore.
func (db *DB) HeldDue(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	const op = "sqlite.HeldDue"
	rows, err := db.r.QueryContext(ctx, `SELECT seq FROM transfers WHERE status = 'held' AND protect_until <= ?
		ORDER BY protect_until, seq LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, seq)
	}
	return out, mapErr(op, rows.Err())
}

// Refunds implements coffer.PaymentStore.
func (db *DB) Refunds(ctx context.Context, seq int64) ([]*coffer.Transfer, error) {
	// refund_of <> 0 lets the partial index answer.
	rows, err := db.r.QueryContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE refund_of = ? AND refund_of <> 0 ORDER BY seq`, seq)
	if err != nil {
		return nil, mapErr("sqlite.Refunds", err)
	}
	return scanTransfers(rows, "sqlite.Refunds")
}

// BalanceAt implements coffer.PaymentStore.
func (db *DB) BalanceAt(ctx context.Context, purse string, at time.Time) (int64, int64, error) {
	var avail, held int64
	err := db.r.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT balance_after FROM entries WHERE purse = ?1 AND held = 0 AND created_at < ?2 ORDER BY seq DESC LIMIT 1), 0),
		COALESCE((SELECT balance_after FROM entries WHERE purse = ?1 AND held = 1 AND created_at < ?2 ORDER BY seq DESC LIMIT 1), 0)`,
		purse, ms(at)).Scan(&avail, &held)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return avail, held, mapErr("sqlite.BalanceAt", err)
}

// ExpiredInvoices implements coffer.PaymentStore.
func (db *DB) ExpiredInvoices(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM invoices WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, mapErr("sqlite.ExpiredInvoices", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr("sqlite.ExpiredInvoices", err)
		}
		out = append(out, id)
	}
	return out, mapErr("sqlite.ExpiredInvoices", rows.Err())
}
func scanTransfers(rows *sql.Rows, op string) ([]*coffer.Transfer, error) {
	defer rows.Close()
	var out []*coffer.Transfer
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, t)
	}
	return out, mapErr(op, rows.Err())
}
