package httpsig

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The test key of RFC 9421 Appendix B.1.4, "test-key-ed25519".
const (
	rfcPrivateKey = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
`
	rfcPublicKey = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
`
)

// rfcRequest is the test-request message of RFC 9421 Appendix B.2.
const rfcRequest = "POST /foo?param=Value&Pet=dog HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Date: Tue, 20 Apr 2021 02:07:55 GMT\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\r\n" +
	"Content-Length: 18\r\n" +
	"\r\n" +
	`{"hello": "world"}`

// The B.2.6 example: its Signature-Input, Signature and signature base,
// unwrapped from the RFC's line folding (RFC 8792).
const (
	b26Input     = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	b26Signature = `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`
	b26Base      = `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
)

func rfcKeys(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	b, _ := pem.Decode([]byte(rfcPrivateKey))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = pem.Decode([]byte(rfcPublicKey))
	p, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey), p.(ed25519.PublicKey)
}

func readRFCRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(rfcRequest)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRFC9421_B26 checks the RFC's own Ed25519 example: the signature base
// must match byte for byte, the published signature must verify, and
// signing the base again must give the very same signature (Ed25519 is
// deterministic).
func TestRFC9421_B26(t *testing.T) {
	priv, pub := rfcKeys(t)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		t.Fatal("the RFC's private and public test keys do not belong together")
	}
	r := readRFCRequest(t)
	r.Header.Set("Signature-Input", b26Input)
	r.Header.Set("Signature", b26Signature)

	ins, err := ParseSignatureInput(r.Header.Get("Signature-Input"))
	if err != nil || len(ins) != 1 || ins[0].Label != "sig-b26" {
		t.Fatalf("ParseSignatureInput = %v, %v; want one input labelled sig-b26", ins, err)
	}
	if c, _ := ins[0].Int("created"); c != 1618884473 {
		t.Errorf("created = %d, want 1618884473", c)
	}
	if k, _ := ins[0].String("keyid"); k != "test-key-ed25519" {
		t.Errorf("keyid = %q, want test-key-ed25519", k)
	}
	sigs, err := ParseSignature(r.Header.Get("Signature"))
	if err != nil || len(sigs) != 1 || sigs[0].Label != "sig-b26" || len(sigs[0].Value) != 64 {
		t.Fatalf("ParseSignature = %v, %v; want one 64-byte signature labelled sig-b26", sigs, err)
	}
	base, err := Base(r, ins[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(base) != b26Base {
		t.Fatalf("signature base:\n%s\nwant:\n%s", base, b26Base)
	}
	if !Verify(pub, base, sigs[0].Value) {
		t.Fatal("the RFC's signature does not verify")
	}
	if again := ed25519.Sign(priv, base); !bytes.Equal(again, sigs[0].Value) {
		t.Errorf("signing the base gave %s, want the RFC's %s",
			base64.StdEncoding.EncodeToString(again), base64.StdEncoding.EncodeToString(sigs[0].Value))
	}
	// One changed byte anywhere in the base breaks the signature.
	bad := bytes.Replace(base, []byte("POST"), []byte("PUT "), 1)
	if Verify(pub, bad, sigs[0].Value) {
		t.Error("a changed base verified")
	}
	// The test-request's body matches its Content-Digest (RFC 9530).
	if err := VerifyContentDigest(r.Header.Get("Content-Digest"), []byte(`{"hello": "world"}`)); err != nil {
		t.Errorf("VerifyContentDigest: %v", err)
	}
}

func TestContentDigest(t *testing.T) {
	body := []byte(`{"hello": "world"}`)
	// RFC 9530's example value for this body.
	if got, want := ContentDigest(body), "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"; got != want {
		t.Errorf("ContentDigest = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name, v string
		want    error
	}{
		{"Sha256", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", nil},
		{"Both", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", nil},
		{"UnknownIgnored", "md5=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", nil},
		{"Mismatch", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPA=:", ErrDigestMismatch},
		{"OneOfTwoWrong", "sha-512=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", ErrDigestMismatch},
		{"OnlyUnknown", "md5=:AAAA:", ErrDigestAlgorithm},
		{"NotBytes", `sha-256="X48E"`, ErrDigestAlgorithm},
		{"Garbage", "sha-256=X48E9q==", ErrDigestAlgorithm},
		{"Empty", "", ErrDigestAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyContentDigest(tc.v, body)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("VerifyContentDigest(%q) = %v, want %v", tc.v, err, tc.want)
			}
		})
	}
}

// TestSign_RoundTrip signs an outgoing request and verifies it as the
// server receives it, through a real HTTP round trip.
func TestSign_RoundTrip(t *testing.T) {
	priv, pub := rfcKeys(t)
	body := []byte(`{"amount":"1.00"}`)
	var got struct {
		base []byte
		sig  []byte
		err  error
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if got.err != nil {
				w.WriteHeader(400)
			}
		}()
		ins, err := ParseSignatureInput(r.Header.Get("Signature-Input"))
		if err != nil {
			got.err = err
			return
		}
		sigs, err := ParseSignature(r.Header.Get("Signature"))
		if err != nil {
			got.err = err
			return
		}
		got.base, got.err = Base(r, ins[0])
		got.sig = sigs[0].Value
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		if got.err == nil {
			got.err = VerifyContentDigest(r.Header.Get("Content-Digest"), b.Bytes())
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/transfers?x=a%20b&y=%2F", bytes.NewReader(body))
	if err := Sign(req, body, priv, SignOptions{KeyID: "key_x", Created: 1700000000, Nonce: "n-1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.Header.Get("Signature-Input"), `("@method" "@target-uri" "content-digest");created=1700000000;nonce="n-1";keyid="key_x";alg="ed25519"`) {
		t.Errorf("Signature-Input = %q", req.Header.Get("Signature-Input"))
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.err != nil {
		t.Fatal(got.err)
	}
	if !Verify(pub, got.base, got.sig) {
		t.Fatalf("the signature does not verify on the server; base:\n%s", got.base)
	}
	wantURI := `"@target-uri": ` + srv.URL + "/v1/transfers?x=a%20b&y=%2F\n"
	if !strings.Contains(string(got.base), wantURI) {
		t.Errorf("base %q lacks %q", got.base, wantURI)
	}
}

func TestBase_Components(t *testing.T) {
	r := readRFCRequest(t)
	for _, tc := range []struct {
		comp, want string
	}{
		{"@method", "POST"},
		{"@target-uri", "http://example.com/foo?param=Value&Pet=dog"},
		{"@authority", "example.com"},
		{"@scheme", "http"},
		{"@request-target", "/foo?param=Value&Pet=dog"},
		{"@path", "/foo"},
		{"@query", "?param=Value&Pet=dog"},
		{"host", "example.com"},
		{"content-digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"},
	} {
		t.Run(tc.comp, func(t *testing.T) {
			got, err := componentValue(r, Item{Value: tc.comp})
			if err != nil || got != tc.want {
				t.Errorf("componentValue(%s) = %q, %v; want %q", tc.comp, got, err, tc.want)
			}
		})
	}
	t.Run("Refused", func(t *testing.T) {
		for _, si := range []string{
			`s=("@method" "@method");created=1`,
			`s=("@status");created=1`,
			`s=("@query-param";name="x");created=1`,
			`s=("content-type";sf);created=1`,
			`s=("x-missing");created=1`,
			`s=("Date");created=1`,
			`s=("@signature-params");created=1`,
		} {
			ins, err := ParseSignatureInput(si)
			if err != nil {
				t.Fatalf("ParseSignatureInput(%q): %v", si, err)
			}
			if _, err := Base(r, ins[0]); !errors.Is(err, ErrComponent) {
				t.Errorf("Base for %s: got %v, want ErrComponent", si, err)
			}
		}
	})
	t.Run("MultipleFieldLines", func(t *testing.T) {
		r := readRFCRequest(t)
		r.Header.Add("X-Multi", " a ")
		r.Header.Add("X-Multi", "b")
		if got, _ := componentValue(r, Item{Value: "x-multi"}); got != "a, b" {
			t.Errorf("got %q, want %q", got, "a, b")
		}
	})
	t.Run("TLSAndDefaultPort", func(t *testing.T) {
		r := readRFCRequest(t)
		r.Host = "Example.COM:443"
		r.TLS = &tls.ConnectionState{}
		if got, _ := componentValue(r, Item{Value: "@target-uri"}); got != "https://example.com/foo?param=Value&Pet=dog" {
			t.Errorf("got %q", got)
		}
	})
}
