package oidcprov

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage adapts the store to op.Storage.
type storage struct{ p *Provider }

// authData is an authorization request's parameters and outcome, kept as
// JSON in coffer.OIDCAuthRequest.Data.
type authData struct {
	RedirectURI     string    `json:"redirect_uri"`
	State           string    `json:"state,omitempty"`
	Nonce           string    `json:"nonce,omitempty"`
	ResponseType    string    `json:"response_type"`
	ResponseMode    string    `json:"response_mode,omitempty"`
	Scopes          []string  `json:"scopes"`
	Challenge       string    `json:"code_challenge,omitempty"`
	ChallengeMethod string    `json:"code_challenge_method,omitempty"`
	AMR             []string  `json:"amr,omitempty"`
	AuthTime        time.Time `json:"auth_time"`
	Done            bool      `json:"done,omitempty"`
}

// authRequest implements op.AuthRequest.
type authRequest struct {
	rec *coffer.OIDCAuthRequest
	d   authData
}

func (a *authRequest) GetID() string                      { return a.rec.ID }
func (a *authRequest) GetACR() string                     { return acrOf(a.d.AMR) }
func (a *authRequest) GetAMR() []string                   { return a.d.AMR }
func (a *authRequest) GetAudience() []string              { return []string{a.rec.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.d.AuthTime }
func (a *authRequest) GetClientID() string                { return a.rec.ClientID }
func (a *authRequest) GetNonce() string                   { return a.d.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.d.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.d.ResponseType) }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.d.ResponseMode) }
func (a *authRequest) GetScopes() []string                { return a.d.Scopes }
func (a *authRequest) GetState() string                   { return a.d.State }
func (a *authRequest) GetSubject() string                 { return a.rec.MemberID }
func (a *authRequest) Done() bool                         { return a.d.Done && a.rec.MemberID != "" }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.d.Challenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.d.Challenge, Method: oidc.CodeChallengeMethod(a.d.ChallengeMethod)}
}

func decodeRequest(rec *coffer.OIDCAuthRequest) (*authRequest, error) {
	a := &authRequest{rec: rec}
	if err := json.Unmarshal(rec.Data, &a.d); err != nil {
		return nil, err
	}
	return a, nil
}

// grant is what a token carries: kept as JSON in coffer.OIDCToken.Data.
type grant struct {
	Scopes   []string  `json:"scopes"`
	AMR      []string  `json:"amr,omitempty"`
	AuthTime time.Time `json:"auth_time"`
}

// refreshRequest implements op.RefreshTokenRequest.
type refreshRequest struct {
	tok *coffer.OIDCToken
	g   grant
	raw string
}

func (r *refreshRequest) GetAMR() []string            { return r.g.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.tok.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.g.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.tok.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.g.Scopes }
func (r *refreshRequest) GetSubject() string          { return r.tok.MemberID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.g.Scopes = s }

// client implements op.Client.
type client struct{ c *coffer.OIDCClient }

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return nil }
func (c *client) ApplicationType() op.ApplicationType {
	if c.c.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string           { return LoginPath + "?id=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return time.Hour }

// DevMode lets a web client redirect to plain http, which registration
// allows only on loopback addresses.
func (c *client) DevMode() bool { return true }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(scope string) bool     { return scope == ScopeCofferLevel }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// CreateAuthRequest implements op.Storage. PKCE is required of public
// clients, and only S256 is accepted from anyone.
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.p.store.OIDCClient(ctx, req.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if req.CodeChallenge == "" && c.Public {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE with S256)")
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("only the authorization code flow is supported")
	}
	d := authData{RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce, ResponseType: string(req.ResponseType),
		ResponseMode: string(req.ResponseMode), Scopes: req.Scopes, Challenge: req.CodeChallenge, ChallengeMethod: string(req.CodeChallengeMethod)}
	b, _ := json.Marshal(d)
	now := s.p.now()
	rec := &coffer.OIDCAuthRequest{ID: randomString("", 18), ClientID: c.ID, Data: b, CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.RequestLifetime)}
	if err := s.p.store.CreateOIDCAuthRequest(ctx, rec); err != nil {
		return nil, err
	}
	return &authRequest{rec: rec, d: d}, nil
}

func (s *storage) liveRequest(rec *coffer.OIDCAuthRequest, err error) (op.AuthRequest, error) {
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, oidc.ErrInvalidGrant().WithDescription("unknown, used or expired request")
		}
		return nil, err
	}
	if !s.p.now().Before(rec.ExpiresAt) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the request has expired")
	}
	return decodeRequest(rec)
}

// AuthRequestByID implements op.Storage.
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.liveRequest(s.p.store.OIDCAuthRequest(ctx, id))
}

// AuthRequestByCode implements op.Storage. Taking the code deletes the
// request: a code is exchanged at most once.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	return s.liveRequest(s.p.store.TakeOIDCAuthCode(ctx, hashOf(code)))
}

// SaveAuthCode implements op.Storage.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.p.store.SetOIDCAuthCode(ctx, id, hashOf(code))
}

// DeleteAuthRequest implements op.Storage.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.p.store.DeleteOIDCAuthRequest(ctx, id)
}

// grantOf reads who and what a token request is for.
func grantOf(req op.TokenRequest) (clientID string, g grant, err error) {
	switch r := req.(type) {
	case *authRequest:
		return r.rec.ClientID, grant{Scopes: r.d.Scopes, AMR: r.d.AMR, AuthTime: r.d.AuthTime}, nil
	case *refreshRequest:
		return r.tok.ClientID, r.g, nil
	}
	return "", grant{}, oidc.ErrUnsupportedGrantType()
}

func (s *storage) newToken(kind, id, clientID, memberID string, g grant, life time.Duration) *coffer.OIDCToken {
	b, _ := json.Marshal(g)
	now := s.p.now()
	return &coffer.OIDCToken{ID: id, Kind: kind, ClientID: clientID, MemberID: memberID, Data: b, CreatedAt: now, ExpiresAt: now.Add(life)}
}

// CreateAccessToken implements op.Storage.
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	clientID, g, err := grantOf(req)
	if err != nil {
		return "", time.Time{}, err
	}
	t := s.newToken(coffer.OIDCAccessToken, randomString("", 24), clientID, req.GetSubject(), g, s.p.cfg.AccessTokenLifetime)
	if err := s.p.store.CreateOIDCToken(ctx, t); err != nil {
		return "", time.Time{}, err
	}
	return t.ID, t.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. A refresh token is
// rotated: the one presented is deleted in the transaction that stores
// its successor, so it works once.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	clientID, g, err := grantOf(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	at := s.newToken(coffer.OIDCAccessToken, randomString("", 24), clientID, req.GetSubject(), g, s.p.cfg.AccessTokenLifetime)
	refresh := randomString("cfr_", 32)
	rt := s.newToken(coffer.OIDCRefreshToken, tokenID(refresh), clientID, req.GetSubject(), g, s.p.cfg.RefreshTokenLifetime)
	if current != "" {
		err = s.p.store.RotateOIDCToken(ctx, tokenID(current), at, rt)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was used already or revoked")
		}
	} else {
		err = s.p.store.CreateOIDCToken(ctx, at)
		if err == nil {
			err = s.p.store.CreateOIDCToken(ctx, rt)
		}
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	return at.ID, refresh, at.ExpiresAt, nil
}

func (s *storage) liveToken(ctx context.Context, id, kind string) (*coffer.OIDCToken, grant, error) {
	var g grant
	t, err := s.p.store.OIDCToken(ctx, id)
	if err != nil {
		return nil, g, err
	}
	if t.Kind != kind || !s.p.now().Before(t.ExpiresAt) {
		return nil, g, coffer.Errorf(coffer.ENOTFOUND, "expired")
	}
	if err := json.Unmarshal(t.Data, &g); err != nil {
		return nil, g, err
	}
	return t, g, nil
}

// TokenRequestByRefreshToken implements op.Storage.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, refresh string) (op.RefreshTokenRequest, error) {
	t, g, err := s.liveToken(ctx, tokenID(refresh), coffer.OIDCRefreshToken)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
		}
		return nil, err
	}
	return &refreshRequest{tok: t, g: g, raw: refresh}, nil
}

// TerminateSession implements op.Storage: signing out of a site ends the
// tokens it holds for the member.
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return s.p.store.DeleteOIDCTokens(ctx, userID, clientID)
}

// RevokeToken implements op.Storage.
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	id := tokenOrID
	if userID == "" {
		id = tokenID(tokenOrID)
	}
	t, err := s.p.store.OIDCToken(ctx, id)
	if err != nil {
		return nil // an unknown token is revoked already (RFC 7009)
	}
	if t.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was issued to another client")
	}
	if err := s.p.store.DeleteOIDCToken(ctx, id); err != nil {
		return oidc.ErrServerError()
	}
	return nil
}

// GetRefreshTokenInfo implements op.Storage.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, _, err := s.liveToken(ctx, tokenID(token), coffer.OIDCRefreshToken)
	if err != nil || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.MemberID, t.ID, nil
}

// GetClientByClientID implements op.Storage.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.store.OIDCClient(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, errNotFound
	}
	if err != nil {
		return nil, oidc.ErrServerError()
	}
	return &client{c}, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.p.store.OIDCClient(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return errNotFound
	}
	if err != nil {
		return oidc.ErrServerError()
	}
	if c.Public || subtle.ConstantTimeCompare(hashOf(secret), c.SecretHash) != 1 {
		return errors.New("wrong client secret")
	}
	return nil
}

// SetUserinfoFromScopes implements op.Storage; SetUserinfoFromRequest
// does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.p.setUserinfo(ctx, info, req.GetSubject(), req.GetClientID(), scopes)
}

// SetUserinfoFromToken implements op.Storage (the userinfo endpoint).
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, id, _, _ string) error {
	t, g, err := s.liveToken(ctx, id, coffer.OIDCAccessToken)
	if err != nil {
		return oidc.ErrAccessDenied().WithDescription("invalid access token")
	}
	return s.p.setUserinfo(ctx, info, t.MemberID, t.ClientID, g.Scopes)
}

// SetIntrospectionFromToken implements op.Storage.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, id, _, clientID string) error {
	t, g, err := s.liveToken(ctx, id, coffer.OIDCAccessToken)
	if err != nil || t.ClientID != clientID {
		return errors.New("token not active")
	}
	resp.Active = true
	resp.Subject = t.MemberID
	resp.ClientID = t.ClientID
	resp.Scope = g.Scopes
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.Audience = []string{t.ClientID}
	return nil
}

// GetPrivateClaimsFromScopes implements op.Storage; access tokens are
// opaque, so there are none.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.Storage; the JWT profile grant is
// not offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

// ValidateJWTProfileScopes implements op.Storage; not offered.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

// Health implements op.Storage.
func (s *storage) Health(context.Context) error { return nil }

// setUserinfo puts the claims of the scopes that are both asked and
// consented to: sub always; the rest only as the member allowed.
func (p *Provider) setUserinfo(ctx context.Context, info *oidc.UserInfo, memberID, clientID string, scopes []string) error {
	info.Subject = memberID
	consent, err := p.store.OIDCConsent(ctx, memberID, clientID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(consent.Scopes, sc) {
			granted = append(granted, sc)
		}
	}
	claims, err := p.claims(ctx, memberID, granted)
	if err != nil {
		return err
	}
	for _, c := range claims {
		switch c.Name {
		case "given_name":
			info.GivenName = c.Value
		case "family_name":
			info.FamilyName = c.Value
		case "birthdate":
			info.Birthdate = c.Value
		case "email":
			info.Email = c.Value
		case "phone_number":
			info.PhoneNumber = c.Value
		case "address":
			info.Address = &oidc.UserInfoAddress{StreetAddress: c.parts[0], Locality: c.parts[1], Country: c.parts[2]}
		default:
			info.AppendClaims(c.Name, c.Value)
		}
	}
	return nil
}
