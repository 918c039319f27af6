package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// queueOutbox adds to the batch's pipeline the one statement that keeps
// its webhook events for every endpoint subscribed to them. Without
// endpoints the join finds nothing at once.
func queueOutbox(b *pgx.Batch, writes []*coffer.BatchWrites) {
	var cs []coffer.OutboxCandidate
	var at time.Time
	for _, w := range writes {
		at = coffer.BatchTime(w, at)
		cs = append(cs, coffer.OutboxCandidates(w, at)...)
	}
	n := len(cs)
	if n == 0 {
		return
	}
	ev, ty, m, inv, st, seq := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, c := range cs {
		ev[i], ty[i], m[i], seq[i], inv[i], st[i] = c.EventID, c.Type, c.MemberID, c.TransferSeq, c.InvoiceID, c.Status
	}
	b.Queue(`INSERT INTO webhook_outbox (endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, next_at)
		SELECT e.id, v.ev, v.ty, e.member_id, v.seq, v.inv, v.st, $7, $7
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[]) AS v(ev, ty, m, seq, inv, st)
		JOIN webhook_endpoints e ON e.member_id = v.m AND position(',' || v.ty || ',' in e.events) > 0
		WHERE v.ty <> 'checkout.paid' OR EXISTS (SELECT 1 FROM checkouts c WHERE c.invoice_id = v.inv)`,
		ev, ty, m, seq, inv, st, ms(at))
}

const webhookCols = `id, member_id, url, events, signing, secret, created_at`

func scanWebhook(row rowScanner) (*coffer.Webhook, error) {
	var w coffer.Webhook
	var events string
	var c int64
	if err := row.Scan(&w.ID, &w.MemberID, &w.URL, &events, &w.Signing, &w.SealedSecret, &c); err != nil {
		return nil, err
	}
	w.Events, w.CreatedAt = coffer.ParseWebhookEventsColumn(events), fromMs(c)
	return &w, nil
}

// CreateWebhook implements coffer.WebhookStore. The member's row is
// locked before the count, so concurrent requests, from any process,
// cannot together exceed max.
func (db *DB) CreateWebhook(ctx context.Context, w *coffer.Webhook, max int, ev *coffer.AuditEvent) error {
	const op = "postgres.CreateWebhook"
	return db.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := lockMember(ctx, tx, w.MemberID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE member_id = $1`, w.MemberID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "Too many webhooks.", Op: op}
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (`+webhookCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			w.ID, w.MemberID, w.URL, coffer.WebhookEventsColumn(w.Events), w.Signing, w.SealedSecret, ms(w.CreatedAt))
		return err
	}, ev)
}

// Webhooks implements coffer.WebhookStore.
func (db *DB) Webhooks(ctx context.Context, memberID string) ([]*coffer.Webhook, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE member_id = $1 ORDER BY created_at, id`, memberID)
	return collect(rows, err, "postgres.Webhooks", scanWebhook)
}

// Webhook implements coffer.WebhookStore.
func (db *DB) Webhook(ctx context.Context, id string) (*coffer.Webhook, error) {
	w, err := scanWebhook(db.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.Webhook", err)
	}
	return w, nil
}

// DeleteWebhook implements coffer.WebhookStore.
func (db *DB) DeleteWebhook(ctx context.Context, memberID, id string) error {
	return db.inTx(ctx, "postgres.DeleteWebhook", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND member_id = $2`, id, memberID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "There is no such webhook.")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_attempts WHERE outbox_id IN (SELECT id FROM webhook_outbox WHERE endpoint_id = $1)`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM webhook_outbox WHERE endpoint_id = $1`, id)
		return err
	})
}

const deliveryCols = `id, endpoint_id, event_id, type, member_id, transfer_seq, invoice_id, status, created_at, state, next_at`

func scanDelivery(row rowScanner) (*coffer.Delivery, error) {
	var d coffer.Delivery
	var c, n int64
	if err := row.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.Type, &d.MemberID, &d.TransferSeq, &d.InvoiceID, &d.Status, &c, &d.State, &n); err != nil {
		return nil, err
	}
	d.CreatedAt, d.NextAt = fromMs(c), fromMs(n)
	return &d, nil
}

// Deliveries implements coffer.WebhookStore.
func (db *DB) Deliveries(ctx context.Context, webhookID string, before int64, limit int) ([]*coffer.Delivery, error) {
	const op = "postgres.Deliveries"
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.pool.Query(ctx, `SELECT `+deliveryCols+` FROM webhook_outbox WHERE endpoint_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, webhookID, before, limit)
	out, err := collect(rows, err, op, scanDelivery)
	if err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]int64, len(out))
	byID := map[int64]*coffer.Delivery{}
	for i, d := range out {
		ids[i], byID[d.ID] = d.ID, d
	}
	arows, err := db.pool.Query(ctx, `SELECT outbox_id, at, status_code, error, duration_ms FROM webhook_attempts WHERE outbox_id = ANY($1) ORDER BY at, ctid`, ids)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer arows.Close()
	for arows.Next() {
		var a coffer.DeliveryAttempt
		var id, at, dur int64
		var code int32
		if err := arows.Scan(&id, &at, &code, &a.Error, &dur); err != nil {
			return nil, mapErr(op, err)
		}
		a.At, a.StatusCode, a.Duration = fromMs(at), int(code), time.Duration(dur)*time.Millisecond
		byID[id].Attempts = append(byID[id].Attempts, &a)
	}
	return out, mapErr(op, arows.Err())
}

// ClaimDeliveries implements coffer.WebhookStore: FOR UPDATE SKIP LOCKED
// lets several processes claim at once, each taking other rows.
func (db *DB) ClaimDeliveries(ctx context.Context, now, lease time.Time, limit int) ([]*coffer.Delivery, error) {
	rows, err := db.pool.Query(ctx, `UPDATE webhook_outbox SET next_at = $1 WHERE id IN (
		SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_at <= $2 ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+deliveryCols, ms(lease), ms(now), limit)
	return collect(rows, err, "postgres.ClaimDeliveries", scanDelivery)
}

// RecordAttempt implements coffer.WebhookStore.
func (db *DB) RecordAttempt(ctx context.Context, id int64, a *coffer.DeliveryAttempt, state string, next time.Time) error {
	return db.inTx(ctx, "postgres.RecordAttempt", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_outbox SET state = $1, next_at = $2 WHERE id = $3`, state, ms(next), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "There is no such delivery.")
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_attempts (outbox_id, at, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5)`,
			id, ms(a.At), a.StatusCode, a.Error, a.Duration.Milliseconds())
		return err
	})
}

// CreateCheckout implements coffer.WebhookStore.
func (db *DB) CreateCheckout(ctx context.Context, c *coffer.Checkout) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO checkouts (invoice_id, merchant, order_number, result_url, created_at) VALUES ($1, $2, $3, $4, $5)`,
		c.InvoiceID, c.Merchant, c.OrderNumber, c.ResultURL, ms(c.CreatedAt))
	return mapErr("postgres.CreateCheckout", err)
}

// Checkout implements coffer.WebhookStore.
func (db *DB) Checkout(ctx context.Context, invoiceID string) (*coffer.Checkout, error) {
	var c coffer.Checkout
	var at int64
	err := db.pool.QueryRow(ctx, `SELECT invoice_id, merchant, order_number, result_url, created_at FROM checkouts WHERE invoice_id = $1`, invoiceID).
		Scan(&c.InvoiceID, &c.Merchant, &c.OrderNumber, &c.ResultURL, &at)
	if err != nil {
		return nil, mapErr("postgres.Checkout", err)
	}
	c.CreatedAt = fromMs(at)
	return &c, nil
}

// SetCheckoutSecret implements coffer.WebhookStore.
func (db *DB) SetCheckoutSecret(ctx context.Context, memberID string, sealed []byte, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO checkout_secrets (member_id, secret, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (member_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`, memberID, sealed, ms(at))
	return mapErr("postgres.SetCheckoutSecret", err)
}

// CheckoutSecret implements coffer.WebhookStore.
func (db *DB) CheckoutSecret(ctx context.Context, memberID string) ([]byte, error) {
	var b []byte
	err := db.pool.QueryRow(ctx, `SELECT secret FROM checkout_secrets WHERE member_id = $1`, memberID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "No checkout secret is set.")
	}
	return b, mapErr("postgres.CheckoutSecret", err)
}

// UseCheckoutNonce implements coffer.WebhookStore. A nonce whose earlier
// use has expired counts as new.
func (db *DB) UseCheckoutNonce(ctx context.Context, merchant, nonce string, now, expires time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO checkout_nonces (merchant, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (merchant, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE checkout_nonces.expires_at <= $4`,
		merchant, nonce, ms(expires), ms(now))
	if err != nil {
		return false, mapErr("postgres.UseCheckoutNonce", err)
	}
	db.pool.Exec(ctx, `DELETE FROM checkout_nonces WHERE expires_at <= $1`, ms(now)) // best effort
	return tag.RowsAffected() == 1, nil
}
