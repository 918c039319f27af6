package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

var (
	clientIDLine     = regexp.MustCompile(`client_id: (\S+)`)
	clientSecretLine = regexp.MustCompile(`client_secret: (\S+)`)
	csrfField        = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	signinIDField    = regexp.MustCompile(`name="id" value="([^"]+)"`)
)

const rpRedirect = "http://127.0.0.1:9/callback"

// browser is a cookie-keeping client that stops at the site's redirect URI.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "127.0.0.1:9" || strings.Contains(req.URL.Host, "evil") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// signIn follows the authorization URL through the keeper's login and
// consent with a browser and returns the redirect to the site.
func signIn(t *testing.T, s *e2eServer, b *http.Client, authURL, memberID string, scopes ...string) *url.URL {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("authorize led to %s (status %d), want the login page", resp.Request.URL, resp.StatusCode)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the login page:\n%s", page)
	}
	resp, err = b.PostForm(s.url+"/login", url.Values{"csrf": {m[1]}, "login": {memberID}, "password": {e2ePassword}})
	if err != nil {
		t.Fatal(err)
	}
	page = readBody(t, resp)
	if resp.Request.URL.Path != "/signin" || resp.StatusCode != http.StatusOK {
		t.Fatalf("login led to %s (status %d), want the consent page", resp.Request.URL, resp.StatusCode)
	}
	csrf, id := csrfField.FindStringSubmatch(page), signinIDField.FindStringSubmatch(page)
	if csrf == nil || id == nil {
		t.Fatalf("consent page without its form:\n%s", page)
	}
	for _, want := range []string{"Your name and date of birth", "Your verification level", "Your e-mail address"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page does not list %q", want)
		}
	}
	form := url.Values{"csrf": {csrf[1]}, "id": {id[1]}, "action": {"allow"}, "scope": scopes}
	resp, err = b.PostForm(s.url+"/signin", form)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent answered %d at %s, want a redirect to the site", resp.StatusCode, resp.Request.URL)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestCofferd_SignInWithCoffer(t *testing.T) {
	needBinaries(t)
	dir := t.TempDir()
	s := startServer(t, dir)
	ctx := context.Background()

	out, errOut, code := cofferd(t, "admin", "oidc-client", "add", "--data", dir, "--name", "Test Shop", "--redirect-uri", rpRedirect)
	cid, secret := clientIDLine.FindStringSubmatch(out), clientSecretLine.FindStringSubmatch(out)
	if code != 0 || cid == nil || secret == nil {
		t.Fatalf("oidc-client add: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = cofferd(t, "admin", "oidc-client", "add", "--data", dir, "--name", "Test App", "--redirect-uri", rpRedirect, "--public")
	pub := clientIDLine.FindStringSubmatch(out)
	if pub == nil || clientSecretLine.MatchString(out) {
		t.Fatalf("public oidc-client add printed:\n%s", out)
	}
	if out, _, _ := cofferd(t, "admin", "oidc-client", "list", "--data", dir); !strings.Contains(out, "Test Shop") || !strings.Contains(out, "public") {
		t.Fatalf("oidc-client list:\n%s", out)
	}

	member := registerMember(t, s)
	provider, err := oidc.NewProvider(ctx, s.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := oauth2.Config{ClientID: cid[1], ClientSecret: secret[1], Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "coffer_level", oidc.ScopeOfflineAccess}}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1"))

	// The member allows profile and level but not e-mail.
	loc := signIn(t, s, browser(t), authURL, member.id, "profile", "coffer_level", oidc.ScopeOfflineAccess)
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != rpRedirect || loc.Query().Get("state") != "state-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect to the site: %s", loc)
	}
	authCode := loc.Query().Get("code")

	tok, err := cfg.Exchange(ctx, authCode, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: cid[1]}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var claims struct {
		Level string   `json:"coffer_level"`
		AMR   []string `json:"amr"`
		ACR   string   `json:"acr"`
		Email string   `json:"email"`
		Nonce string   `json:"nonce"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != member.id || claims.Level != "pseudonymous" || !slices.Equal(claims.AMR, []string{"pwd"}) || claims.Nonce != "nonce-1" {
		t.Fatalf("ID token: sub %s, claims %+v; want sub %s, level pseudonymous, amr [pwd]", idt.Subject, claims, member.id)
	}
	if claims.Email != "" {
		t.Fatalf("ID token has e-mail %q the member did not allow", claims.Email)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	if info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || info.Subject != member.id {
		t.Fatalf("userinfo = %+v, %v", info, err)
	}

	t.Run("wrong client secret", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		loc := signIn(t, s, browser(t), cfg.AuthCodeURL("state-2", oauth2.S256ChallengeOption(v)), member.id, "profile")
		bad := cfg
		bad.ClientSecret = "cfs_wrong"
		if _, err := bad.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v)); err == nil {
			t.Fatal("exchange with a wrong secret worked")
		}
	})

	t.Run("reused code", func(t *testing.T) {
		if _, err := cfg.Exchange(ctx, authCode, oauth2.VerifierOption(verifier)); err == nil {
			t.Fatal("a code was exchanged twice")
		}
	})

	t.Run("refresh rotates", func(t *testing.T) {
		next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("a used refresh token worked again")
		}
		if info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(next)); err != nil || info.Subject != member.id {
			t.Fatalf("userinfo with the refreshed token = %+v, %v", info, err)
		}
	})

	t.Run("wrong redirect_uri", func(t *testing.T) {
		bad := cfg
		bad.RedirectURL = "http://evil.example/cb"
		resp, err := browser(t).Get(bad.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if strings.Contains(resp.Header.Get("Location"), "evil") || resp.Request.URL.Host == "evil.example" {
			t.Fatal("the provider redirected to an unregistered redirect_uri")
		}
		if resp.StatusCode < 400 {
			t.Fatalf("status %d, want an error", resp.StatusCode)
		}
	})

	t.Run("public client without PKCE", func(t *testing.T) {
		pc := oauth2.Config{ClientID: pub[1], Endpoint: provider.Endpoint(), RedirectURL: rpRedirect, Scopes: []string{oidc.ScopeOpenID}}
		resp, err := browser(t).Get(pc.AuthCodeURL("s2"))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
			t.Fatalf("authorize without PKCE: status %d, Location %q; want error=invalid_request", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("keys", func(t *testing.T) {
		out, errOut, code := cofferd(t, "admin", "oidc-key", "rotate", "--data", dir)
		if code != 0 || !strings.Contains(out, "new signing key") {
			t.Fatalf("oidc-key rotate: exit %d\n%s%s", code, out, errOut)
		}
	})
}
