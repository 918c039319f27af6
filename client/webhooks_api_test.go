package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// recorded is what the test server saw of one request.
type recorded struct {
	method, path, rawQuery, confirmation, contentType string
	body                                              map[string]any
}

// recordingServer answers every request with status and answer and keeps
// what it saw in *got.
func recordingServer(t *testing.T, got *recorded, status int, answer any) *Client {
	t.Helper()
	return newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = recorded{method: r.Method, path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery,
			confirmation: r.Header.Get("Coffer-Confirmation"), contentType: r.Header.Get("Content-Type")}
		if data, _ := io.ReadAll(r.Body); len(data) > 0 {
			if err := json.Unmarshal(data, &got.body); err != nil {
				t.Errorf("request body %q: %v", data, err)
			}
		}
		if answer == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, answer)
	}), WithToken("tok"))
}

func TestClient_CreateWebhook(t *testing.T) {
	var got recorded
	c := recordingServer(t, &got, http.StatusCreated, map[string]any{
		"webhook_id": "wh_1", "url": "https://shop.example/webhook", "events": []string{"checkout.paid"},
		"signing": "hmac", "created_at": "2026-01-02T03:04:05Z", "secret": "whsec_x",
	})
	w, err := c.CreateWebhook(context.Background(), "https://shop.example/webhook", []string{"checkout.paid", "invoice.paid"}, "hmac")
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.path != "/v1/webhooks" || got.contentType != "application/json" {
		t.Errorf("request %s %s (%s)", got.method, got.path, got.contentType)
	}
	events, _ := got.body["events"].([]any)
	if got.body["url"] != "https://shop.example/webhook" || got.body["signing"] != "hmac" ||
		len(events) != 2 || events[0] != "checkout.paid" || events[1] != "invoice.paid" {
		t.Errorf("body %v", got.body)
	}
	if w.WebhookID != "wh_1" || w.Secret != "whsec_x" || w.Signing != "hmac" || w.CreatedAt.IsZero() || w.PublicKey != "" {
		t.Errorf("webhook %+v", w)
	}

	// Ed25519: the server's public key and key ID instead of a secret.
	c = recordingServer(t, &got, http.StatusCreated, map[string]any{
		"webhook_id": "wh_2", "url": "https://shop.example/webhook", "events": []string{"invoice.paid"},
		"signing": "ed25519", "public_key": "cHVi", "key_id": "whk_1",
	})
	w, err = c.CreateWebhook(context.Background(), "https://shop.example/webhook", []string{"invoice.paid"}, "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if w.PublicKey != "cHVi" || w.KeyID != "whk_1" || w.Secret != "" {
		t.Errorf("webhook %+v", w)
	}

	// An answer without a webhook ID is an error.
	c = recordingServer(t, &got, http.StatusCreated, map[string]any{})
	if _, err := c.CreateWebhook(context.Background(), "https://shop.example/webhook", []string{"invoice.paid"}, "hmac"); err == nil {
		t.Error("empty answer accepted")
	}
}

// TestClient_CreateWebhookStepUp: registering an endpoint is a security
// change; the proof given with WithConfirmation travels in the
// Coffer-Confirmation header, and without it the server's
// confirmation_required answer reaches the caller.
func TestClient_CreateWebhookStepUp(t *testing.T) {
	var got recorded
	c := recordingServer(t, &got, http.StatusCreated, map[string]any{"webhook_id": "wh_1", "url": "https://shop.example/webhook",
		"events": []string{"invoice.paid"}, "signing": "hmac", "secret": "whsec_x"})
	ctx := WithConfirmation(context.Background(), "cnf_1", "123456")
	if _, err := c.CreateWebhook(ctx, "https://shop.example/webhook", []string{"invoice.paid"}, "hmac"); err != nil {
		t.Fatal(err)
	}
	if got.confirmation != "cnf_1:123456" {
		t.Errorf("Coffer-Confirmation %q, want cnf_1:123456", got.confirmation)
	}
	c = newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Coffer-Confirmation") != "" {
			t.Error("proof sent without WithConfirmation")
		}
		problem(w, http.StatusForbidden, "confirmation_required", "Confirmation required", "Enter the code.")
	}))
	if _, err := c.CreateWebhook(context.Background(), "https://shop.example/webhook", []string{"invoice.paid"}, "hmac"); !IsCode(err, "confirmation_required") {
		t.Errorf("err %v, want confirmation_required", err)
	}
}

func TestClient_Webhooks(t *testing.T) {
	var got recorded
	c := recordingServer(t, &got, http.StatusOK, map[string]any{"webhooks": []map[string]any{
		{"webhook_id": "wh_1", "url": "https://a.example/h", "events": []string{"checkout.paid"}, "signing": "hmac"},
		{"webhook_id": "wh_2", "url": "https://b.example/h", "events": []string{"invoice.paid"}, "signing": "ed25519"},
	}})
	list, err := c.Webhooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.path != "/v1/webhooks" || got.body != nil {
		t.Errorf("request %s %s %v", got.method, got.path, got.body)
	}
	if len(list) != 2 || list[0].WebhookID != "wh_1" || list[1].Signing != "ed25519" || list[1].URL != "https://b.example/h" {
		t.Errorf("webhooks %+v", list)
	}
}

func TestClient_DeleteWebhook(t *testing.T) {
	var got recorded
	c := recordingServer(t, &got, http.StatusNoContent, nil)
	if err := c.DeleteWebhook(context.Background(), "wh/1"); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodDelete || got.path != "/v1/webhooks/wh%2F1" {
		t.Errorf("request %s %s", got.method, got.path)
	}
	if err := c.DeleteWebhook(context.Background(), ""); err == nil {
		t.Error("empty ID accepted")
	}

	c = newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "not_found", "Not found", "There is no such webhook.")
	}))
	if err := c.DeleteWebhook(context.Background(), "wh_9"); !IsCode(err, "not_found") {
		t.Errorf("err %v, want not_found", err)
	}
}

func TestClient_WebhookDeliveries(t *testing.T) {
	var got recorded
	c := recordingServer(t, &got, http.StatusOK, map[string]any{
		"deliveries": []map[string]any{
			{"event_id": "ev_2", "type": "checkout.paid", "created_at": "2026-01-02T03:04:05Z", "state": "pending",
				"next_attempt_at": "2026-01-02T03:05:05Z",
				"attempts":        []map[string]any{{"at": "2026-01-02T03:04:06Z", "status_code": 500, "error": "HTTP 500", "duration_ms": 12}}},
			{"event_id": "ev_1", "type": "invoice.paid", "created_at": "2026-01-02T03:00:00Z", "state": "delivered", "attempts": []any{}},
		},
		"next_cursor": "41",
	})
	list, next, err := c.WebhookDeliveries(context.Background(), "wh_1", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.path != "/v1/webhooks/wh_1/deliveries" || got.rawQuery != "" {
		t.Errorf("request %s %s?%s", got.method, got.path, got.rawQuery)
	}
	if next != "41" || len(list) != 2 || list[0].EventID != "ev_2" || list[0].NextAttemptAt.IsZero() ||
		len(list[0].Attempts) != 1 || list[0].Attempts[0].StatusCode != 500 || list[0].Attempts[0].DurationMS != 12 ||
		list[1].State != "delivered" || !list[1].NextAttemptAt.IsZero() {
		t.Errorf("deliveries %+v, next %q", list, next)
	}

	if _, _, err := c.WebhookDeliveries(context.Background(), "wh_1", "41"); err != nil {
		t.Fatal(err)
	}
	if got.rawQuery != "cursor=41" {
		t.Errorf("query %q, want cursor=41", got.rawQuery)
	}
	if _, _, err := c.WebhookDeliveries(context.Background(), "", ""); err == nil {
		t.Error("empty ID accepted")
	}
}

func TestClient_NewCheckoutSecret(t *testing.T) {
	var got recorded
	c := recordingServer(t, &got, http.StatusCreated, map[string]any{"secret": "cks_x"})
	ctx := WithConfirmation(context.Background(), "conf_1", "123456")
	secret, err := c.NewCheckoutSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "cks_x" {
		t.Errorf("secret %q", secret)
	}
	if got.method != http.MethodPost || got.path != "/v1/checkout/secret" || got.body == nil || len(got.body) != 0 {
		t.Errorf("request %s %s %v", got.method, got.path, got.body)
	}
	if got.confirmation != "conf_1:123456" {
		t.Errorf("Coffer-Confirmation %q", got.confirmation)
	}

	// Without the step-up proof the server asks for it.
	c = newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Coffer-Confirmation") != "" {
			t.Error("proof sent without WithConfirmation")
		}
		problem(w, http.StatusForbidden, "confirmation_required", "Confirmation required", "Enter the code.")
	}))
	if _, err := c.NewCheckoutSecret(context.Background()); !IsCode(err, "confirmation_required") {
		t.Errorf("err %v, want confirmation_required", err)
	}
}
