package client

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
)

// Hosted checkout: a shop sends the buyer's browser to the server's /pay
// with the order in query parameters — merchant, purse, amount, currency,
// order, desc, result_url, expires (Unix seconds, at most 24 h ahead),
// nonce (unique per request), key_id for an Ed25519 signature — and sig.
// The buyer pays and comes back to result_url?order=…&status=paid (or
// status=failed); the shop learns of the payment for sure from the signed
// checkout.paid webhook.

// CheckoutCanonical is the text a checkout signature covers: every
// parameter but sig, sorted by name, k=v with URL query escaping, joined
// by &.
func CheckoutCanonical(params url.Values) string {
	c := url.Values{}
	for k, v := range params {
		if k != "sig" {
			c[k] = v
		}
	}
	return c.Encode()
}

// SignCheckout returns the sig parameter of a checkout request: base64url
// of HMAC-SHA256 under the merchant's checkout secret (POST
// /v1/checkout/secret) over CheckoutCanonical(params).
func SignCheckout(params url.Values, secret []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(CheckoutCanonical(params)))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// SignCheckoutEd25519 returns the sig parameter of a checkout request
// signed with one of the merchant's registered keys; params must carry
// that key's ID as key_id.
func SignCheckoutEd25519(params url.Values, key ed25519.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(CheckoutCanonical(params))))
}

// CheckoutURL returns base (the server's origin, such as
// https://coffer.example) + /pay with params and their signature: HMAC when
// secret is set, else Ed25519 with key.
func CheckoutURL(base string, params url.Values, secret []byte, key ed25519.PrivateKey) string {
	p := url.Values{}
	for k, v := range params {
		if k != "sig" {
			p[k] = v
		}
	}
	if secret != nil {
		p.Set("sig", SignCheckout(p, secret))
	} else {
		p.Set("sig", SignCheckoutEd25519(p, key))
	}
	return base + "/pay?" + p.Encode()
}
