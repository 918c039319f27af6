package sqlite

import (
	"context"

	"github.com/coffer-money/coffer"
)

// InvoiceByOrder returns a merchant's invoice with an order number (order
// numbers are unique per merchant), for hosted checkout. Errors: ENOTFOUND.
func (db *DB) InvoiceByOrder(ctx context.Context, merchant, order string) (*coffer.Invoice, error) {
	inv, err := scanInvoice(db.r.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE merchant = ? AND order_number = ?`, merchant, order))
	if err != nil {
		return nil, mapErr("sqlite.InvoiceByOrder", err)
	}
	return inv, nil
}
