package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// RegisterRequest is the body of POST /v1/members. Email and Phone are
// optional; they become further logins for the new member.
type RegisterRequest struct {
	Password string `json:"password"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// Member is the answer to a registration: the new 12-digit member ID.
type Member struct {
	MemberID string `json:"member_id"`
}

// Auth is the answer to a login. When the member's security settings ask
// for a second factor, Token is empty and ChallengeID names the challenge
// to answer with ConfirmLogin, using one of Methods (such as "totp" or "sms").
type Auth struct {
	Token     string    `json:"token,omitempty"`
	MemberID  string    `json:"member_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	ChallengeID string   `json:"challenge_id,omitempty"`
	Methods     []string `json:"methods,omitempty"`
}

// Pending reports whether the login waits for a second factor.
func (a *Auth) Pending() bool { return a.Token == "" && a.ChallengeID != "" }

// Session is one of the member's open sessions.
type Session struct {
	SessionID  string    `json:"session_id"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Current is true for the session whose token made the request.
	Current bool `json:"current"`
}

// Register creates a member and returns its member ID. It needs no token.
// An e-mail or phone in use by another member is not refused: it is left
// off the new member. Codes: invalid_request, weak_password, rate_limited.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*Member, error) {
	var m Member
	if _, err := c.do(ctx, http.MethodPost, "/v1/members", nil, req, &m); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if m.MemberID == "" {
		return nil, fmt.Errorf("register: %w", errNoBody)
	}
	return &m, nil
}

// Login opens a session; login is a member ID, an e-mail address or a phone
// number. It does not change the client's token: call SetToken with the
// answer's Token to use the session. Check Auth.Pending for a second factor.
// Codes: unauthorized (wrong login or password), rate_limited.
func (c *Client) Login(ctx context.Context, login, password string) (*Auth, error) {
	var a Auth
	body := struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}{login, password}
	if _, err := c.do(ctx, http.MethodPost, "/v1/sessions", nil, body, &a); err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	if a.Token == "" && a.ChallengeID == "" {
		return nil, fmt.Errorf("log in: %w", errNoBody)
	}
	return &a, nil
}

// ConfirmLogin answers a login's second-factor challenge with a code and
// returns the opened session. Codes: confirmation_failed (wrong code),
// confirmation_void (expired, or too many wrong codes), not_found,
// rate_limited.
func (c *Client) ConfirmLogin(ctx context.Context, challengeID, code string) (*Auth, error) {
	if err := need("challenge ID", challengeID); err != nil {
		return nil, fmt.Errorf("confirm login: %w", err)
	}
	var a Auth
	body := struct {
		Code string `json:"code"`
	}{code}
	if _, err := c.do(ctx, http.MethodPost, "/v1/sessions/"+seg(challengeID)+"/confirm", nil, body, &a); err != nil {
		return nil, fmt.Errorf("confirm login: %w", err)
	}
	if a.Token == "" {
		return nil, fmt.Errorf("confirm login: %w", errNoBody)
	}
	return &a, nil
}

// Logout closes the session whose token the client sends.
// Codes: unauthorized.
func (c *Client) Logout(ctx context.Context) error {
	if _, err := c.do(ctx, http.MethodDelete, "/v1/sessions/current", nil, nil, nil); err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	return nil
}

// Sessions lists the member's open sessions. Codes: unauthorized.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/sessions", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out.Sessions, nil
}

// RevokeSession closes one of the member's sessions by its ID.
// Codes: unauthorized, not_found.
func (c *Client) RevokeSession(ctx context.Context, sessionID string) error {
	if err := need("session ID", sessionID); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/sessions/"+seg(sessionID), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke session %s: %w", sessionID, err)
	}
	return nil
}

// need refuses an empty path argument before it reaches the network, where
// it would address a different resource.
func need(what, v string) error {
	if v == "" || v == "." || v == ".." {
		return fmt.Errorf("invalid %s %q", what, v)
	}
	return nil
}
