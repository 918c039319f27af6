package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coffer-money/coffer/httpsig"
)

// WithSigner makes the client sign every request with a registered key
// (HTTP Message Signatures, RFC 9421, algorithm ed25519) instead of, or
// besides, sending a session token. Each request gets its own signature
// with the current time and a fresh random nonce, covering the method, the
// target URI and, for a body, its Content-Digest (RFC 9530); a retry, by
// Send or after a redirect, is signed anew.
//
// WithSigner wraps the HTTP client's transport, so give it after
// WithHTTPClient. A server accepts a signature created up to five minutes
// before it arrives and at most a minute ahead of its own clock: keep the
// signing machine's clock in step.
func WithSigner(keyID string, key ed25519.PrivateKey) Option {
	return func(c *Client) {
		hc := *c.hc // a copy: never change the caller's http.Client
		hc.Transport = &signingTransport{base: hc.Transport, keyID: keyID, key: key, now: time.Now, rand: rand.Reader}
		c.hc = &hc
	}
}

// signingTransport signs each request just before it is sent.
type signingTransport struct {
	base  http.RoundTripper // nil: http.DefaultTransport
	keyID string
	key   ed25519.PrivateKey
	now   func() time.Time
	rand  io.Reader
}

// RoundTrip implements http.RoundTripper. It signs a copy of req, leaving
// req itself untouched as the interface requires.
func (t *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sign request: read body: %w", err)
		}
	} else if req.Body != nil {
		req.Body.Close()
	}
	r := req.Clone(req.Context())
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	} else if req.Body != nil {
		r.Body = http.NoBody
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		r.ContentLength = 0
	}
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(t.rand, nonce); err != nil {
		return nil, fmt.Errorf("sign request: nonce: %w", err)
	}
	err := httpsig.Sign(r, body, t.key, httpsig.SignOptions{
		KeyID: t.keyID, Created: t.now().Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce),
	})
	if err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
