package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
)

// Webhook endpoints, their deliveries, hosted-checkout orders, secrets and
// nonces: coffer.WebhookStore. The outbox itself is filled by each
// database's ledger batch, in the batch's transaction.

var _ coffer.WebhookStore = (*Store)(nil)

const webhookCols = `id, member_id, url, events, signing, secret, created_at`

func scanWebhook(row Scanner) (*coffer.Webhook, error) {
	var w coffer.Webhook
	var events string
	var c int64
	if err := row.Scan(&w.ID, &w.MemberID, &w.URL, &events, &w.Signing, &w.SealedSecret, &c); err != nil {
		return nil, err
	}
	w.Events, w.CreatedAt = coffer.ParseWebhookEventsColumn(events), fromMs(c)
	return &w, nil
}

// CreateWebhook implements coffer.WebhookStore. A lock on the member's
// endpoints is taken before the count, so concurrent requests, from any
// process, cannot together exceed max. Errors: coffer.ErrTooManyWebhooks.
func (s *Store) CreateWebhook(ctx context.Context, w *coffer.Webhook, max int, ev *coffer.AuditEvent) error {
	return s.write(ctx, "CreateWebhook", lockNone, func(tx *Tx) error {
		if err := s.d.LockKey(ctx, tx.tx, "webhooks "+w.MemberID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE member_id = ?`, w.MemberID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return coffer.ErrTooManyWebhooks
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.MemberID, w.URL, coffer.WebhookEventsColumn(w.Events), w.Signing, w.SealedSecret, ms(w.CreatedAt))
		return err
	}, ev)
}

// Webhooks implements coffer.WebhookStore.
func (s *Store) Webhooks(ctx context.Context, memberID string) ([]*coffer.Webhook, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE member_id = ? ORDER BY created_at, id`, memberID)
	return collect(s, "Webhooks", rows, err, scanWebhook)
}

// Webhook implements coffer.WebhookStore.
func (s *Store) Webhook(ctx context.Context, id string) (*coffer.Webhook, error) {
	return one(s, "Webhook", s.rd.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE id = ?`, id), scanWebhook)
}

// DeleteWebhook implements coffer.WebhookStore. Errors: coffer.ErrNoWebhook.
func (s *Store) DeleteWebhook(ctx context.Context, memberID, id string) error {
	return s.write(ctx, "DeleteWebhook", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ? AND member_id = ?`, id, memberID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return coffer.ErrNoWebhook
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_attempts WHERE outbox_id IN (SELECT id FROM webhook_outbox WHERE endpoint_id = ?)`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM webhook_outbox WHERE endpoint_id = ?`, id)
		return err
	})
}

const deliveryCols = `id, endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, state, next_at`

func scanDelivery(row Scanner) (*coffer.Delivery, error) {
	var d coffer.Delivery
	var c, n int64
	if err := row.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.Type, &d.MemberID, &d.TransferSeq, &d.InvoiceID, &d.Status, &c, &d.State, &n); err != nil {
		return nil, err
	}
	d.CreatedAt, d.NextAt = fromMs(c), fromMs(n)
	return &d, nil
}

// Deliveries implements coffer.WebhookStore. The page's attempts come in
// one more query.
func (s *Store) Deliveries(ctx context.Context, webhookID string, before int64, limit int) ([]*coffer.Delivery, error) {
	const op = "Deliveries"
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.rd.Query(ctx, `SELECT `+deliveryCols+` FROM webhook_outbox WHERE endpoint_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, webhookID, before, limit)
	out, err := collect(s, op, rows, err, scanDelivery)
	if err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]any, len(out))
	byID := make(map[int64]*coffer.Delivery, len(out))
	for i, d := range out {
		ids[i], byID[d.ID] = d.ID, d
	}
	// Attempts have no sequence of their own: they are recorded one after
	// another, so time orders them, and at one instant the answered one
	// (error "") ended the retries and comes last.
	arows, err := s.rd.Query(ctx, `SELECT outbox_id, at, status_code, error, duration_ms FROM webhook_attempts
		WHERE outbox_id IN (`+placeholders(len(ids))+`)
		ORDER BY outbox_id, at, CASE WHEN error = '' THEN 1 ELSE 0 END, status_code, duration_ms`, ids...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer arows.Close()
	for arows.Next() {
		var a coffer.DeliveryAttempt
		var id, at, dur int64
		if err := arows.Scan(&id, &at, &a.StatusCode, &a.Error, &dur); err != nil {
			return nil, s.mapErr(op, err)
		}
		a.At, a.Duration = fromMs(at), time.Duration(dur)*time.Millisecond
		byID[id].Attempts = append(byID[id].Attempts, &a)
	}
	if err := arows.Err(); err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// ClaimDeliveries implements coffer.WebhookStore with one UPDATE …
// RETURNING. Where the database locks rows (ForUpdate is not empty), the
// rows are picked FOR UPDATE SKIP LOCKED, so several processes claim at
// once, each taking other rows; SQLite's single writer makes the statement
// atomic without it.
func (s *Store) ClaimDeliveries(ctx context.Context, now, lease time.Time, limit int) ([]*coffer.Delivery, error) {
	skipLocked := ""
	if fu := s.d.ForUpdate(); fu != "" {
		skipLocked = fu + " SKIP LOCKED"
	}
	// A write that commits by itself, bounded like the others.
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.wr.Query(ctx, `UPDATE webhook_outbox SET next_at = ? WHERE id IN (
		SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?`+skipLocked+`)
		RETURNING `+deliveryCols, ms(lease), ms(now), limit)
	return collect(s, "ClaimDeliveries", rows, err, scanDelivery)
}

// RecordAttempt implements coffer.WebhookStore. Errors: coffer.ErrNoDelivery.
func (s *Store) RecordAttempt(ctx context.Context, id int64, a *coffer.DeliveryAttempt, state string, next time.Time) error {
	return s.write(ctx, "RecordAttempt", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE webhook_outbox SET state = ?, next_at = ? WHERE id = ?`, state, ms(next), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return coffer.ErrNoDelivery
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_attempts (outbox_id, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?)`,
			id, ms(a.At), a.StatusCode, a.Error, a.Duration.Milliseconds())
		return err
	})
}

// PendingDeliveries implements coffer.WebhookStore. It reads the
// outbox's partial index of pending deliveries, so a scrape stays cheap.
func (s *Store) PendingDeliveries(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	err := s.rd.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM webhook_outbox WHERE state = 'pending'`).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, s.mapErr("PendingDeliveries", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMs(oldest.Int64), nil
}

// CreateCheckout implements coffer.WebhookStore.
func (s *Store) CreateCheckout(ctx context.Context, c *coffer.Checkout) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO checkouts (invoice_id, merchant, order_number, result_url, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.InvoiceID, c.Merchant, c.OrderNumber, c.ResultURL, ms(c.CreatedAt))
	return s.mapErr("CreateCheckout", err)
}

// Checkout implements coffer.WebhookStore.
func (s *Store) Checkout(ctx context.Context, invoiceID string) (*coffer.Checkout, error) {
	var c coffer.Checkout
	var at int64
	err := s.rd.QueryRow(ctx, `SELECT invoice_id, merchant, order_number, result_url, created_at FROM checkouts WHERE invoice_id = ?`, invoiceID).
		Scan(&c.InvoiceID, &c.Merchant, &c.OrderNumber, &c.ResultURL, &at)
	if err != nil {
		return nil, s.mapErr("Checkout", err)
	}
	c.CreatedAt = fromMs(at)
	return &c, nil
}

// SetCheckoutSecret implements coffer.WebhookStore.
func (s *Store) SetCheckoutSecret(ctx context.Context, memberID string, sealed []byte, at time.Time) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO checkout_secrets (member_id, secret, created_at) VALUES (?, ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`, memberID, sealed, ms(at))
	return s.mapErr("SetCheckoutSecret", err)
}

// CheckoutSecret implements coffer.WebhookStore. Errors:
// coffer.ErrNoCheckoutSecret.
func (s *Store) CheckoutSecret(ctx context.Context, memberID string) ([]byte, error) {
	var b []byte
	err := s.rd.QueryRow(ctx, `SELECT secret FROM checkout_secrets WHERE member_id = ?`, memberID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.ErrNoCheckoutSecret
	}
	if err != nil {
		return nil, s.mapErr("CheckoutSecret", err)
	}
	return b, nil
}

// UseCheckoutNonce implements coffer.WebhookStore. The expired nonces go
// first; the upsert also counts a nonce whose earlier use has expired as
// new, should one outlive the delete.
func (s *Store) UseCheckoutNonce(ctx context.Context, merchant, nonce string, now, expires time.Time) (bool, error) {
	fresh := false
	err := s.write(ctx, "UseCheckoutNonce", lockNone, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM checkout_nonces WHERE expires_at <= ?`, ms(now)); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `INSERT INTO checkout_nonces (merchant, nonce, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (merchant, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE checkout_nonces.expires_at <= ?`,
			merchant, nonce, ms(expires), ms(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh && err == nil, err
}
