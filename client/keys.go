package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"
)

// Key is one of the member's registered signing keys. The private half
// never reaches the server; PublicKey is base64 of the 32 raw bytes.
type Key struct {
	KeyID       string    `json:"key_id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	PublicKey   string    `json:"public_key"`
	Algorithm   string    `json:"algorithm"`
	Status      string    `json:"status"` // "active" or "revoked"
	CreatedAt   time.Time `json:"created_at"`
	LastUsedAt  time.Time `json:"last_used_at,omitzero"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	// Current is true for the key that signed the request.
	Current bool `json:"current"`
}

// AddKey registers an Ed25519 public key for signing requests. The server
// accepts it only from a session of a password login (WithToken), never
// from a signed request. Codes: unauthorized, forbidden (not a session),
// invalid_request, conflict (the public key is already registered),
// limit_exceeded (too many active keys).
func (c *Client) AddKey(ctx context.Context, name string, pub ed25519.PublicKey) (*Key, error) {
	body := struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}{name, base64.StdEncoding.EncodeToString(pub)}
	var k Key
	if _, err := c.do(ctx, http.MethodPost, "/v1/keys", nil, body, &k); err != nil {
		return nil, fmt.Errorf("add key: %w", err)
	}
	if k.KeyID == "" {
		return nil, fmt.Errorf("add key: %w", errNoBody)
	}
	return &k, nil
}

// Keys lists the member's keys, revoked ones included, newest first.
// Codes: unauthorized.
func (c *Client) Keys(ctx context.Context) ([]Key, error) {
	var out struct {
		Keys []Key `json:"keys"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/keys", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out.Keys, nil
}

// Key returns one of the member's keys. Codes: unauthorized, not_found.
func (c *Client) Key(ctx context.Context, keyID string) (*Key, error) {
	if err := need("key ID", keyID); err != nil {
		return nil, err
	}
	var k Key
	if _, err := c.do(ctx, http.MethodGet, "/v1/keys/"+seg(keyID), nil, nil, &k); err != nil {
		return nil, fmt.Errorf("get key %s: %w", keyID, err)
	}
	return &k, nil
}

// RenameKey renames one of the member's keys.
// Codes: unauthorized, not_found, invalid_request.
func (c *Client) RenameKey(ctx context.Context, keyID, name string) (*Key, error) {
	if err := need("key ID", keyID); err != nil {
		return nil, err
	}
	body := struct {
		Name string `json:"name"`
	}{name}
	var k Key
	if _, err := c.do(ctx, http.MethodPatch, "/v1/keys/"+seg(keyID), nil, body, &k); err != nil {
		return nil, fmt.Errorf("rename key %s: %w", keyID, err)
	}
	return &k, nil
}

// RevokeKey revokes one of the member's keys; it stops working at once.
// A request signed with a key may revoke that key only.
// Codes: unauthorized, forbidden, not_found.
func (c *Client) RevokeKey(ctx context.Context, keyID string) error {
	if err := need("key ID", keyID); err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/keys/"+seg(keyID), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	return nil
}
