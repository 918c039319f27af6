package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coffer-money/coffer/httpsig"
)

// TestCofferd_SignedReplayAfterRestart: a signed request captured on the
// wire is refused when replayed after cofferd restarts (gracefully, and
// after a crash) on SQLite: the nonce is kept in the store until the
// signature could no longer be accepted, not only in the process's
// memory. The replay creates no second purse.
func TestCofferd_SignedReplayAfterRestart(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	issuer := registerMember(t, s)
	adminIssuerAdd(t, data, issuer.id, "USD", "1000.00")
	m := registerMember(t, s)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		KeyID string `json:"key_id"`
	}
	s.must(t, "POST", "/v1/keys", m.token, map[string]string{"name": "shop", "public_key": base64.StdEncoding.EncodeToString(pub)},
		http.StatusCreated, &key)

	// The request as it went over the wire, signed once.
	body := []byte(`{"currency":"USD"}`)
	req, err := http.NewRequest("POST", s.url+"/v1/purses", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := httpsig.Sign(req, body, priv, httpsig.SignOptions{KeyID: key.KeyID, Created: time.Now().Unix(), Nonce: rand.Text()}); err != nil {
		t.Fatal(err)
	}
	send := func(s *e2eServer) (int, string) {
		t.Helper()
		r := req.Clone(req.Context())
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp, err := s.http.Do(r)
		if err != nil {
			t.Fatalf("signed request: %v", err)
		}
		defer resp.Body.Close()
		var p struct {
			Code string `json:"code"`
		}
		data, _ := io.ReadAll(resp.Body)
		json.Unmarshal(data, &p)
		return resp.StatusCode, p.Code
	}
	purses := func(s *e2eServer) int {
		t.Helper()
		var out struct {
			Purses []struct{} `json:"purses"`
		}
		s.must(t, "GET", "/v1/purses", m.token, nil, http.StatusOK, &out)
		return len(out.Purses)
	}
	if status, code := send(s); status != http.StatusCreated {
		t.Fatalf("signed request: got %d %s, want 201", status, code)
	}
	if status, code := send(s); status != http.StatusUnauthorized || code != "signature_replayed" {
		t.Fatalf("replay to the same process: got %d %s, want 401 signature_replayed", status, code)
	}
	// The signature covers the URL: the server comes back on its address.
	_, port, _ := net.SplitHostPort(req.URL.Host)
	for _, restart := range []struct {
		name string
		end  func(*e2eServer)
	}{
		{"graceful restart", func(s *e2eServer) {
			if code := s.stop(); code != 0 {
				t.Fatalf("cofferd exited with %d", code)
			}
		}},
		{"crash", (*e2eServer).kill},
	} {
		restart.end(s)
		s = startServerWith(t, data, "--addr", "127.0.0.1:"+port)
		if status, code := send(s); status != http.StatusUnauthorized || code != "signature_replayed" {
			t.Fatalf("replay after a %s: got %d %s, want 401 signature_replayed", restart.name, status, code)
		}
		if n := purses(s); n != 1 {
			t.Fatalf("after the replay following a %s the member has %d purses, want 1", restart.name, n)
		}
	}
}
