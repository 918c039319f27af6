package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
)

// outboxInsert keeps a batch's events (a JSON array of
// coffer.OutboxCandidate, one parameter) for every endpoint subscribed to
// them. Without endpoints the join finds nothing at once: the batch pays
// for one short statement.
const outboxInsert = `INSERT INTO webhook_outbox (endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, next_at)
	SELECT e.id, json_extract(j.value, '$.EventID'), json_extract(j.value, '$.Type'), e.member_id,
		json_extract(j.value, '$.TransferSeq'), json_extract(j.value, '$.InvoiceID'), json_extract(j.value, '$.Status'), ?2, ?2
	FROM json_each(?1) j
	JOIN webhook_endpoints e ON e.member_id = json_extract(j.value, '$.MemberID')
		AND instr(e.events, ',' || json_extract(j.value, '$.Type') || ',') > 0
	WHERE json_extract(j.value, '$.Type') <> 'checkout.paid'
		OR EXISTS (SELECT 1 FROM checkouts c WHERE c.invoice_id = json_extract(j.value, '$.InvoiceID'))`

// writeOutbox adds the batch's webhook events to the outbox, in the
// batch's transaction.
func (l *ledgerTx) writeOutbox(ctx context.Context, w *coffer.BatchWrites) error {
	at := coffer.BatchTime(w, time.Time{})
	cs := coffer.OutboxCandidates(w, at)
	if len(cs) == 0 {
		return nil
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("sqlite.WriteOutbox: %w", err)
	}
	_, err = l.tx.StmtContext(ctx, l.s.outbox).ExecContext(ctx, string(b), ms(at))
	return mapErr("sqlite.WriteOutbox", err)
}

const webhookCols = `id, member_id, url, events, signing, secret, created_at`

func scanWebhook(row interface{ Scan(...any) error }) (*coffer.Webhook, error) {
	var w coffer.Webhook
	var events string
	var c int64
	if err := row.Scan(&w.ID, &w.MemberID, &w.URL, &events, &w.Signing, &w.SealedSecret, &c); err != nil {
		return nil, err
	}
	w.Events, w.CreatedAt = coffer.ParseWebhookEventsColumn(events), fromMs(c)
	return &w, nil
}

// CreateWebhook implements coffer.WebhookStore. The writer's transactions
// begin IMMEDIATE, so the count and the insert see no other writer.
func (db *DB) CreateWebhook(ctx context.Context, w *coffer.Webhook, max int, ev *coffer.AuditEvent) error {
	const op = "sqlite.CreateWebhook"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE member_id = ?`, w.MemberID).Scan(&n); err != nil {
		return mapErr(op, err)
	}
	if n >= max {
		return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "Too many webhooks.", Op: op}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.MemberID, w.URL, coffer.WebhookEventsColumn(w.Events), w.Signing, w.SealedSecret, ms(w.CreatedAt)); err != nil {
		return mapErr(op, err)
	}
	if err := appendAudit(ctx, tx, events(ev)); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

// Webhooks implements coffer.WebhookStore.
func (db *DB) Webhooks(ctx context.Context, memberID string) ([]*coffer.Webhook, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE member_id = ? ORDER BY created_at, id`, memberID)
	if err != nil {
		return nil, mapErr("sqlite.Webhooks", err)
	}
	defer rows.Close()
	var out []*coffer.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, mapErr("sqlite.Webhooks", err)
		}
		out = append(out, w)
	}
	return out, mapErr("sqlite.Webhooks", rows.Err())
}

// Webhook implements coffer.WebhookStore.
func (db *DB) Webhook(ctx context.Context, id string) (*coffer.Webhook, error) {
	w, err := scanWebhook(db.r.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.Webhook", err)
	}
	return w, nil
}

// DeleteWebhook implements coffer.WebhookStore.
func (db *DB) DeleteWebhook(ctx context.Context, memberID, id string) error {
	const op = "sqlite.DeleteWebhook"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ? AND member_id = ?`, id, memberID)
	if err != nil {
		return mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return coffer.Errorf(coffer.ENOTFOUND, "There is no such webhook.")
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE outbox_id IN (SELECT id FROM webhook_outbox WHERE endpoint_id = ?)`, id); err != nil {
		return mapErr(op, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE endpoint_id = ?`, id); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}

const deliveryCols = `id, endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, state, next_at`

func scanDelivery(row interface{ Scan(...any) error }) (*coffer.Delivery, error) {
	var d coffer.Delivery
	var c, n int64
	if err := row.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.Type, &d.MemberID, &d.TransferSeq, &d.InvoiceID, &d.Status, &c, &d.State, &n); err != nil {
		return nil, err
	}
	d.CreatedAt, d.NextAt = fromMs(c), fromMs(n)
	return &d, nil
}

func scanDeliveries(rows *sql.Rows, op string) ([]*coffer.Delivery, error) {
	defer rows.Close()
	var out []*coffer.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, d)
	}
	return out, mapErr(op, rows.Err())
}

// Deliveries implements coffer.WebhookStore.
func (db *DB) Deliveries(ctx context.Context, webhookID string, before int64, limit int) ([]*coffer.Delivery, error) {
	const op = "sqlite.Deliveries"
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+deliveryCols+` FROM webhook_outbox WHERE endpoint_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, webhookID, before, limit)
	if err != nil {
		return nil, mapErr(op, err)
	}
	out, err := scanDeliveries(rows, op)
	if err != nil {
		return nil, err
	}
	for _, d := range out {
		rows, err := db.r.QueryContext(ctx, `SELECT at, status_code, error, duration_ms FROM webhook_attempts WHERE outbox_id = ? ORDER BY at, rowid`, d.ID)
		if err != nil {
			return nil, mapErr(op, err)
		}
		for rows.Next() {
			var a coffer.DeliveryAttempt
			var at, dur int64
			if err := rows.Scan(&at, &a.StatusCode, &a.Error, &dur); err != nil {
				rows.Close()
				return nil, mapErr(op, err)
			}
			a.At, a.Duration = fromMs(at), time.Duration(dur)*time.Millisecond
			d.Attempts = append(d.Attempts, &a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, mapErr(op, err)
		}
	}
	return out, nil
}

// ClaimDeliveries implements coffer.WebhookStore. SQLite has one writer, so
// the UPDATE … RETURNING claims atomically.
func (db *DB) ClaimDeliveries(ctx context.Context, now, lease time.Time, limit int) ([]*coffer.Delivery, error) {
	rows, err := db.w.QueryContext(ctx, `UPDATE webhook_outbox SET next_at = ? WHERE id IN (
		SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?)
		RETURNING `+deliveryCols, ms(lease), ms(now), limit)
	if err != nil {
		return nil, mapErr("sqlite.ClaimDeliveries", err)
	}
	return scanDeliveries(rows, "sqlite.ClaimDeliveries")
}

// RecordAttempt implements coffer.WebhookStore.
func (db *DB) RecordAttempt(ctx context.Context, id int64, a *coffer.DeliveryAttempt, state string, next time.Time) error {
	const op = "sqlite.RecordAttempt"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE webhook_outbox SET state = ?, next_at = ? WHERE id = ?`, state, ms(next), id)
	if err != nil {
		return mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return coffer.Errorf(coffer.ENOTFOUND, "There is no such delivery.")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (outbox_id, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?)`,
		id, ms(a.At), a.StatusCode, a.Error, a.Duration.Milliseconds()); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}

// CreateCheckout implements coffer.WebhookStore.
func (db *DB) CreateCheckout(ctx context.Context, c *coffer.Checkout) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO checkouts (invoice_id, merchant, order_number, result_url, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.InvoiceID, c.Merchant, c.OrderNumber, c.ResultURL, ms(c.CreatedAt))
	return mapErr("sqlite.CreateCheckout", err)
}

// Checkout implements coffer.WebhookStore.
func (db *DB) Checkout(ctx context.Context, invoiceID string) (*coffer.Checkout, error) {
	var c coffer.Checkout
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT invoice_id, merchant, order_number, result_url, created_at FROM checkouts WHERE invoice_id = ?`, invoiceID).
		Scan(&c.InvoiceID, &c.Merchant, &c.OrderNumber, &c.ResultURL, &at)
	if err != nil {
		return nil, mapErr("sqlite.Checkout", err)
	}
	c.CreatedAt = fromMs(at)
	return &c, nil
}

// SetCheckoutSecret implements coffer.WebhookStore.
func (db *DB) SetCheckoutSecret(ctx context.Context, memberID string, sealed []byte, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO checkout_secrets (member_id, secret, created_at) VALUES (?, ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`, memberID, sealed, ms(at))
	return mapErr("sqlite.SetCheckoutSecret", err)
}

// CheckoutSecret implements coffer.WebhookStore.
func (db *DB) CheckoutSecret(ctx context.Context, memberID string) ([]byte, error) {
	var b []byte
	err := db.r.QueryRowContext(ctx, `SELECT secret FROM checkout_secrets WHERE member_id = ?`, memberID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "No checkout secret is set.")
	}
	return b, mapErr("sqlite.CheckoutSecret", err)
}

// UseCheckoutNonce implements coffer.WebhookStore.
func (db *DB) UseCheckoutNonce(ctx context.Context, merchant, nonce string, now, expires time.Time) (bool, error) {
	const op = "sqlite.UseCheckoutNonce"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM checkout_nonces WHERE expires_at <= ?`, ms(now)); err != nil {
		return false, mapErr(op, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO checkout_nonces (merchant, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, merchant, nonce, ms(expires))
	if err != nil {
		return false, mapErr(op, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, mapErr(op, tx.Commit())
}
