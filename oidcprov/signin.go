package oidcprov

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Claim is one claim a scope releases, with the member's value.
type Claim struct {
	Scope string
	Name  string // the claim's name in tokens
	Label string // as the member reads it
	Value string
	parts []string
}

// Scope is one scope a site asked for, as the consent screen shows it.
type Scope struct {
	Name   string
	Label  string
	Claims []Claim // the values it would release; empty when the member has none
}

// SignInRequest is a pending authorization request as the login and
// consent pages show it.
type SignInRequest struct {
	ID         string
	ClientID   string
	ClientName string
	// Origin is the redirect URI's origin, where the browser goes next.
	Origin string
	// Scopes are the scopes asked beyond openid, in a stable order.
	Scopes []Scope
	// Consented is true when the member already allowed every scope asked.
	Consented bool
}

var scopeLabels = map[string]string{
	oidc.ScopeProfile:       "Your name and date of birth",
	oidc.ScopeEmail:         "Your e-mail address",
	oidc.ScopePhone:         "Your phone number",
	oidc.ScopeAddress:       "Your postal address",
	ScopeCofferLevel:        "Your verification level",
	oidc.ScopeOfflineAccess: "Stay signed in when you are away (refresh tokens)",
}

var scopeOrder = []string{oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeAddress, ScopeCofferLevel, oidc.ScopeOfflineAccess}

// claims returns the claims the scopes release, with the member's values;
// a field the member has not entered releases nothing.
func (p *Provider) claims(ctx context.Context, memberID string, scopes []string) ([]Claim, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	prof, err := p.store.Profile(ctx, memberID)
	if err != nil {
		return nil, err
	}
	m, err := p.store.MemberByLogin(ctx, memberID)
	if err != nil {
		return nil, err
	}
	v := prof.Values
	var out []Claim
	add := func(scope, name, label, value string) {
		if value != "" {
			out = append(out, Claim{Scope: scope, Name: name, Label: label, Value: value})
		}
	}
	for _, sc := range scopeOrder {
		if !slices.Contains(scopes, sc) {
			continue
		}
		switch sc {
		case oidc.ScopeProfile:
			add(sc, "given_name", "First name", v[coffer.FieldFirstName])
			add(sc, "family_name", "Last name", v[coffer.FieldLastName])
			add(sc, "birthdate", "Date of birth", v[coffer.FieldDateOfBirth])
		case oidc.ScopeEmail:
			add(sc, "email", "E-mail", m.Email)
		case oidc.ScopePhone:
			add(sc, "phone_number", "Phone", m.Phone)
		case oidc.ScopeAddress:
			a, c, k := v[coffer.FieldPostalAddress], v[coffer.FieldCity], v[coffer.FieldCountry]
			if a != "" || c != "" || k != "" {
				out = append(out, Claim{Scope: sc, Name: "address", Label: "Address",
					Value: strings.Trim(strings.Join([]string{a, c, k}, ", "), ", "), parts: []string{a, c, k}})
			}
		case ScopeCofferLevel:
			st, err := p.store.MemberStatus(ctx, memberID)
			if err != nil {
				return nil, err
			}
			add(sc, ScopeCofferLevel, "Verification level", st.Level)
		}
	}
	return out, nil
}

// request loads a live request that has not been approved yet.
func (p *Provider) request(ctx context.Context, id string) (*authRequest, *coffer.OIDCClient, error) {
	rec, err := p.store.OIDCAuthRequest(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && !p.now().Before(rec.ExpiresAt)) {
		return nil, nil, coffer.Errorf(coffer.ENOTFOUND, "This sign-in request has expired. Go back to the site and sign in again.")
	}
	if err != nil {
		return nil, nil, err
	}
	a, err := decodeRequest(rec)
	if err != nil {
		return nil, nil, err
	}
	if a.Done() {
		return nil, nil, coffer.Errorf(coffer.ECONFLICT, "This sign-in request was answered already. Go back to the site and sign in again.")
	}
	c, err := p.store.OIDCClient(ctx, rec.ClientID)
	if err != nil {
		return nil, nil, err
	}
	return a, c, nil
}

// SignInRequest describes a pending request to memberID. Errors:
// ENOTFOUND (unknown or expired), ECONFLICT (answered already).
func (p *Provider) SignInRequest(ctx context.Context, id, memberID string) (*SignInRequest, error) {
	a, c, err := p.request(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &SignInRequest{ID: id, ClientID: c.ID, ClientName: c.Name, Consented: true}
	if u, err := url.Parse(a.d.RedirectURI); err == nil {
		out.Origin = u.Scheme + "://" + u.Host
	}
	var consented []string
	if cs, err := p.store.OIDCConsent(ctx, memberID, c.ID); err == nil {
		consented = cs.Scopes
	} else if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return nil, err
	}
	claims, err := p.claims(ctx, memberID, a.d.Scopes)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopeOrder {
		if !slices.Contains(a.d.Scopes, sc) {
			continue
		}
		s := Scope{Name: sc, Label: scopeLabels[sc]}
		for _, cl := range claims {
			if cl.Scope == sc {
				s.Claims = append(s.Claims, cl)
			}
		}
		out.Scopes = append(out.Scopes, s)
		if !slices.Contains(consented, sc) {
			out.Consented = false
		}
	}
	return out, nil
}

// Approve completes a request for the member, who logged in with amr at
// authTime and allowed the scopes granted (scopes not asked are ignored;
// openid is implied). The consent is remembered for the site until the
// member revokes it. It returns the URL to send the browser to.
func (p *Provider) Approve(ctx context.Context, id, memberID string, amr []string, authTime time.Time, granted []string) (string, error) {
	a, c, err := p.request(ctx, id)
	if err != nil {
		return "", err
	}
	scopes := []string{oidc.ScopeOpenID}
	for _, sc := range a.d.Scopes {
		if sc != oidc.ScopeOpenID && slices.Contains(granted, sc) && slices.Contains(scopeOrder, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	a.d.Scopes, a.d.AMR, a.d.AuthTime, a.d.Done = scopes, amr, authTime.UTC(), true
	a.rec.MemberID = memberID
	a.rec.Data, _ = json.Marshal(a.d)
	if err := p.store.SetOIDCConsent(ctx, &coffer.OIDCConsent{MemberID: memberID, ClientID: c.ID, Scopes: scopes, CreatedAt: p.now()}); err != nil {
		return "", err
	}
	if err := p.store.UpdateOIDCAuthRequest(ctx, a.rec); err != nil {
		return "", err
	}
	return PathPrefix + "authorize/callback?id=" + url.QueryEscape(id), nil
}

// Deny refuses a request; the site gets access_denied. It returns the
// URL to send the browser to.
func (p *Provider) Deny(ctx context.Context, id string) (string, error) {
	a, _, err := p.request(ctx, id)
	if err != nil {
		return "", err
	}
	if err := p.store.DeleteOIDCAuthRequest(ctx, id); err != nil {
		return "", err
	}
	u, err := url.Parse(a.d.RedirectURI)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("error", "access_denied")
	q.Set("error_description", "The member did not allow the sign-in.")
	if a.d.State != "" {
		q.Set("state", a.d.State)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// RecordLogin records how a web session's member authenticated, for the
// amr and acr claims of the sign-ins made with it.
func (p *Provider) RecordLogin(ctx context.Context, sess *coffer.Session, amr []string) error {
	return p.store.SetSessionAMR(ctx, sess.ID, amr, sess.ExpiresAt)
}

// SessionAMR returns how a session's member authenticated; a session
// opened before this was recorded counts as a password login.
func (p *Provider) SessionAMR(ctx context.Context, sess *coffer.Session) ([]string, error) {
	amr, err := p.store.SessionAMR(ctx, sess.ID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return []string{"pwd"}, nil
	}
	return amr, err
}

// Site is a site the member allowed to sign them in.
type Site struct {
	ClientID, Name string
	Scopes         []string
	Since          time.Time
}

// Sites lists the sites a member consented to.
func (p *Provider) Sites(ctx context.Context, memberID string) ([]Site, error) {
	list, err := p.store.OIDCConsents(ctx, memberID)
	if err != nil {
		return nil, err
	}
	out := make([]Site, 0, len(list))
	for _, c := range list {
		name := c.ClientID
		if cl, err := p.store.OIDCClient(ctx, c.ClientID); err == nil {
			name = cl.Name
		}
		out = append(out, Site{ClientID: c.ClientID, Name: name, Scopes: c.Scopes, Since: c.CreatedAt})
	}
	return out, nil
}

// RevokeSite withdraws a member's consent to a site and ends the tokens
// the site holds. Errors: ENOTFOUND.
func (p *Provider) RevokeSite(ctx context.Context, memberID, clientID string) error {
	return p.store.DeleteOIDCConsent(ctx, memberID, clientID)
}
