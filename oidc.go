package coffer

import (
	"context"
	"time"
)

// OIDCClient is a site registered by the operator to use "Sign in with
// coffer". A confidential client authenticates at the token endpoint with a
// secret, of which only a hash is kept; a public client (a browser or
// mobile app) has none and must use PKCE.
type OIDCClient struct {
	ID           string
	Name         string
	SecretHash   []byte // nil for a public client
	RedirectURIs []string
	Public       bool
	CreatedAt    time.Time
}

// OIDCAuthRequest is an authorization request between the site's redirect
// to the authorization endpoint and the exchange of its code. Data holds
// the request's parameters and, once the member logged in and consented,
// who authenticated and how (JSON; only the provider reads it).
type OIDCAuthRequest struct {
	ID        string
	ClientID  string
	MemberID  string // "" until the member approved
	Data      []byte
	CodeHash  []byte // nil until a code was issued
	CreatedAt time.Time
	ExpiresAt time.Time
}

// OIDC token kinds.
const (
	OIDCAccessToken  = "access"
	OIDCRefreshToken = "refresh"
)

// OIDCToken is an access token or a refresh token issued to a client. ID is
// the access token's ID, or a hash of the refresh token (the token itself
// is never stored). Data holds the grant (scopes, how the member
// authenticated) as JSON.
type OIDCToken struct {
	ID        string
	Kind      string
	ClientID  string
	MemberID  string
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// OIDCConsent is what a member allowed a client to receive, remembered
// until the member revokes it.
type OIDCConsent struct {
	MemberID  string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
}

// OIDCSigningKey is a key that signs ID tokens, sealed with the server's
// secrets key. The newest signs; older ones stay published until the tokens
// they signed have expired.
type OIDCSigningKey struct {
	ID        string
	Algorithm string
	Sealed    []byte
	CreatedAt time.Time
}

// ErrOIDCCodeIssued is what OIDCStore.SetOIDCAuthCode returns for a request
// that already has a code: a request yields one code at most.
var ErrOIDCCodeIssued = &Error{Code: ECONFLICT, Message: "A code was issued already."}

// OIDCStore is the persistence of the OpenID Connect provider. Every
// method is one transaction; errors are *Error with the listed codes for
// expected failures.
type OIDCStore interface {
	// CreateOIDCClient errors: ECONFLICT when the ID is taken.
	CreateOIDCClient(ctx context.Context, c *OIDCClient) error
	// OIDCClient errors: ENOTFOUND.
	OIDCClient(ctx context.Context, id string) (*OIDCClient, error)
	// OIDCClients lists every client, oldest first.
	OIDCClients(ctx context.Context) ([]*OIDCClient, error)
	// DeleteOIDCClient removes a client with its requests, tokens and
	// consents. Errors: ENOTFOUND.
	DeleteOIDCClient(ctx context.Context, id string) error

	CreateOIDCAuthRequest(ctx context.Context, r *OIDCAuthRequest) error
	// OIDCAuthRequest returns a request, expired or not. Errors: ENOTFOUND.
	OIDCAuthRequest(ctx context.Context, id string) (*OIDCAuthRequest, error)
	// UpdateOIDCAuthRequest stores a request's MemberID and Data.
	// Errors: ENOTFOUND.
	UpdateOIDCAuthRequest(ctx context.Context, r *OIDCAuthRequest) error
	// SetOIDCAuthCode records the hash of the code issued for a request.
	// Errors: ENOTFOUND; ErrOIDCCodeIssued (ECONFLICT) when the request
	// already has a code.
	SetOIDCAuthCode(ctx context.Context, id string, codeHash []byte) error
	// TakeOIDCAuthCode returns the request a code was issued for and
	// deletes it, so that a code is exchanged at most once.
	// Errors: ENOTFOUND (unknown or already used).
	TakeOIDCAuthCode(ctx context.Context, codeHash []byte) (*OIDCAuthRequest, error)
	// DeleteOIDCAuthRequest removes a request; no error when it is gone.
	DeleteOIDCAuthRequest(ctx context.Context, id string) error

	// CreateOIDCToken errors: ECONFLICT on a duplicate ID.
	CreateOIDCToken(ctx context.Context, t *OIDCToken) error
	// OIDCToken returns a token, expired or not. Errors: ENOTFOUND.
	OIDCToken(ctx context.Context, id string) (*OIDCToken, error)
	// RotateOIDCToken deletes the refresh token oldID and stores the new
	// tokens in one transaction. Errors: ENOTFOUND when oldID is gone (it
	// was used already, revoked or never existed).
	RotateOIDCToken(ctx context.Context, oldID string, next ...*OIDCToken) error
	// DeleteOIDCToken removes a token; no error when it is gone.
	DeleteOIDCToken(ctx context.Context, id string) error
	// DeleteOIDCTokens removes a member's tokens issued to a client.
	DeleteOIDCTokens(ctx context.Context, memberID, clientID string) error
	// DeleteExpiredOIDC removes requests and tokens expired at now.
	DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error)

	// OIDCConsent errors: ENOTFOUND.
	OIDCConsent(ctx context.Context, memberID, clientID string) (*OIDCConsent, error)
	// OIDCConsents lists a member's consents, oldest first.
	OIDCConsents(ctx context.Context, memberID string) ([]*OIDCConsent, error)
	// SetOIDCConsent creates or replaces a consent.
	SetOIDCConsent(ctx context.Context, c *OIDCConsent) error
	// DeleteOIDCConsent revokes a consent and the tokens the client holds
	// for the member. Errors: ENOTFOUND.
	DeleteOIDCConsent(ctx context.Context, memberID, clientID string) error

	// AddOIDCSigningKey errors: ECONFLICT on a duplicate ID.
	AddOIDCSigningKey(ctx context.Context, k *OIDCSigningKey) error
	// OIDCSigningKeys lists the keys, newest first.
	OIDCSigningKeys(ctx context.Context) ([]*OIDCSigningKey, error)
	// DeleteOIDCSigningKey removes a retired key; no error when it is gone.
	DeleteOIDCSigningKey(ctx context.Context, id string) error

	// SetSessionAMR records how a session's member authenticated (RFC
	// 8176 method names), kept until expiresAt.
	SetSessionAMR(ctx context.Context, sessionID string, amr []string, expiresAt time.Time) error
	// SessionAMR errors: ENOTFOUND when nothing was recorded.
	SessionAMR(ctx context.Context, sessionID string) ([]string, error)
}
