package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// MaxStatementSize bounds a statement's body, which may be far larger than
// other answers (the server caps a statement at 100,000 entries).
const MaxStatementSize = 64 << 20

// Balances is a purse's money at one moment: Available to spend, and Held
// in protected transfers waiting for the owner to release them.
type Balances struct {
	Available string `json:"available"`
	Held      string `json:"held"`
}

// StatementEntry is one movement in a statement. Held entries move held
// money; BalanceAfter is then the held amount. Kind is "transfer", "fee",
// "hold", "release" or "return".
type StatementEntry struct {
	At           time.Time `json:"at"`
	Kind         string    `json:"kind"`
	Held         bool      `json:"held"`
	Amount       string    `json:"amount"`
	BalanceAfter string    `json:"balance_after"`
	Counterparty string    `json:"counterparty"`
	TransferID   string    `json:"transfer_id"`
	Description  string    `json:"description,omitempty"`
}

// Statement is a purse's statement for a period, oldest entry first:
// Opening plus the entries of each bucket (available, held) makes Closing.
type Statement struct {
	Purse    string           `json:"purse"`
	Currency string           `json:"currency"`
	Since    time.Time        `json:"since"`
	Until    time.Time        `json:"until"`
	Opening  Balances         `json:"opening"`
	Closing  Balances         `json:"closing"`
	Entries  []StatementEntry `json:"entries"`
}

// StatementOptions is the period of a statement; zero times leave the
// server's default (the current month).
type StatementOptions struct {
	Since, Until time.Time
}

func (o StatementOptions) query(format string) url.Values {
	q := url.Values{"format": {format}}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.Format(time.RFC3339))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.Format(time.RFC3339))
	}
	return q
}

// Statement returns the statement of one of the member's purses.
// Codes: unauthorized, purse_not_found, invalid_request (a bad or too long
// period).
func (c *Client) Statement(ctx context.Context, purse string, opts StatementOptions) (*Statement, error) {
	if err := need("purse", purse); err != nil {
		return nil, err
	}
	var st Statement
	if err := c.stream(ctx, "/v1/purses/"+seg(purse)+"/statement", opts.query("json"), "application/json", func(ct string, body io.Reader) error {
		return decodeJSON(body, &st)
	}); err != nil {
		return nil, fmt.Errorf("statement of %s: %w", purse, err)
	}
	return &st, nil
}

// StatementCSV writes the statement of one of the member's purses to w as
// the server's CSV: a header row, the entries, then opening and closing
// rows. It returns the number of bytes written.
func (c *Client) StatementCSV(ctx context.Context, purse string, opts StatementOptions, w io.Writer) (int64, error) {
	if err := need("purse", purse); err != nil {
		return 0, err
	}
	var n int64
	err := c.stream(ctx, "/v1/purses/"+seg(purse)+"/statement", opts.query("csv"), "text/csv", func(ct string, body io.Reader) error {
		if ct != "text/csv" {
			return fmt.Errorf("the server answered %q, not text/csv", ct)
		}
		var err error
		n, err = io.Copy(w, body)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("statement of %s: %w", purse, err)
	}
	return n, nil
}

// stream sends a GET and hands a 2xx body, bounded by MaxStatementSize, to
// read with its media type.
func (c *Client) stream(ctx context.Context, path string, query url.Values, accept string, read func(ct string, body io.Reader) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept+", application/problem+json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize))
		return decodeError(resp, data)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	lr := &limitedReader{r: resp.Body, n: MaxStatementSize}
	if err := read(ct, lr); err != nil {
		return err
	}
	if lr.over {
		return fmt.Errorf("the answer exceeds %d bytes", MaxStatementSize)
	}
	return nil
}

// limitedReader reads at most n bytes and notes whether there was more.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			l.over = true
			return 0, fmt.Errorf("the answer exceeds %d bytes", MaxStatementSize)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// decodeJSON reads one JSON value from r into v.
func decodeJSON(r io.Reader, v any) error {
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}
