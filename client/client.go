// Package client is a Go client for the coffer server's HTTP API (/v1).
//
// A Client is safe for concurrent use. Every method takes a context and
// returns a *Error when the server answers with a problem document, so
// callers can branch on its stable Code:
//
//	c := client.New("https://coffer.example", client.WithToken(token))
//	t, err := c.Send(ctx, client.TransferRequest{From: "Z111111111111", To: "Z222222222222", Amount: "12.50"})
//	if client.IsCode(err, "insufficient_funds") {
//		// tell the member
//	}
//
// Amounts travel as decimal strings ("12.50") and stay strings here: the
// client never turns money into a float.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MaxResponseSize bounds how many bytes of a response body the client reads.
// A larger body is refused rather than buffered without limit.
const MaxResponseSize = 1 << 20

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "coffer-go-client"

// Client talks to one coffer server. Create it with New.
type Client struct {
	base      *url.URL
	hc        *http.Client
	userAgent string

	// Retry policy of Send.
	attempts   int
	minBackoff time.Duration
	maxBackoff time.Duration
	sleep      func(context.Context, time.Duration) error

	mu    sync.RWMutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc instead of a
// client with a 30-second timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithToken sets the session token sent as "Authorization: Bearer <token>".
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithRetry sets how Send retries: at most attempts requests in all, waiting
// minBackoff after the first failure and doubling the wait each time up to
// maxBackoff. attempts below 1 means 1 (no retry). The defaults are 6
// attempts, 250ms and 8s.
func WithRetry(attempts int, minBackoff, maxBackoff time.Duration) Option {
	return func(c *Client) {
		c.attempts = max(attempts, 1)
		c.minBackoff = max(minBackoff, 0)
		c.maxBackoff = max(maxBackoff, c.minBackoff)
	}
}

// New returns a client for the server at baseURL, such as
// "http://127.0.0.1:8080". A trailing slash and a trailing "/v1" are
// accepted and ignored. New panics if baseURL is not an absolute http or
// https URL, as that is a programming error; use ParseServerURL to check
// input from a user first.
func New(baseURL string, opts ...Option) *Client {
	u, err := ParseServerURL(baseURL)
	if err != nil {
		panic("client.New: " + err.Error())
	}
	c := &Client{
		base:       u,
		hc:         &http.Client{Timeout: 30 * time.Second},
		userAgent:  DefaultUserAgent,
		attempts:   6,
		minBackoff: 250 * time.Millisecond,
		maxBackoff: 8 * time.Second,
		sleep:      sleepContext,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ParseServerURL checks that s is an absolute http or https URL and returns
// it without a trailing slash or "/v1".
func ParseServerURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("invalid server URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid server URL %q: want http://host[:port] or https://host[:port]", s)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	u.RawPath = ""
	u.RawQuery = ""
	u.Fragment = ""
	return u, nil
}

// BaseURL returns the server URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// SetToken replaces the session token, for example after Login. An empty
// token sends requests without an Authorization header.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Token returns the session token the client sends.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// do sends one request and decodes a 2xx JSON answer into out (when out is
// not nil). in, when not nil, is encoded as the JSON body. It returns the
// status code of a successful answer, so callers can tell 200 from 201 or 202.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	var body io.Reader
	var raw []byte
	if in != nil {
		var err error
		if raw, err = json.Marshal(in); err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return 0, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
		// Lets net/http resend the body itself when a reused keep-alive
		// connection turns out to be dead.
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()

	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return 0, fmt.Errorf("read response of %s %s: %w", method, path, err)
	}
	if len(data) > MaxResponseSize {
		return 0, fmt.Errorf("response of %s %s exceeds %d bytes", method, path, MaxResponseSize)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, decodeError(resp, data)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode response of %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// newRequest makes a request with the headers every request carries.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	// path is already escaped by its caller (see seg).
	target := c.base.String() + path
	if q := query.Encode(); q != "" {
		target += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if proof, ok := ctx.Value(confirmationKey{}).(string); ok {
		req.Header.Set("Coffer-Confirmation", proof) // see WithConfirmation
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if tok := c.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}

// decodeError turns a non-2xx answer into a *Error. A problem document fills
// every field; anything else (a proxy's HTML page, say) yields just the
// status, whose Error then names it.
func decodeError(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case ct == "application/problem+json" || ct == "application/json":
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Code   string `json:"code"`
		}
		if json.Unmarshal(data, &p) == nil {
			e.Type, e.Title, e.Detail, e.Code = p.Type, p.Title, p.Detail, p.Code
		}
	case ct == "text/plain":
		// Short plain-text bodies (from net/http's own errors, for
		// example) are useful to show; keep them to one line.
		if s := strings.TrimSpace(string(data)); s != "" && len(s) <= 200 && !strings.ContainsAny(s, "\r\n") {
			e.Detail = s
		}
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After")); ok {
		e.RetryAfter = d
	}
	return e
}

// sleepContext waits for d or until ctx is done, whichever comes first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// seg escapes one path segment, such as a purse number or transfer ID, so
// that no input can change which resource a request addresses.
func seg(s string) string { return url.PathEscape(s) }

// errNoBody guards methods whose answer must carry a value.
var errNoBody = errors.New("server answered without the expected body")
