package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// IPRanges is the member's list of allowed IP ranges; empty allows every
// address. YourIP is the address the server sees for this client.
type IPRanges struct {
	IPRanges []string `json:"ip_ranges"`
	YourIP   string   `json:"your_ip,omitempty"`
}

// IPRanges returns the allowed ranges. Codes: unauthorized.
func (c *Client) IPRanges(ctx context.Context) (*IPRanges, error) {
	var r IPRanges
	if _, err := c.do(ctx, http.MethodGet, "/v1/security/ip-ranges", nil, nil, &r); err != nil {
		return nil, fmt.Errorf("get IP ranges: %w", err)
	}
	return &r, nil
}

// SetIPRanges replaces the allowed ranges (nil or empty: anywhere).
// Codes: invalid_request (a bad range, or a list without the caller's
// address), confirmation_required.
func (c *Client) SetIPRanges(ctx context.Context, ranges []string) (*IPRanges, error) {
	if ranges == nil {
		ranges = []string{}
	}
	var r IPRanges
	if _, err := c.do(ctx, http.MethodPut, "/v1/security/ip-ranges", nil, map[string]any{"ip_ranges": ranges}, &r); err != nil {
		return nil, fmt.Errorf("set IP ranges: %w", err)
	}
	return &r, nil
}

// Unblock adds the caller's address to a member's ranges with the code
// e-mailed after a refused login. It needs no session.
// Codes: unauthorized (wrong, used or expired code), rate_limited,
// limit_exceeded.
func (c *Client) Unblock(ctx context.Context, memberID, code string) (string, error) {
	var r struct {
		Added string `json:"added"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/security/ip-ranges/unblock", nil, map[string]string{"member_id": memberID, "code": code}, &r); err != nil {
		return "", fmt.Errorf("unblock: %w", err)
	}
	return r.Added, nil
}

// SetNewDeviceConfirmation turns new-device activation on or off: with it
// on, a login from an address never used before needs a one-time code.
// Codes: invalid_request (no factor enrolled), confirmation_required.
func (c *Client) SetNewDeviceConfirmation(ctx context.Context, on bool) error {
	if _, err := c.do(ctx, http.MethodPut, "/v1/security/new-device", nil, map[string]bool{"enabled": on}, nil); err != nil {
		return fmt.Errorf("set new-device confirmation: %w", err)
	}
	return nil
}

// Notifications are the e-mails a member chose.
type Notifications struct {
	Login           bool `json:"login"`
	IncomingPayment bool `json:"incoming_payment"`
	Security        bool `json:"security"`
}

// NotificationsUpdate changes some choices; nil fields stay as they are.
type NotificationsUpdate struct {
	Login           *bool `json:"login,omitempty"`
	IncomingPayment *bool `json:"incoming_payment,omitempty"`
	Security        *bool `json:"security,omitempty"`
}

// Notifications returns the member's choices. Codes: unauthorized.
func (c *Client) Notifications(ctx context.Context) (*Notifications, error) {
	var n Notifications
	if _, err := c.do(ctx, http.MethodGet, "/v1/security/notifications", nil, nil, &n); err != nil {
		return nil, fmt.Errorf("get notifications: %w", err)
	}
	return &n, nil
}

// SetNotifications changes the choices. Codes: confirmation_required.
func (c *Client) SetNotifications(ctx context.Context, u NotificationsUpdate) (*Notifications, error) {
	var n Notifications
	if _, err := c.do(ctx, http.MethodPut, "/v1/security/notifications", nil, u, &n); err != nil {
		return nil, fmt.Errorf("set notifications: %w", err)
	}
	return &n, nil
}

// Limits are a purse's outgoing limits (nil: none) and what is left of them,
// as decimal strings; days and months are UTC.
type Limits struct {
	Purse              string  `json:"purse"`
	Currency           string  `json:"currency"`
	PerTransfer        *string `json:"per_transfer"`
	PerDay             *string `json:"per_day"`
	PerMonth           *string `json:"per_month"`
	SpentToday         string  `json:"spent_today"`
	SpentThisMonth     string  `json:"spent_this_month"`
	RemainingToday     *string `json:"remaining_today"`
	RemainingThisMonth *string `json:"remaining_this_month"`
}

// LimitsUpdate replaces all three limits; a nil field removes that limit.
type LimitsUpdate struct {
	PerTransfer *string `json:"per_transfer"`
	PerDay      *string `json:"per_day"`
	PerMonth    *string `json:"per_month"`
}

// PurseLimits returns a purse's limits. Codes: purse_not_found.
func (c *Client) PurseLimits(ctx context.Context, purse string) (*Limits, error) {
	if err := need("purse", purse); err != nil {
		return nil, err
	}
	var l Limits
	if _, err := c.do(ctx, http.MethodGet, "/v1/purses/"+seg(purse)+"/limits", nil, nil, &l); err != nil {
		return nil, fmt.Errorf("get limits of %s: %w", purse, err)
	}
	return &l, nil
}

// SetPurseLimits replaces a purse's limits. Raising or removing one may
// need a confirmation. Codes: purse_not_found, invalid_amount,
// confirmation_required.
func (c *Client) SetPurseLimits(ctx context.Context, purse string, u LimitsUpdate) (*Limits, error) {
	if err := need("purse", purse); err != nil {
		return nil, err
	}
	var l Limits
	if _, err := c.do(ctx, http.MethodPut, "/v1/purses/"+seg(purse)+"/limits", nil, u, &l); err != nil {
		return nil, fmt.Errorf("set limits of %s: %w", purse, err)
	}
	return &l, nil
}

// SecurityEvent is one entry of the member's security log.
type SecurityEvent struct {
	EventID int64           `json:"event_id"`
	Kind    string          `json:"kind"`
	At      time.Time       `json:"at"`
	Detail  json.RawMessage `json:"detail"`
}

// SecurityEvents returns a page of the security log, newest first, and the
// cursor of the next page ("" on the last). Codes: unauthorized.
func (c *Client) SecurityEvents(ctx context.Context, limit int, cursor string) ([]SecurityEvent, string, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var r struct {
		Events     []SecurityEvent `json:"events"`
		NextCursor string          `json:"next_cursor"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/security/events", q, nil, &r); err != nil {
		return nil, "", fmt.Errorf("security log: %w", err)
	}
	return r.Events, r.NextCursor, nil
}
