package app

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
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
		got, err := ks.checkNonce(key, nonce, at)
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
	if ks.perKey["k2"] != 0 || len(ks.nonces) != 1 {
		t.Errorf("after expiry: perKey %v, %d nonces; want only k1's new one", ks.perKey, len(ks.nonces))
	}
}

func TestKeyState_NoncesBounded(t *testing.T) {
	var ks keyState
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < maxNoncesPerKey; i++ {
		if ok, err := ks.checkNonce("busy", fmt.Sprint(i), now); !ok || err != nil {
			t.Fatalf("nonce %d: %v, %v", i, ok, err)
		}
	}
	// A full key is refused, never forgetful: old nonces stay refused.
	if _, err := ks.checkNonce("busy", "one more", now); coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("over the per-key bound: got %v, want rate_limited", err)
	}
	if ok, _ := ks.checkNonce("busy", "0", now); ok {
		t.Fatal("a remembered nonce was accepted again at the bound")
	}
	// Other keys go on.
	if ok, err := ks.checkNonce("quiet", "x", now); !ok || err != nil {
		t.Fatalf("another key: %v, %v", ok, err)
	}
	// After the window the key has room again, and the queue was compacted.
	later := now.Add(coffer.SignatureMaxAge + coffer.SignatureMaxSkew)
	if ok, err := ks.checkNonce("busy", "one more", later); !ok || err != nil {
		t.Fatalf("after the window: %v, %v", ok, err)
	}
	if len(ks.queue)-ks.head != 1 || len(ks.nonces) != 1 {
		t.Errorf("after the window: %d queued, %d nonces; want 1", len(ks.queue)-ks.head, len(ks.nonces))
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
