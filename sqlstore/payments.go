package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// InvoiceCols are the columns ScanInvoice reads.
const InvoiceCols = `id, merchant, payer, purse, currency, amount, description, order_number, state, transfer_seq, created_at, expires_at, updated_at`

// ScanInvoice reads a row of InvoiceCols.
func ScanInvoice(row Scanner) (*coffer.Invoice, error) {
	var i coffer.Invoice
	var c, e, u int64
	if err := row.Scan(&i.ID, &i.Merchant, &i.Payer, &i.Purse, &i.Currency, &i.Amount, &i.Description, &i.OrderNumber,
		&i.State, &i.TransferSeq, &c, &e, &u); err != nil {
		return nil, err
	}
	i.CreatedAt, i.ExpiresAt, i.UpdatedAt = fromMs(c), fromMs(e), fromMs(u)
	return &i, nil
}

// TrustCols are the columns ScanTrust reads.
const TrustCols = `id, owner, merchant, purse, per_transfer, per_day, per_month, created_at, revoked_at`

// ScanTrust reads a row of TrustCols.
func ScanTrust(row Scanner) (*coffer.Trust, error) {
	var t coffer.Trust
	var c int64
	var r sql.NullInt64
	if err := row.Scan(&t.ID, &t.Owner, &t.Merchant, &t.Purse, &t.PerTransfer, &t.PerDay, &t.PerMonth, &c, &r); err != nil {
		return nil, err
	}
	t.CreatedAt, t.RevokedAt = fromMs(c), fromNullMs(r)
	return &t, nil
}

// FeeRuleCols are the columns ScanFeeRule reads.
const FeeRuleCols = `currency, ppm, min, max, purse, updated_at`

// ScanFeeRule reads a row of FeeRuleCols.
func ScanFeeRule(row Scanner) (*coffer.FeeRule, error) {
	var f coffer.FeeRule
	var u int64
	if err := row.Scan(&f.Currency, &f.PPM, &f.Min, &f.Max, &f.Purse, &u); err != nil {
		return nil, err
	}
	f.UpdatedAt = fromMs(u)
	return &f, nil
}

// CreateInvoice implements coffer.PaymentStore. A used order number is the
// ECONFLICT of a UNIQUE violation, as is a used ID: the service tells them
// apart.
func (s *Store) CreateInvoice(ctx context.Context, inv *coffer.Invoice) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO invoices (`+InvoiceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.Merchant, inv.Payer, inv.Purse, inv.Currency, inv.Amount, inv.Description, inv.OrderNumber,
		inv.State, inv.TransferSeq, ms(inv.CreatedAt), ms(inv.ExpiresAt), ms(inv.UpdatedAt))
	return s.mapErr("CreateInvoice", err)
}

// Invoice implements coffer.PaymentStore.
func (s *Store) Invoice(ctx context.Context, id string) (*coffer.Invoice, error) {
	return one(s, "Invoice", s.rd.QueryRow(ctx, `SELECT `+InvoiceCols+` FROM invoices WHERE id = ?`, id), ScanInvoice)
}

// Invoices implements coffer.PaymentStore. The query names only the
// columns filtered on, so that even a generic plan of a prepared statement
// uses the (payer or merchant, created_at) index. Errors: EINVALID wrapping
// coffer.ErrNoInvoiceParty when the filter names neither a merchant nor a
// payer.
func (s *Store) Invoices(ctx context.Context, f coffer.InvoiceFilter) ([]*coffer.Invoice, error) {
	if f.Merchant == "" && f.Payer == "" {
		return nil, &coffer.Error{Code: coffer.EINVALID, Op: s.d.Name() + ".Invoices", Err: coffer.ErrNoInvoiceParty}
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"merchant", f.Merchant}, {"payer", f.Payer}, {"state", f.State}} {
		if c.v != "" {
			where = append(where, c.col+` = ?`)
			args = append(args, c.v)
		}
	}
	if !f.Before.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, ms(f.Before))
	}
	q := `SELECT ` + InvoiceCols + ` FROM invoices WHERE ` + strings.Join(where, ` AND `) + ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.rd.Query(ctx, q, args...)
	return collect(s, "Invoices", rows, err, ScanInvoice)
}

// ExpiredInvoices implements coffer.PaymentStore.
func (s *Store) ExpiredInvoices(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.rd.Query(ctx, `SELECT id FROM invoices WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, ms(now), limit)
	return collectValues[string](s, "ExpiredInvoices", rows, err)
}

// EndInvoice implements coffer.PaymentStore. It holds off ledger batches,
// so none pays the invoice meanwhile, and records ev only when the invoice
// was pending.
func (s *Store) EndInvoice(ctx context.Context, id, state string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	var changed bool
	err := s.write(ctx, "EndInvoice", lockLedger|lockAudit, func(tx *Tx) error {
		changed = false
		res, err := tx.Exec(ctx, `UPDATE invoices SET state = ?, updated_at = ? WHERE id = ? AND state = 'pending'`, state, ms(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if changed = n > 0; err != nil || !changed {
			return err
		}
		return tx.Audit(ctx, ev)
	})
	return changed && err == nil, err
}

// CreateTrust implements coffer.PaymentStore.
func (s *Store) CreateTrust(ctx context.Context, t *coffer.Trust, ev *coffer.AuditEvent) error {
	return s.write(ctx, "CreateTrust", lockNone, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO trusts (`+TrustCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Owner, t.Merchant, t.Purse, t.PerTransfer, t.PerDay, t.PerMonth, ms(t.CreatedAt), nullMs(t.RevokedAt))
		return err
	}, ev)
}

// Trust implements coffer.PaymentStore.
func (s *Store) Trust(ctx context.Context, id string) (*coffer.Trust, error) {
	return one(s, "Trust", s.rd.QueryRow(ctx, `SELECT `+TrustCols+` FROM trusts WHERE id = ?`, id), ScanTrust)
}

// Trusts implements coffer.PaymentStore. A union rather than an OR, so each
// half uses its own index.
func (s *Store) Trusts(ctx context.Context, memberID string) ([]*coffer.Trust, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+TrustCols+` FROM trusts WHERE owner = ?1
		UNION SELECT `+TrustCols+` FROM trusts WHERE merchant = ?1
		ORDER BY created_at DESC, id DESC`, memberID)
	return collect(s, "Trusts", rows, err, ScanTrust)
}

// RevokeTrust implements coffer.PaymentStore. It holds off ledger batches,
// so none debits through the trust once it returns, and records ev only
// when the trust was active.
func (s *Store) RevokeTrust(ctx context.Context, id string, at time.Time, ev *coffer.AuditEvent) (bool, error) {
	var changed bool
	err := s.write(ctx, "RevokeTrust", lockLedger|lockAudit, func(tx *Tx) error {
		changed = false
		res, err := tx.Exec(ctx, `UPDATE trusts SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if changed = n > 0; err != nil || !changed {
			return err
		}
		return tx.Audit(ctx, ev)
	})
	return changed && err == nil, err
}

// TrustSpend implements coffer.PaymentStore: the counters the ledger keeps
// under the trust's spend key.
func (s *Store) TrustSpend(ctx context.Context, t *coffer.Trust, at time.Time) (int64, int64, error) {
	var d, m int64
	err := s.rd.QueryRow(ctx, `SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = ?1 AND period = ?2), 0),
		COALESCE((SELECT amount FROM purse_spend WHERE purse = ?1 AND period = ?3), 0)`,
		t.SpendKey(), coffer.DayKey(at), coffer.MonthKey(at)).Scan(&d, &m)
	return d, m, s.mapErr("TrustSpend", err)
}

// FeeRules implements coffer.PaymentStore.
func (s *Store) FeeRules(ctx context.Context) ([]*coffer.FeeRule, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+FeeRuleCols+` FROM fee_rules ORDER BY currency`)
	return collect(s, "FeeRules", rows, err, ScanFeeRule)
}

// SetFeeRule implements coffer.PaymentStore. It holds off ledger batches,
// so the next batch charges the new rule. Errors: EINVALID wrapping
// coffer.ErrFeeRuleRange when a value is outside what the table allows.
func (s *Store) SetFeeRule(ctx context.Context, f *coffer.FeeRule, ev *coffer.AuditEvent) error {
	err := s.write(ctx, "SetFeeRule", lockLedger, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO fee_rules (`+FeeRuleCols+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (currency) DO UPDATE SET ppm = excluded.ppm, min = excluded.min, max = excluded.max,
			purse = excluded.purse, updated_at = excluded.updated_at`,
			f.Currency, f.PPM, f.Min, f.Max, f.Purse, ms(f.UpdatedAt))
		return err
	}, ev)
	if s.is(err, FaultCheck) {
		return &coffer.Error{Code: coffer.EINVALID, Op: s.d.Name() + ".SetFeeRule", Err: coffer.ErrFeeRuleRange}
	}
	return err
}

// DeleteFeeRule implements coffer.PaymentStore; ev is recorded only when
// there was a rule.
func (s *Store) DeleteFeeRule(ctx context.Context, currency string, ev *coffer.AuditEvent) (bool, error) {
	var deleted bool
	err := s.write(ctx, "DeleteFeeRule", lockLedger|lockAudit, func(tx *Tx) error {
		deleted = false
		res, err := tx.Exec(ctx, `DELETE FROM fee_rules WHERE currency = ?`, currency)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if deleted = n > 0; err != nil || !deleted {
			return err
		}
		return tx.Audit(ctx, ev)
	})
	return deleted && err == nil, err
}

// TransferBySeq implements coffer.PaymentStore.
func (s *Store) TransferBySeq(ctx context.Context, seq int64) (*coffer.Transfer, error) {
	return one(s, "TransferBySeq", s.rd.QueryRow(ctx, `SELECT `+TransferCols+` FROM transfers WHERE seq = ?`, seq), ScanTransfer)
}

// HeldTransfers implements coffer.PaymentStore through the partial indexes
// of held transfers by sender and by payee.
func (s *Store) HeldTransfers(ctx context.Context, memberID string) ([]*coffer.Transfer, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+TransferCols+` FROM transfers WHERE status = 'held' AND sender = ?1
		UNION SELECT `+TransferCols+` FROM transfers WHERE status = 'held' AND payee = ?1
		ORDER BY seq DESC`, memberID)
	return collect(s, "HeldTransfers", rows, err, ScanTransfer)
}

// HeldDue implements coffer.PaymentStore.
func (s *Store) HeldDue(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	rows, err := s.rd.Query(ctx, `SELECT seq FROM transfers WHERE status = 'held' AND protect_until <= ?
		ORDER BY protect_until, seq LIMIT ?`, ms(now), limit)
	return collectValues[int64](s, "HeldDue", rows, err)
}

// Refunds implements coffer.PaymentStore.
func (s *Store) Refunds(ctx context.Context, seq int64) ([]*coffer.Transfer, error) {
	// refund_of <> 0 lets the partial index answer.
	rows, err := s.rd.Query(ctx, `SELECT `+TransferCols+` FROM transfers WHERE refund_of = ? AND refund_of <> 0 ORDER BY seq`, seq)
	return collect(s, "Refunds", rows, err, ScanTransfer)
}

// BalanceAt implements coffer.PaymentStore.
func (s *Store) BalanceAt(ctx context.Context, purse string, at time.Time) (int64, int64, error) {
	var avail, held int64
	err := s.rd.QueryRow(ctx, `SELECT
		COALESCE((SELECT balance_after FROM entries WHERE purse = ?1 AND NOT held AND created_at < ?2 ORDER BY seq DESC LIMIT 1), 0),
		COALESCE((SELECT balance_after FROM entries WHERE purse = ?1 AND held AND created_at < ?2 ORDER BY seq DESC LIMIT 1), 0)`,
		purse, ms(at)).Scan(&avail, &held)
	return avail, held, s.mapErr("BalanceAt", err)
}
