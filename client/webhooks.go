package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookTolerance is how far a delivery's Coffer-Timestamp may be from the
// receiver's clock. Older deliveries are refused, so a captured one cannot
// be replayed later; receivers also drop event IDs they have seen, since a
// delivery may come more than once.
const WebhookTolerance = 5 * time.Minute

// MaxWebhookBody bounds the body VerifyWebhook reads.
const MaxWebhookBody = 1 << 20

// Event is a webhook delivery: the same EventID on every attempt.
type Event struct {
	EventID   string          `json:"event_id"`
	Type      string          `json:"type"` // transfer.incoming, invoice.paid, transfer.released, transfer.returned, refund.incoming, checkout.paid
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// EventData is what Event.Data holds; fields not about the event are empty.
type EventData struct {
	TransferID  string    `json:"transfer_id"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Amount      string    `json:"amount"`
	Currency    string    `json:"currency"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	Kind        string    `json:"kind"`
	Sender      string    `json:"sender,omitempty"`
	InvoiceID   string    `json:"invoice_id,omitempty"`
	OrderNumber string    `json:"order_number,omitempty"`
	Payer       string    `json:"payer,omitempty"`
	Purse       string    `json:"purse,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Decode parses the event's data.
func (e *Event) Decode() (*EventData, error) {
	var d EventData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, fmt.Errorf("webhook data: %w", err)
	}
	return &d, nil
}

// ErrWebhookSignature is returned for a delivery that is not signed by the
// key given, is too old, or is malformed.
var ErrWebhookSignature = errors.New("webhook: signature does not verify")

// VerifyWebhook checks a delivery coffer sent to a webhook endpoint and
// returns its event. key is the endpoint's HMAC secret (string or []byte)
// or the server's Ed25519 public key (ed25519.PublicKey). The body is read
// (and left readable again on r).
func VerifyWebhook(r *http.Request, key any) (Event, error) {
	return VerifyWebhookAt(r, key, time.Now())
}

// VerifyWebhookAt is VerifyWebhook with the receiver's clock given.
func VerifyWebhookAt(r *http.Request, key any, now time.Time) (Event, error) {
	var ev Event
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return ev, fmt.Errorf("webhook: read body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > MaxWebhookBody {
		return ev, fmt.Errorf("%w: body too large", ErrWebhookSignature)
	}
	tsText := r.Header.Get("Coffer-Timestamp")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ev, fmt.Errorf("%w: no timestamp", ErrWebhookSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return ev, fmt.Errorf("%w: timestamp too far from now", ErrWebhookSignature)
	}
	params := map[string]string{}
	for _, p := range strings.Split(r.Header.Get("Coffer-Signature"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	msg := append([]byte(tsText+"."), body...)
	switch k := key.(type) {
	case string, []byte:
		secret := []byte(fmt.Sprint(k))
		if b, ok := k.([]byte); ok {
			secret = b
		}
		got, err := hex.DecodeString(params["v1"])
		m := hmac.New(sha256.New, secret)
		m.Write(msg)
		if err != nil || !hmac.Equal(got, m.Sum(nil)) {
			return ev, ErrWebhookSignature
		}
	case ed25519.PublicKey:
		sig, err := base64.RawURLEncoding.DecodeString(params["ed25519"])
		if err != nil || len(k) != ed25519.PublicKeySize || !ed25519.Verify(k, msg, sig) {
			return ev, ErrWebhookSignature
		}
	default:
		return ev, fmt.Errorf("webhook: key of type %T; want a secret or an ed25519.PublicKey", key)
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.EventID == "" || ev.EventID != r.Header.Get("Coffer-Event-Id") {
		return Event{}, fmt.Errorf("%w: malformed event", ErrWebhookSignature)
	}
	return ev, nil
}
