package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestCheckout_Secret: POST /v1/checkout/secret answers a new secret once,
// after the step-up confirmation of a member with a second factor, and
// keeps it sealed; a new one replaces it.
func TestCheckout_Secret(t *testing.T) {
	e := newConfirmEnv(t)
	m, _ := e.funded(t)

	a := e.request(t, "POST", "/v1/checkout/secret", m.token, nil)
	wantStatus(t, a, http.StatusCreated)
	var out struct {
		Secret string `json:"secret"`
	}
	a.decode(t, &out)
	if !strings.HasPrefix(out.Secret, "cks_") || len(out.Secret) < 40 {
		t.Fatalf("got secret %q", out.Secret)
	}
	sealed, err := e.db.CheckoutSecret(context.Background(), m.id)
	if err != nil || len(sealed) == 0 || bytes.Contains(sealed, []byte(out.Secret)) {
		t.Fatalf("stored secret %q, %v: want it sealed", sealed, err)
	}

	seed, _ := e.enrolTOTP(t, m)
	a = e.request(t, "POST", "/v1/checkout/secret", m.token, nil)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	var pr struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	a.decode(t, &pr)
	a = e.request(t, "POST", "/v1/checkout/secret", m.token, nil, "Coffer-Confirmation", pr.ConfirmationID+":"+e.totp(seed))
	wantStatus(t, a, http.StatusCreated)
	var again struct {
		Secret string `json:"secret"`
	}
	a.decode(t, &again)
	if again.Secret == "" || again.Secret == out.Secret {
		t.Fatalf("got secret %q again, want a new one", again.Secret)
	}
	wantStatus(t, e.request(t, "POST", "/v1/checkout/secret", "", nil), http.StatusUnauthorized)
}
