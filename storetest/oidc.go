package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func testOIDC(t *testing.T, s coffer.Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	m := member(t, s, "", "")

	t.Run("Clients", func(t *testing.T) {
		c := &coffer.OIDCClient{ID: "cl_a", Name: "Shop", SecretHash: []byte{1, 2}, RedirectURIs: []string{"https://shop.example/cb"}, CreatedAt: now}
		if err := s.CreateOIDCClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateOIDCClient(ctx, c), coffer.ECONFLICT)
		pub := &coffer.OIDCClient{ID: "cl_b", Name: "App", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "app:/cb"}, CreatedAt: now.Add(time.Second)}
		if err := s.CreateOIDCClient(ctx, pub); err != nil {
			t.Fatal(err)
		}
		got, err := s.OIDCClient(ctx, "cl_a")
		if err != nil || got.Name != "Shop" || !bytes.Equal(got.SecretHash, c.SecretHash) || got.Public || !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !got.CreatedAt.Equal(now) {
			t.Fatalf("OIDCClient = %+v, %v; want %+v", got, err, c)
		}
		got, err = s.OIDCClient(ctx, "cl_b")
		if err != nil || !got.Public || got.SecretHash != nil || len(got.RedirectURIs) != 2 {
			t.Fatalf("OIDCClient(public) = %+v, %v", got, err)
		}
		_, err = s.OIDCClient(ctx, "nope")
		wantCode(t, err, coffer.ENOTFOUND)
		list, err := s.OIDCClients(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "cl_a" || list[1].ID != "cl_b" {
			t.Fatalf("OIDCClients = %v, %v; want cl_a, cl_b", list, err)
		}
	})

	t.Run("AuthRequests", func(t *testing.T) {
		r := &coffer.OIDCAuthRequest{ID: "ar1", ClientID: "cl_a", Data: []byte(`{"x":1}`), CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := s.CreateOIDCAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.MemberID, r.Data = m.ID, []byte(`{"x":2}`)
		if err := s.UpdateOIDCAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.OIDCAuthRequest(ctx, "ar1")
		if err != nil || got.MemberID != m.ID || string(got.Data) != `{"x":2}` || got.CodeHash != nil || !got.ExpiresAt.Equal(r.ExpiresAt) {
			t.Fatalf("OIDCAuthRequest = %+v, %v", got, err)
		}
		wantCode(t, s.UpdateOIDCAuthRequest(ctx, &coffer.OIDCAuthRequest{ID: "nope"}), coffer.ENOTFOUND)
		wantCode(t, s.SetOIDCAuthCode(ctx, "nope", []byte("c")), coffer.ENOTFOUND)
		if err := s.SetOIDCAuthCode(ctx, "ar1", []byte("code1")); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.SetOIDCAuthCode(ctx, "ar1", []byte("code2")), coffer.ECONFLICT)
		_, err = s.TakeOIDCAuthCode(ctx, []byte("other"))
		wantCode(t, err, coffer.ENOTFOUND)
		got, err = s.TakeOIDCAuthCode(ctx, []byte("code1"))
		if err != nil || got.ID != "ar1" || got.MemberID != m.ID {
			t.Fatalf("TakeOIDCAuthCode = %+v, %v", got, err)
		}
		_, err = s.TakeOIDCAuthCode(ctx, []byte("code1"))
		wantCode(t, err, coffer.ENOTFOUND) // a code is used once
		_, err = s.OIDCAuthRequest(ctx, "ar1")
		wantCode(t, err, coffer.ENOTFOUND)

		old := &coffer.OIDCAuthRequest{ID: "ar2", ClientID: "cl_a", Data: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateOIDCAuthRequest(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOIDCAuthRequest(ctx, "ar2"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOIDCAuthRequest(ctx, "ar2"); err != nil {
			t.Fatalf("DeleteOIDCAuthRequest of a gone request: %v", err)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		rt := &coffer.OIDCToken{ID: "rt1", Kind: coffer.OIDCRefreshToken, ClientID: "cl_a", MemberID: m.ID, Data: []byte(`{"s":1}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateOIDCToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateOIDCToken(ctx, rt), coffer.ECONFLICT)
		got, err := s.OIDCToken(ctx, "rt1")
		if err != nil || got.Kind != coffer.OIDCRefreshToken || got.MemberID != m.ID || string(got.Data) != `{"s":1}` || !got.ExpiresAt.Equal(rt.ExpiresAt) {
			t.Fatalf("OIDCToken = %+v, %v", got, err)
		}
		at := &coffer.OIDCToken{ID: "at2", Kind: coffer.OIDCAccessToken, ClientID: "cl_a", MemberID: m.ID, Data: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		rt2 := &coffer.OIDCToken{ID: "rt2", Kind: coffer.OIDCRefreshToken, ClientID: "cl_a", MemberID: m.ID, Data: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.RotateOIDCToken(ctx, "rt1", at, rt2); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.RotateOIDCToken(ctx, "rt1", &coffer.OIDCToken{ID: "rt3", Kind: coffer.OIDCRefreshToken, ClientID: "cl_a", MemberID: m.ID, Data: []byte(`{}`)}), coffer.ENOTFOUND)
		_, err = s.OIDCToken(ctx, "rt3")
		wantCode(t, err, coffer.ENOTFOUND)                           // a failed rotation stores nothing
		wantCode(t, s.RotateOIDCToken(ctx, "at2"), coffer.ENOTFOUND) // only refresh tokens rotate
		if _, err := s.OIDCToken(ctx, "rt2"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOIDCToken(ctx, "at2"); err != nil {
			t.Fatal(err)
		}
		_, err = s.OIDCToken(ctx, "at2")
		wantCode(t, err, coffer.ENOTFOUND)
		if err := s.DeleteOIDCTokens(ctx, m.ID, "cl_a"); err != nil {
			t.Fatal(err)
		}
		_, err = s.OIDCToken(ctx, "rt2")
		wantCode(t, err, coffer.ENOTFOUND)

		exp := &coffer.OIDCToken{ID: "old", Kind: coffer.OIDCAccessToken, ClientID: "cl_a", MemberID: m.ID, Data: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(-time.Second)}
		if err := s.CreateOIDCToken(ctx, exp); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteExpiredOIDC(ctx, now); err != nil || n != 1 {
			t.Fatalf("DeleteExpiredOIDC = %d, %v; want 1", n, err)
		}
	})

	t.Run("Consents", func(t *testing.T) {
		_, err := s.OIDCConsent(ctx, m.ID, "cl_a")
		wantCode(t, err, coffer.ENOTFOUND)
		c := &coffer.OIDCConsent{MemberID: m.ID, ClientID: "cl_a", Scopes: []string{"openid", "email"}, CreatedAt: now}
		if err := s.SetOIDCConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Scopes = []string{"openid", "profile"}
		if err := s.SetOIDCConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.OIDCConsent(ctx, m.ID, "cl_a")
		if err != nil || !slices.Equal(got.Scopes, c.Scopes) {
			t.Fatalf("OIDCConsent = %+v, %v; want scopes %v", got, err, c.Scopes)
		}
		list, err := s.OIDCConsents(ctx, m.ID)
		if err != nil || len(list) != 1 || list[0].ClientID != "cl_a" {
			t.Fatalf("OIDCConsents = %v, %v", list, err)
		}
		tok := &coffer.OIDCToken{ID: "rt9", Kind: coffer.OIDCRefreshToken, ClientID: "cl_a", MemberID: m.ID, Data: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateOIDCToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOIDCConsent(ctx, m.ID, "cl_a"); err != nil {
			t.Fatal(err)
		}
		_, err = s.OIDCToken(ctx, "rt9")
		wantCode(t, err, coffer.ENOTFOUND) // revoking consent revokes the tokens
		wantCode(t, s.DeleteOIDCConsent(ctx, m.ID, "cl_a"), coffer.ENOTFOUND)
	})

	t.Run("SigningKeys", func(t *testing.T) {
		a := &coffer.OIDCSigningKey{ID: "k1", Algorithm: "ES256", Sealed: []byte{9}, CreatedAt: now}
		b := &coffer.OIDCSigningKey{ID: "k2", Algorithm: "ES256", Sealed: []byte{8}, CreatedAt: now.Add(time.Hour)}
		for _, k := range []*coffer.OIDCSigningKey{a, b} {
			if err := s.AddOIDCSigningKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, s.AddOIDCSigningKey(ctx, a), coffer.ECONFLICT)
		list, err := s.OIDCSigningKeys(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "k2" || !bytes.Equal(list[1].Sealed, []byte{9}) {
			t.Fatalf("OIDCSigningKeys = %v, %v; want k2, k1", list, err)
		}
		if err := s.DeleteOIDCSigningKey(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.OIDCSigningKeys(ctx); len(list) != 1 {
			t.Fatalf("after delete: got %d keys, want 1", len(list))
		}
	})

	t.Run("SessionAMR", func(t *testing.T) {
		_, err := s.SessionAMR(ctx, "s1")
		wantCode(t, err, coffer.ENOTFOUND)
		if err := s.SetSessionAMR(ctx, "s1", []string{"pwd", "otp"}, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.SessionAMR(ctx, "s1")
		if err != nil || !slices.Equal(got, []string{"pwd", "otp"}) {
			t.Fatalf("SessionAMR = %v, %v; want [pwd otp]", got, err)
		}
	})

	t.Run("DeleteClient", func(t *testing.T) {
		r := &coffer.OIDCAuthRequest{ID: "ar9", ClientID: "cl_b", Data: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateOIDCAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.SetOIDCConsent(ctx, &coffer.OIDCConsent{MemberID: m.ID, ClientID: "cl_b", Scopes: []string{"openid"}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOIDCClient(ctx, "cl_b"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteOIDCClient(ctx, "cl_b"), coffer.ENOTFOUND)
		_, err := s.OIDCAuthRequest(ctx, "ar9")
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.OIDCConsent(ctx, m.ID, "cl_b")
		wantCode(t, err, coffer.ENOTFOUND)
	})
}
