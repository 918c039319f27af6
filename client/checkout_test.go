package client_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/client"
)

// TestSignCheckout: the canonical text is the server's, sorted and escaped,
// without sig; both signatures verify over it.
func TestSignCheckout(t *testing.T) {
	p := url.Values{"order": {"A 1&2"}, "amount": {"1.00"}, "merchant": {"123456789012"}, "result_url": {"https://shop.example/r?x=1"}, "sig": {"old"}}
	canon := client.CheckoutCanonical(p)
	if canon != app.CheckoutCanonical(p) {
		t.Fatalf("client canonical %q differs from the server's %q", canon, app.CheckoutCanonical(p))
	}
	if want := "amount=1.00&merchant=123456789012&order=A+1%262&result_url=https%3A%2F%2Fshop.example%2Fr%3Fx%3D1"; canon != want {
		t.Fatalf("canonical = %q, want %q", canon, want)
	}
	h := hmac.New(sha256.New, []byte("cks_secret"))
	h.Write([]byte(canon))
	if got := client.SignCheckout(p, []byte("cks_secret")); got != base64.RawURLEncoding.EncodeToString(h.Sum(nil)) {
		t.Fatalf("SignCheckout = %q", got)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	sig, err := base64.RawURLEncoding.DecodeString(client.SignCheckoutEd25519(p, priv))
	if err != nil || !ed25519.Verify(pub, []byte(canon), sig) {
		t.Fatalf("Ed25519 signature does not verify: %v", err)
	}
	u := client.CheckoutURL("https://coffer.example", p, []byte("cks_secret"), nil)
	if !strings.HasPrefix(u, "https://coffer.example/pay?") || strings.Contains(u, "sig=old") {
		t.Fatalf("CheckoutURL = %q", u)
	}
}
