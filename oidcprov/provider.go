// Package oidcprov is "Sign in with coffer": an OpenID Connect provider
// built on zitadel/oidc. Sites registered by the operator send members to
// /oauth/authorize; the member logs in on the web keeper with their own
// methods, consents on a screen that lists exactly the claims the site
// asked for, and the site gets an authorization code (PKCE required for
// public clients, S256 only), an ID token signed with a rotating ES256
// key, an opaque access token for /oauth/userinfo and a refresh token that
// is rotated on every use.
package oidcprov

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Scopes beyond the standard ones.
const (
	ScopeCofferLevel = "coffer_level" // the member's verification level, claim coffer_level
)

// Paths the provider serves.
const (
	PathPrefix    = "/oauth/"
	DiscoveryPath = "/.well-known/openid-configuration"
	// LoginPath is the web keeper's page that logs the member in and asks
	// for consent; it gets the request's ID as ?id=.
	LoginPath = "/signin"
)

// Store is what the provider needs of the store.
type Store interface {
	coffer.OIDCStore
	MemberByLogin(ctx context.Context, login string) (*coffer.Member, error)
	MemberStatus(ctx context.Context, memberID string) (*coffer.MemberStatus, error)
	Profile(ctx context.Context, memberID string) (*coffer.Profile, error)
}

// Config holds the provider's tunables.
type Config struct {
	// Issuer is the server's public base URL (https://coffer.example), as
	// configured: never taken from a request, whose Host header anyone can
	// write. It must be https, or http on a loopback host (development).
	Issuer string
	// SecretsKey is the server's 32-byte secrets key; it seals the
	// signing keys at rest.
	SecretsKey []byte
	// KeyMaxAge rotates the signing key when it is this old (default 30 days).
	KeyMaxAge time.Duration
	// IDTokenLifetime (default 1 hour), AccessTokenLifetime (15 minutes),
	// RefreshTokenLifetime (30 days), RequestLifetime (15 minutes: the
	// time a member has to log in and consent).
	IDTokenLifetime, AccessTokenLifetime, RefreshTokenLifetime, RequestLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider is the OpenID Connect provider. Create it with New.
type Provider struct {
	store Store
	log   *slog.Logger
	cfg   Config
	aead  cipher.AEAD
	op    *op.Provider

	keyMu    sync.Mutex
	keyCache []*signingKey
	keysAt   time.Time
}

// New builds the provider.
func New(store Store, log *slog.Logger, cfg Config) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.KeyMaxAge, 30*24*time.Hour)
	def(&cfg.IDTokenLifetime, time.Hour)
	def(&cfg.AccessTokenLifetime, 15*time.Minute)
	def(&cfg.RefreshTokenLifetime, 30*24*time.Hour)
	def(&cfg.RequestLifetime, 15*time.Minute)
	aead, err := newAEAD(cfg.SecretsKey)
	if err != nil {
		return nil, err
	}
	p := &Provider{store: store, log: log, cfg: cfg, aead: aead}
	var cryptoKey [32]byte
	copy(cryptoKey[:], cfg.SecretsKey)
	config := &op.Config{
		CryptoKey:             sha256.Sum256(append([]byte("coffer oidc crypto\x00"), cryptoKey[:]...)),
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		SupportedScopes:       []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeAddress, oidc.ScopeOfflineAccess, ScopeCofferLevel},
		SupportedClaims: append(slices.Clone(op.DefaultSupportedClaims), "given_name", "family_name", "birthdate", "email", "phone_number",
			"address", ScopeCofferLevel),
	}
	insecure, err := checkIssuer(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	issuer := op.StaticIssuer(strings.TrimSuffix(cfg.Issuer, "/"))
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint(PathPrefix+"authorize"), op.NewEndpoint(PathPrefix+"token"), op.NewEndpoint(PathPrefix+"userinfo"),
			op.NewEndpoint(PathPrefix+"revoke"), op.NewEndpoint(PathPrefix+"end_session"), op.NewEndpoint(PathPrefix+"keys")),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathPrefix + "introspect")),
		op.WithLogger(log),
	}
	if insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(config, &storage{p: p}, issuer, opts...)
	if err != nil {
		return nil, fmt.Errorf("oidcprov: %w", err)
	}
	return p, nil
}

// ServeHTTP serves discovery, JWKS and the OAuth endpoints.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p.op.ServeHTTP(w, r)
}

// Handles reports whether path is one of the provider's.
func Handles(path string) bool {
	return path == DiscoveryPath || strings.HasPrefix(path, PathPrefix)
}

// Route names the provider's endpoint at path for logs: the path of one
// of its endpoints, else PathPrefix+"*", so that no client-made path
// becomes a name of its own.
func Route(path string) string {
	switch path {
	case DiscoveryPath, PathPrefix + "authorize", PathPrefix + "authorize/callback", PathPrefix + "token",
		PathPrefix + "userinfo", PathPrefix + "revoke", PathPrefix + "end_session", PathPrefix + "keys", PathPrefix + "introspect":
		return path
	}
	return PathPrefix + "*"
}

func (p *Provider) now() time.Time { return p.cfg.Now().UTC() }

func randomString(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func tokenID(token string) string { return hex.EncodeToString(hashOf("coffer oidc token\x00" + token)) }

// NewClient registers a client and returns it with its secret (shown
// once; "" for a public client). Redirect URIs must be absolute https
// URLs, http on a loopback address, or an app's own scheme (public
// clients only).
func (p *Provider) NewClient(ctx context.Context, name string, redirectURIs []string, public bool) (*coffer.OIDCClient, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", coffer.Errorf(coffer.EINVALID, "The client needs a name of 1 to 100 characters.")
	}
	if len(redirectURIs) == 0 {
		return nil, "", coffer.Errorf(coffer.EINVALID, "The client needs at least one redirect URI.")
	}
	for _, u := range redirectURIs {
		if err := checkRedirectURI(u, public); err != nil {
			return nil, "", err
		}
	}
	c := &coffer.OIDCClient{ID: randomString("", 12), Name: name, RedirectURIs: redirectURIs, Public: public, CreatedAt: p.now()}
	secret := ""
	if !public {
		secret = randomString("cfs_", 32)
		c.SecretHash = hashOf(secret)
	}
	if err := p.store.CreateOIDCClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

func checkRedirectURI(s string, public bool) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Fragment != "" {
		return coffer.Errorf(coffer.EINVALID, "Redirect URI %q must be an absolute URL without a fragment.", s)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case public && u.Scheme != "http" && u.Scheme != "https":
	default:
		return coffer.Errorf(coffer.EINVALID, "Redirect URI %q must use https (http only on a loopback address).", s)
	}
	return nil
}

// checkIssuer refuses an issuer that is not a bare https origin, or http
// on a loopback host; insecure reports the latter. The library itself
// would take plain http for any host once allowed.
func checkIssuer(s string) (insecure bool, err error) {
	if s == "" {
		return false, errors.New("oidcprov: no issuer: the server's public URL must be configured")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") {
		return false, fmt.Errorf("oidcprov: issuer %q must be a bare origin such as https://coffer.example", s)
	}
	switch {
	case u.Scheme == "https":
		return false, nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return true, nil
	}
	return false, fmt.Errorf("oidcprov: issuer %q must use https (http only on a loopback host)", s)
}

// isLoopback reports whether host names this machine: localhost or a
// loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// acrOf is the authentication context class for the methods used: 2 for
// two factors, 1 for a password alone.
func acrOf(amr []string) string {
	if slices.Contains(amr, "mfa") {
		return "urn:coffer:loa:2"
	}
	return "urn:coffer:loa:1"
}

// errNotFound is what the library treats as a plain refusal.
var errNotFound = errors.New("not found")
