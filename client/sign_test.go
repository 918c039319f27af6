package client

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer/httpsig"
)

// signedRequest is what the test server saw of one signed request.
type signedRequest struct {
	keyID, nonce string
	created      int64
	covers       []string
	verified     bool
	auth         string
	err          error
}

// verifyingServer checks every request's signature with pub, the way the
// coffer server does, and records what it saw. respond answers the nth
// request (counting from 0).
func verifyingServer(t *testing.T, pub ed25519.PublicKey, respond func(n int, w http.ResponseWriter)) (*httptest.Server, func() []signedRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []signedRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s signedRequest
		s.auth = r.Header.Get("Authorization")
		body, _ := io.ReadAll(r.Body)
		func() {
			ins, err := httpsig.ParseSignatureInput(r.Header.Get("Signature-Input"))
			if err != nil || len(ins) != 1 {
				s.err = err
				return
			}
			sigs, err := httpsig.ParseSignature(r.Header.Get("Signature"))
			if err != nil || len(sigs) != 1 {
				s.err = err
				return
			}
			in := ins[0]
			s.keyID, _ = in.String("keyid")
			s.nonce, _ = in.String("nonce")
			s.created, _ = in.Int("created")
			s.covers = in.Names()
			if len(body) > 0 {
				if s.err = httpsig.VerifyContentDigest(r.Header.Get("Content-Digest"), body); s.err != nil {
					return
				}
			}
			base, err := httpsig.Base(r, in)
			if err != nil {
				s.err = err
				return
			}
			s.verified = httpsig.Verify(pub, base, sigs[0].Value)
		}()
		mu.Lock()
		n := len(seen)
		seen = append(seen, s)
		mu.Unlock()
		respond(n, w)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []signedRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]signedRequest(nil), seen...)
	}
}

func TestWithSigner(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	const keyID = "key_abcdefghijklmnopqrstuvwxyz"

	t.Run("SignsEveryRequest", func(t *testing.T) {
		srv, seen := verifyingServer(t, pub, func(n int, w http.ResponseWriter) {
			writeJSON(w, 200, map[string]any{"purses": []any{}})
		})
		c := New(srv.URL, WithSigner(keyID, priv))
		before := time.Now().Unix()
		if _, err := c.Purses(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Purses(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := seen()
		if len(got) != 2 {
			t.Fatalf("server saw %d requests, want 2", len(got))
		}
		for _, s := range got {
			if s.err != nil || !s.verified {
				t.Fatalf("request not verified: %+v", s)
			}
			if s.keyID != keyID || len(s.nonce) < 16 || s.created < before || s.created > time.Now().Unix() {
				t.Errorf("got keyid %q nonce %q created %d", s.keyID, s.nonce, s.created)
			}
			if s.auth != "" {
				t.Errorf("a signed request without a token sent Authorization %q", s.auth)
			}
			if len(s.covers) != 2 || s.covers[0] != "@method" || s.covers[1] != "@target-uri" {
				t.Errorf("a request without body covers %v, want @method @target-uri", s.covers)
			}
		}
		if got[0].nonce == got[1].nonce {
			t.Error("two requests carried the same nonce")
		}
	})

	t.Run("RetriesAreSignedAnew", func(t *testing.T) {
		srv, seen := verifyingServer(t, pub, func(n int, w http.ResponseWriter) {
			if n < 2 {
				problem(w, 503, "unavailable", "Unavailable", "busy")
				return
			}
			writeJSON(w, 201, map[string]any{"transfer_id": "t1", "status": "applied", "amount": "1.00"})
		})
		c := New(srv.URL, WithRetry(5, time.Millisecond, time.Millisecond), WithSigner(keyID, priv))
		tr, err := c.Send(context.Background(), TransferRequest{TransferID: "t1", From: "Z100000000001", To: "Z100000000002", Amount: "1.00"})
		if err != nil || tr.Status != StatusApplied {
			t.Fatalf("Send = %+v, %v", tr, err)
		}
		got := seen()
		if len(got) != 3 {
			t.Fatalf("server saw %d requests, want 3", len(got))
		}
		nonces := map[string]bool{}
		for _, s := range got {
			if s.err != nil || !s.verified {
				t.Fatalf("request not verified: %+v", s)
			}
			if len(s.covers) != 3 || s.covers[2] != "content-digest" {
				t.Errorf("a request with a body covers %v, want content-digest too", s.covers)
			}
			nonces[s.nonce] = true
		}
		if len(nonces) != 3 {
			t.Errorf("three attempts carried %d distinct nonces, want 3", len(nonces))
		}
	})

	t.Run("KeepsCallersHTTPClient", func(t *testing.T) {
		hc := &http.Client{Timeout: time.Second}
		New("http://127.0.0.1:1", WithHTTPClient(hc), WithSigner(keyID, priv))
		if hc.Transport != nil {
			t.Error("WithSigner changed the caller's http.Client")
		}
	})

	t.Run("WrongKeyDoesNotVerify", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(nil)
		srv, seen := verifyingServer(t, pub, func(n int, w http.ResponseWriter) {
			writeJSON(w, 200, map[string]any{"purses": []any{}})
		})
		c := New(srv.URL, WithSigner(keyID, other))
		c.Purses(context.Background())
		if s := seen(); len(s) != 1 || s[0].verified {
			t.Errorf("a signature by another key verified: %+v", s)
		}
	})
}
