package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Currency is one currency the server keeps: its code ("USD"), the letter
// its purse numbers start with ("Z") and how many decimals its amounts have.
type Currency struct {
	Code     string `json:"code"`
	Letter   string `json:"letter"`
	Decimals int    `json:"decimals"`
}

// Purse is one of the member's purses. Balance is a decimal string: the
// money available to spend, also in Available. Held is money of protected
// transfers waiting for the owner to release them. An issuer's purse may go
// below zero down to minus Limit.
type Purse struct {
	Purse     string `json:"purse"`
	Currency  string `json:"currency"`
	Balance   string `json:"balance"`
	Available string `json:"available,omitempty"`
	Held      string `json:"held,omitempty"`
	Issuer    bool   `json:"issuer,omitempty"`
	Limit     string `json:"limit,omitempty"`
	// CreatedAt is when the purse was opened, if the server says.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// HistoryEntry is one movement of a purse. Amount is signed: "-12.50" left
// the purse, "12.50" came in.
type HistoryEntry struct {
	TransferID   string    `json:"transfer_id"`
	Counterparty string    `json:"counterparty"`
	Amount       string    `json:"amount"`
	BalanceAfter string    `json:"balance_after"`
	Description  string    `json:"description,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// HistoryPage is one page of a purse's history. NextCursor is empty on the
// last page.
type HistoryPage struct {
	Entries    []HistoryEntry `json:"entries"`
	NextCursor string         `json:"next_cursor"`
}

// HistoryOptions narrows a history request. Zero fields are left out, so the
// server's defaults apply.
type HistoryOptions struct {
	// Limit is the largest number of entries in one page.
	Limit int
	// Cursor continues from a previous page's NextCursor.
	Cursor string
	// Since and Until bound the entries' time.
	Since, Until time.Time
}

// Owner is the answer to a payee check: who owns a purse.
type Owner struct {
	MemberID string `json:"member_id"`
}

// Currencies lists the currencies the server keeps.
func (c *Client) Currencies(ctx context.Context) ([]Currency, error) {
	var out struct {
		Currencies []Currency `json:"currencies"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/currencies", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list currencies: %w", err)
	}
	return out.Currencies, nil
}

// Purses lists the member's purses. Codes: unauthorized.
func (c *Client) Purses(ctx context.Context) ([]Purse, error) {
	var out struct {
		Purses []Purse `json:"purses"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/purses", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list purses: %w", err)
	}
	return out.Purses, nil
}

// CreatePurse opens a new purse in the given currency code ("USD").
// Codes: unauthorized, currency_not_found, limit_exceeded, invalid_request.
func (c *Client) CreatePurse(ctx context.Context, currency string) (*Purse, error) {
	var p Purse
	body := struct {
		Currency string `json:"currency"`
	}{currency}
	if _, err := c.do(ctx, http.MethodPost, "/v1/purses", nil, body, &p); err != nil {
		return nil, fmt.Errorf("create %s purse: %w", currency, err)
	}
	if p.Purse == "" {
		return nil, fmt.Errorf("create %s purse: %w", currency, errNoBody)
	}
	return &p, nil
}

// Purse returns one of the member's own purses. Codes: unauthorized,
// purse_not_found (also for other members' purses).
func (c *Client) Purse(ctx context.Context, purse string) (*Purse, error) {
	if err := need("purse", purse); err != nil {
		return nil, err
	}
	var p Purse
	if _, err := c.do(ctx, http.MethodGet, "/v1/purses/"+seg(purse), nil, nil, &p); err != nil {
		return nil, fmt.Errorf("get purse %s: %w", purse, err)
	}
	return &p, nil
}

// History returns one page of a purse's history, newest first.
// Codes: unauthorized, purse_not_found, invalid_request (a bad cursor).
func (c *Client) History(ctx context.Context, purse string, opts HistoryOptions) (*HistoryPage, error) {
	if err := need("purse", purse); err != nil {
		return nil, err
	}
	q := url.Values{}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	if !opts.Since.IsZero() {
		q.Set("since", opts.Since.Format(time.RFC3339))
	}
	if !opts.Until.IsZero() {
		q.Set("until", opts.Until.Format(time.RFC3339))
	}
	var page HistoryPage
	if _, err := c.do(ctx, http.MethodGet, "/v1/purses/"+seg(purse)+"/history", q, nil, &page); err != nil {
		return nil, fmt.Errorf("history of %s: %w", purse, err)
	}
	return &page, nil
}

// HistoryAll walks every page of a purse's history from opts.Cursor on and
// yields its entries one by one. It stops at the first error, which it
// yields with a zero entry.
func (c *Client) HistoryAll(ctx context.Context, purse string, opts HistoryOptions) iter.Seq2[HistoryEntry, error] {
	return func(yield func(HistoryEntry, error) bool) {
		seen := map[string]bool{}
		for {
			page, err := c.History(ctx, purse, opts)
			if err != nil {
				yield(HistoryEntry{}, err)
				return
			}
			for _, e := range page.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			// A server that hands out the same cursor twice would
			// otherwise keep us here forever.
			if seen[page.NextCursor] {
				yield(HistoryEntry{}, fmt.Errorf("history of %s: server repeated cursor %q", purse, page.NextCursor))
				return
			}
			seen[page.NextCursor] = true
			opts.Cursor = page.NextCursor
		}
	}
}

// Owner returns the member ID that owns a purse, so a payer can check the
// payee before sending. Each check spends one of the member's lookups of
// other members. Codes: unauthorized, purse_not_found, rate_limited.
func (c *Client) Owner(ctx context.Context, purse string) (*Owner, error) {
	if err := need("purse", purse); err != nil {
		return nil, err
	}
	var o Owner
	if _, err := c.do(ctx, http.MethodGet, "/v1/purses/"+seg(purse)+"/owner", nil, nil, &o); err != nil {
		return nil, fmt.Errorf("owner of %s: %w", purse, err)
	}
	return &o, nil
}
