package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Webhook is one of the member's webhook endpoints. Secret (signing
// "hmac") or PublicKey and KeyID (signing "ed25519", PublicKey base64url of
// the server's webhook key) are set only in the answer of CreateWebhook:
// the secret is shown once.
type Webhook struct {
	WebhookID string    `json:"webhook_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Signing   string    `json:"signing"` // "hmac" or "ed25519"
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret,omitempty"`
	PublicKey string    `json:"public_key,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
}

// WebhookDelivery is one event sent (or to be sent) to an endpoint, with
// its attempts so far.
type WebhookDelivery struct {
	EventID       string            `json:"event_id"`
	Type          string            `json:"type"`
	CreatedAt     time.Time         `json:"created_at"`
	State         string            `json:"state"` // "pending", "delivered" or "failed"
	NextAttemptAt time.Time         `json:"next_attempt_at,omitzero"`
	Attempts      []DeliveryAttempt `json:"attempts"`
}

// DeliveryAttempt is one POST of a delivery; StatusCode is 0 when no
// answer came. Error is empty on a 2xx answer, else only the kind of
// failure: "dns", "refused_address" (the endpoint's name resolved to an
// address that is not public), "connect", "timeout", "tls", "network",
// "internal", or "http_status_" followed by the status code.
type DeliveryAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	Error      string    `json:"error"`
	DurationMS int64     `json:"duration_ms"`
}

// CreateWebhook registers an endpoint at url for the event types given
// (such as "checkout.paid"), signed with signing: "hmac" (the answer
// carries the secret, shown once) or "ed25519" (the answer carries the
// server's public key and its key ID). An endpoint learns of every
// incoming payment, so it is a security change: for a member with a second
// factor a confirmation_required answer asks for the step-up proof, given
// again with WithConfirmation.
// Codes: unauthorized, invalid_request, limit_exceeded,
// confirmation_required, confirmation_failed.
func (c *Client) CreateWebhook(ctx context.Context, url string, events []string, signing string) (*Webhook, error) {
	body := struct {
		URL     string   `json:"url"`
		Events  []string `json:"events"`
		Signing string   `json:"signing"`
	}{url, events, signing}
	var w Webhook
	if _, err := c.do(ctx, http.MethodPost, "/v1/webhooks", nil, body, &w); err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	if w.WebhookID == "" {
		return nil, fmt.Errorf("create webhook: %w", errNoBody)
	}
	return &w, nil
}

// Webhooks lists the member's webhook endpoints. Codes: unauthorized.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/webhooks", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out.Webhooks, nil
}

// DeleteWebhook removes one of the member's webhook endpoints.
// Codes: unauthorized, not_found.
func (c *Client) DeleteWebhook(ctx context.Context, webhookID string) error {
	if err := need("webhook ID", webhookID); err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/webhooks/"+seg(webhookID), nil, nil, nil); err != nil {
		return fmt.Errorf("delete webhook %s: %w", webhookID, err)
	}
	return nil
}

// WebhookDeliveries returns a page of an endpoint's deliveries, newest
// first, and the cursor of the next page ("" on the last); cursor is ""
// for the first page. Codes: unauthorized, not_found, invalid_request.
func (c *Client) WebhookDeliveries(ctx context.Context, webhookID, cursor string) ([]WebhookDelivery, string, error) {
	if err := need("webhook ID", webhookID); err != nil {
		return nil, "", err
	}
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out struct {
		Deliveries []WebhookDelivery `json:"deliveries"`
		NextCursor string            `json:"next_cursor"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/webhooks/"+seg(webhookID)+"/deliveries", q, nil, &out); err != nil {
		return nil, "", fmt.Errorf("webhook %s deliveries: %w", webhookID, err)
	}
	return out.Deliveries, out.NextCursor, nil
}

// NewCheckoutSecret makes the merchant's hosted-checkout secret, replacing
// any, and returns it; it is shown once. Like AddKey, the server accepts it
// only from a session of a password login, and it is a security change: a
// confirmation_required answer asks for the step-up proof, given again
// with WithConfirmation. Codes: unauthorized, forbidden,
// confirmation_required.
func (c *Client) NewCheckoutSecret(ctx context.Context) (string, error) {
	var out struct {
		Secret string `json:"secret"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/checkout/secret", nil, struct{}{}, &out); err != nil {
		return "", fmt.Errorf("new checkout secret: %w", err)
	}
	if out.Secret == "" {
		return "", fmt.Errorf("new checkout secret: %w", errNoBody)
	}
	return out.Secret, nil
}
