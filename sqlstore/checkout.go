package sqlstore

import (
	"context"

	"github.com/coffer-money/coffer"
)

// InvoiceByOrder returns a merchant's invoice with an order number (order
// numbers are unique per merchant), for hosted checkout. Errors: ENOTFOUND.
func (s *Store) InvoiceByOrder(ctx context.Context, merchant, order string) (*coffer.Invoice, error) {
	return one(s, "InvoiceByOrder", s.rd.QueryRow(ctx, `SELECT `+InvoiceCols+` FROM invoices WHERE merchant = ? AND order_number = ?`, merchant, order), ScanInvoice)
}
