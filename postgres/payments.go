package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

const invoiceCols = `id, merchant, payer, purse, currency, amount, description, order_number, state, transfer_seq, created_at, expires_at, updated_at`

func scanInvoice(r rowScanner) (*coffer.Invoice, error) {
	var inv coffer.Invoice
	var c, e, u int64
	if err := r.Scan(&inv.ID, &inv.Merchant, &inv.Payer, &inv.Purse, &inv.Currency, &inv.Amount, &inv.Description,
		&inv.OrderNumber, &inv.State, &inv.TransferSeq, &c, &e, &u); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.UpdatedAt = fromMs(c), fromMs(e), fromMs(u)
	return &inv, nil
}

const trustCols = `id, owner, merchant, purse, per_transfer, per_day, per_month, created_at, revoked_at`

func scanTrust(r rowScanner) (*coffer.Trust, error) {
	var t coffer.Trust
	var c int64
	var rev *int64
	if err := r.Scan(&t.ID, &t.Owner, &t.Merchant, &t.Purse, &t.PerTransfer, &t.PerDay, &t.PerMonth, &c, &rev); err != nil {
		return nil, err
	}
	t.CreatedAt, t.RevokedAt = fromMs(c), fromNullMs(rev)
	return &t, nil
}

const feeRulesQuery = `SELECT currency, ppm, min, max, purse, updated_at FROM fee_rules ORDER BY currency`

func scanFeeRule(r rowScanner) (*coffer.FeeRule, error) {
	var f coffer.FeeRule
	var u int64
	if err := r.Scan(&f.Currency, &f.PPM, &f.Min, &f.Max, &f.Purse, &u); err != nil {
		return nil, err
	}
	f.UpdatedAt = fromMs(u)
	return &f, nil
}

// ledgerChange runs fn in a transaction that first locks the ledger head
// (so no batch decides on the old value while it changes) and then the
// audit head, in the store's lock order, and appends ev only when fn
// reports that it changed something.
func (db *DB) ledgerChange(ctx context.Context, op string, fn func(tx pgx.Tx) (bool, error), ev *coffer.AuditEvent) (bool, error) {
	var changed bool
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		changed = false
		if db.iso == pgx.Serializable {
			if _, err := tx.Exec(ctx, lockHeadTables); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		seq, prev, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		if changed, err = fn(tx); err != nil || !changed || ev == nil {
			return err
		}
		args, seq, prev := chain([]*coffer.AuditEvent{ev}, seq, prev)
		if _, err := tx.Exec(ctx, insertAudit, args...); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, setAuditHead, seq, prev)
		return err
	})
	return changed, err
}

// CreateInvoice implements coffer.PaymentStore.
func (db *DB) CreateInvoice(ctx context.Context, inv *coffer.Invoice) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO invoices (`+invoiceCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		inv.ID, inv.Merchant, inv.Payer, inv.Purse, inv.Currency, inv.Amount, inv.Description, inv.OrderNumber, inv.State,
		inv.TransferSeq, ms(inv.CreatedAt), ms(inv.ExpiresAt), ms(inv.UpdatedAt))
	if isUnique(err) && pgConstraint(err) == "invoices_order_number" {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "The order number is already used.", Op: "postgres.CreateInvoice", Err: err}
	}
	return mapErr("postgres.CreateInvoice", err)
}

// Invoice implements coffer.PaymentStore.
func (db *DB) Invoice(ctx context.Context, id string) (*coffer.Invoice, error) {
	inv, err := scanInvoice(db.pool.QueryRow(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.Invoice", err)
	}
	return inv, nil
}

// Invoices implements coffer.PaymentStore. The query names only the
// columns filtered on, so that even a generic plan of the prepared
// statement uses the (payer or merchant, created_at) index.
func (db *DB) Invoices(ctx context.Context, f coffer.InvoiceFilter) ([]*coffer.Invoice, error) {
	before := int64(1<<63 - 1)
	if !f.Before.IsZero() {
		before = ms(f.Before)
	}
	var limit any
	if f.Limit > 0 {
		limit = f.Limit
	}
	args := []any{before, limit}
	where := `created_at < $1`
	for _, c := range []struct{ col, v string }{{"merchant", f.Merchant}, {"payer", f.Payer}, {"state", f.State}} {
		if c.v != "" {
			args = append(args, c.v)
			where += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	return collect(rows, err, "postgres.Invoices", scanInvoice)
}

// EndInvoice implements coffer.PaymentStore.
func (db *DB) EndInvoice(ctx context.Context, id, state string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	return db.ledgerChange(ctx, "postgres.EndInvoice", func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `UPDATE invoices SET state = $2, updated_at = $3 WHERE id = $1 AND state = 'pending'`, id, state, ms(at))
		return tag.RowsAffected() > 0, err
	}, ev)
}

// CreateTrust implements coffer.PaymentStore.
func (db *DB) CreateTrust(ctx context.Context, t *coffer.Trust, ev *coffer.AuditEvent) error {
	return db.inTx(ctx, "postgres.CreateTrust", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO trusts (`+trustCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.Owner, t.Merchant, t.Purse, t.PerTransfer, t.PerDay, t.PerMonth, ms(t.CreatedAt), nullMs(t.RevokedAt))
		return err
	}, ev)
}

// Trust implements coffer.PaymentStore.
func (db *DB) Trust(ctx context.Context, id string) (*coffer.Trust, error) {
	t, err := scanTrust(db.pool.QueryRow(ctx, `SELECT `+trustCols+` FROM trusts WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.Trust", err)
	}
	return t, nil
}

// Trusts implements coffer.PaymentStore.
func (db *DB) Trusts(ctx context.Context, memberID string) ([]*coffer.Trust, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+trustCols+` FROM trusts WHERE owner = $1 OR merchant = $1 ORDER BY created_at DESC, id DESC`, memberID)
	return collect(rows, err, "postgres.Trusts", scanTrust)
}

// RevokeTrust implements coffer.PaymentStore.
func (db *DB) RevokeTrust(ctx context.Context, id string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	return db.ledgerChange(ctx, "postgres.RevokeTrust", func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `UPDATE trusts SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, ms(at))
		return tag.RowsAffected() > 0, err
	}, ev)
}

// TrustSpend implements coffer.PaymentStore.
func (db *DB) TrustSpend(ctx context.Context, t *coffer.Trust, at time.Time) (int64, int64, error) {
	var d, m int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = $1 AND period = $2), 0),
		COALESCE((SELECT amount FROM purse_spend WHERE purse = $1 AND period = $3), 0)`,
		t.SpendKey(), coffer.DayKey(at), coffer.MonthKey(at)).Scan(&d, &m)
	return d, m, mapErr("postgres.TrustSpend", err)
}

// FeeRules implements coffer.PaymentStore.
func (db *DB) FeeRules(ctx context.Context) ([]*coffer.FeeRule, error) {
	rows, err := db.pool.Query(ctx, feeRulesQuery)
	return collect(rows, err, "postgres.FeeRules", scanFeeRule)
}

// SetFeeRule implements coffer.PaymentStore.
func (db *DB) SetFeeRule(ctx context.Context, f *coffer.FeeRule, ev *coffer.AuditEvent) error {
	_, err := db.ledgerChange(ctx, "postgres.SetFeeRule", func(tx pgx.Tx) (bool, error) {
		_, err := tx.Exec(ctx, `INSERT INTO fee_rules (currency, ppm, min, max, purse, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (currency) DO UPDATE SET ppm = excluded.ppm, min = excluded.min, max = excluded.max,
				purse = excluded.purse, updated_at = excluded.updated_at`,
			f.Currency, f.PPM, f.Min, f.Max, f.Purse, ms(f.UpdatedAt))
		return true, err
	}, ev)
	if pgCode(err) == sqlCheckViolation {
		return coffer.Errorf(coffer.EINVALID, "The fee rule is out of range.")
	}
	return err
}

// DeleteFeeRule implements coffer.PaymentStore.
func (db *DB) DeleteFeeRule(ctx context.Context, currency string, ev *coffer.AuditEvent) (bool, error) {
	return db.ledgerChange(ctx, "postgres.DeleteFeeRule", func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM fee_rules WHERE currency = $1`, currency)
		return tag.RowsAffected() > 0, err
	}, ev)
}

// TransferBySeq implements coffer.PaymentStore.
func (db *DB) TransferBySeq(ctx context.Context, seq int64) (*coffer.Transfer, error) {
	t, err := scanTransfer(db.pool.QueryRow(ctx, `SELECT `+transferCols+` FROM transfers WHERE seq = $1`, seq))
	if err != nil {
		return nil, mapErr("postgres.TransferBySeq", err)
	}
	return t, nil
}

// HeldTransfers implements coffer.PaymentStore.
func (db *DB) HeldTransfers(ctx context.Context, memberID string) ([]*coffer.Transfer, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+transferCols+` FROM transfers
		WHERE status = 'held' AND (sender = $1 OR payee = $1) ORDER BY seq DESC`, memberID)
	return collect(rows, err, "postgres.HeldTransfers", scanTransfer)
}

// HeldDue implements coffer.PaymentStore.
func (db *DB) HeldDue(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq FROM transfers WHERE status = 'held' AND protect_until <= $1
		ORDER BY protect_until, seq LIMIT $2`, ms(now), limit)
	if err != nil {
		return nil, mapErr("postgres.HeldDue", err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return seqs, mapErr("postgres.HeldDue", err)
}

// Refunds implements coffer.PaymentStore.
func (db *DB) Refunds(ctx context.Context, seq int64) ([]*coffer.Transfer, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+transferCols+` FROM transfers WHERE refund_of = $1 AND refund_of <> 0 ORDER BY seq`, seq)
	return collect(rows, err, "postgres.Refunds", scanTransfer)
}

// BalanceAt implements coffer.PaymentStore.
func (db *DB) BalanceAt(ctx context.Context, purse string, at time.Time) (int64, int64, error) {
	var avail, held int64
	err := db.pool.QueryRow(ctx, `SELECT
		COALESCE((SELECT balance_after FROM entries WHERE purse = $1 AND NOT held AND created_at < $2 ORDER BY seq DESC LIMIT 1), 0),
		COALESCE((SELECT balance_after FROM entries WHERE purse = $1 AND held AND created_at < $2 ORDER BY seq DESC LIMIT 1), 0)`,
		purse, ms(at)).Scan(&avail, &held)
	return avail, held, mapErr("postgres.BalanceAt", err)
}

// ExpiredInvoices implements coffer.PaymentStore.
func (db *DB) ExpiredInvoices(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM invoices WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2`, ms(now), limit)
	if err != nil {
		return nil, mapErr("postgres.ExpiredInvoices", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr("postgres.ExpiredInvoices", err)
		}
		out = append(out, id)
	}
	return out, mapErr("postgres.ExpiredInvoices", rows.Err())
}
