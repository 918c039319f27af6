package postgres

import (
	"context"

	"github.com/coffer-money/coffer"
)

// InvoiceByOrder returns a merchant's invoice with an order number (order
// numbers are unique per merchant), for hosted checkout. Errors: ENOTFOUND.
func (db *DB) InvoiceByOrder(ctx context.Context, merchant, order string) (*coffer.Invoice, error) {
	inv, err := scanInvoice(db.pool.QueryRow(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE merchant = $1 AND order_number = $2`, merchant, order))
	if err != nil {
		return nil, mapErr("postgres.InvoiceByOrder", err)
	}
	return inv, nil
}
