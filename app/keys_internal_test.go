package app

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func TestKeyState_Nonces(t *testing.T) {
	var ks keyState
	now := time.Unix(1_700_000_000, 0)
	check := func(key, nonce string, at time.Time, want bool) {
		t.Helper()
		got, err := ks.checkNonce("m-"+key, key, nonce, at, 10)
		if err != nil || got != want {
			t.Fatalf("checkNonce(%s, %s) = %v, %v; want %v", key, nonce, got, err, want)
		}
	}
	check("k1", "n1", now, true)
	check("k1", "n1", now.Add(time.Second), false)
	check("k2", "n1", now, true) // nonces are per key
	// Remembered for the whole window in which the signature is accepted…
	window := coffer.SignatureMaxAge + coffer.SignatureMaxSkew
	check("k1", "n1", now.Add(window-time.Second), false)
	// …and forgotten after it, when the signature has expired anyway.
	check("k1", "n1", now.Add(window), true)
	if ks.perMember["m-k2"] != nil || len(ks.nonces) != 1 {
		t.Errorf("after expiry: perMember %v, %d nonces; want only k1's new one", ks.perMember, len(ks.nonces))
	}
}

// TestKeyState_NoncesPerMember: a member's nonces, over all its keys, are
// bounded well below the whole cache; at the bound the member is told to
// wait until its oldest nonce is forgotten, other members go on, and no
// remembered nonce is forgotten early.
func TestKeyState_NoncesPerMember(t *testing.T) {
	var ks keyState
	now := time.Unix(1_700_000_000, 0)
	const bound = 1000
	if defaultNoncesPerMember*20 > maxNonces {
		t.Fatalf("the per-member bound %d is not well below the whole cache %d", defaultNoncesPerMember, maxNonces)
	}
	for i := 0; i < bound; i++ {
		key := fmt.Sprint("busy-key-", i%10) // the member's keys share its bound
		if ok, err := ks.checkNonce("busy", key, fmt.Sprint(i), now.Add(time.Duration(i)*time.Millisecond), bound); !ok || err != nil {
			t.Fatalf("nonce %d: %v, %v", i, ok, err)
		}
	}
	at := now.Add(2 * time.Second)
	_, err := ks.checkNonce("busy", "busy-key-0", "one more", at, bound)
	var rl *RateLimitError
	if coffer.ErrorCode(err) != coffer.ERATELIMITED || !errors.As(err, &rl) {
		t.Fatalf("over the per-member bound: got %v, want rate_limited with a wait", err)
	}
	window := coffer.SignatureMaxAge + coffer.SignatureMaxSkew
	if want := now.Add(window).Sub(at); rl.RetryAfter != want {
		t.Errorf("Retry-After %v, want %v (until the oldest nonce is forgotten)", rl.RetryAfter, want)
	}
	if ok, _ := ks.checkNonce("busy", "busy-key-0", "0", at, bound); ok {
		t.Fatal("a remembered nonce was accepted again at the bound")
	}
	// Other members go on.
	if ok, err := ks.checkNonce("quiet", "quiet-key", "x", at, bound); !ok || err != nil {
		t.Fatalf("another member: %v, %v", ok, err)
	}
	// When the oldest nonce is forgotten there is room for one more.
	if ok, err := ks.checkNonce("busy", "busy-key-0", "one more", now.Add(window), bound); !ok || err != nil {
		t.Fatalf("after the oldest expired: %v, %v", ok, err)
	}
	if _, err := ks.checkNonce("busy", "busy-key-0", "two more", now.Add(window), bound); coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("the second after one expired: got %v, want rate_limited", err)
	}
	// After the window the member has room again, and the queues were compacted.
	later := now.Add(2 * window)
	if ok, err := ks.checkNonce("busy", "busy-key-0", "later", later, bound); !ok || err != nil {
		t.Fatalf("after the window: %v, %v", ok, err)
	}
	if len(ks.queue)-ks.head != 1 || len(ks.nonces) != 1 || len(ks.perMember) != 1 || ks.perMember["busy"].live() != 1 {
		t.Errorf("after the window: %d queued, %d nonces, %d members; want 1, 1, 1", len(ks.queue)-ks.head, len(ks.nonces), len(ks.perMember))
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for name, in := range map[string]string{
		"Std":        base64.StdEncoding.EncodeToString(pub),
		"RawStd":     base64.RawStdEncoding.EncodeToString(pub),
		"URL":        base64.URLEncoding.EncodeToString(pub),
		"RawURL":     base64.RawURLEncoding.EncodeToString(pub),
		"PEM":        pemKey,
		"Whitespace": "  " + base64.StdEncoding.EncodeToString(pub) + "\n",
	} {
		got, err := ParsePublicKey(in)
		if err != nil || string(got) != string(pub) {
			t.Errorf("%s: ParsePublicKey(%q) = %x, %v; want %x", name, in, got, err, pub)
		}
	}
	for name, in := range map[string]string{
		"Empty":       "",
		"Short":       base64.StdEncoding.EncodeToString(pub[:31]),
		"Long":        base64.StdEncoding.EncodeToString(append(pub, 0)),
		"Zero":        base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"Garbage":     "%%%",
		"PEMTrailing": pemKey + "junk",
		"PEMType":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"PEMBad":      string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})),
		"Huge":        string(make([]byte, 5000)),
	} {
		if _, err := ParsePublicKey(in); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("%s: got %v, want invalid_request", name, err)
		}
	}
}
