package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/httpsig"
)

// signer is a registered key with its private half.
type signer struct {
	id   string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

type keyJSON struct {
	KeyID       string `json:"key_id"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
	Status      string `json:"status"`
	CreatedAt   string `json:"created_at"`
	LastUsedAt  string `json:"last_used_at"`
	RevokedAt   string `json:"revoked_at"`
	Current     bool   `json:"current"`
}

// addKey registers a fresh key for m with m's session.
func (e *env) addKey(t *testing.T, m *member, name string) *signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := e.request(t, "POST", "/v1/keys", m.token, map[string]string{"name": name, "public_key": base64.StdEncoding.EncodeToString(pub)})
	wantStatus(t, a, http.StatusCreated)
	var k keyJSON
	a.decode(t, &k)
	if !coffer.ValidKeyID(k.KeyID) || k.Name != name || k.Status != "active" || k.Fingerprint != coffer.KeyFingerprint(pub) {
		t.Fatalf("got key %s, want an active key named %q with fingerprint %s", a, name, coffer.KeyFingerprint(pub))
	}
	return &signer{id: k.KeyID, priv: priv, pub: pub}
}

// signOpts changes how signedRequest signs.
type signOpts struct {
	keyID      string
	key        ed25519.PrivateKey
	created    time.Time
	expires    int64
	nonce      string
	components []string
	// before runs on the request before signing, after runs after it (to
	// tamper with what was signed).
	before, after func(r *http.Request)
	// sendBody replaces the body actually sent.
	sendBody []byte
}

// signedRequest sends a request signed with s (no session token).
func (e *env) signedRequest(t *testing.T, s *signer, method, path string, body any, o signOpts) answer {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if o.keyID == "" {
		o.keyID = s.id
	}
	if o.key == nil {
		o.key = s.priv
	}
	if o.created.IsZero() {
		o.created = e.clock.Now()
	}
	if o.nonce == "" {
		o.nonce = rand.Text()
	}
	if o.before != nil {
		o.before(req)
	}
	if err := httpsig.Sign(req, raw, o.key, httpsig.SignOptions{KeyID: o.keyID, Created: o.created.Unix(),
		Expires: o.expires, Nonce: o.nonce, Components: o.components}); err != nil {
		t.Fatal(err)
	}
	if o.after != nil {
		o.after(req)
	}
	if o.sendBody != nil {
		req.Body = io.NopCloser(bytes.NewReader(o.sendBody))
		req.ContentLength = int64(len(o.sendBody))
	}
	return e.do(t, req)
}

func (e *env) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// securityKinds lists the kinds of m's security events, newest first.
func (e *env) securityKinds(t *testing.T, m *member) []string {
	t.Helper()
	a := e.request(t, "GET", "/v1/security/events", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var out struct {
		Events []struct {
			Kind   string         `json:"kind"`
			Detail map[string]any `json:"detail"`
		} `json:"events"`
	}
	a.decode(t, &out)
	var kinds []string
	for _, ev := range out.Events {
		kinds = append(kinds, ev.Kind)
	}
	return kinds
}

func TestServer_Keys(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "")
	b := e.register(t, "")
	pub, _, _ := ed25519.GenerateKey(nil)
	b64 := base64.StdEncoding.EncodeToString(pub)

	var first keyJSON
	t.Run("Add", func(t *testing.T) {
		r := e.request(t, "POST", "/v1/keys", a.token, map[string]string{"name": "laptop", "public_key": b64})
		wantStatus(t, r, http.StatusCreated)
		r.decode(t, &first)
		if !coffer.ValidKeyID(first.KeyID) || first.Name != "laptop" || first.PublicKey != b64 || first.Status != "active" ||
			first.Fingerprint != coffer.KeyFingerprint(pub) || first.CreatedAt == "" {
			t.Fatalf("got %s", r)
		}
		if loc := r.Header.Get("Location"); loc != "/v1/keys/"+first.KeyID {
			t.Errorf("Location = %q", loc)
		}
	})
	t.Run("AddPEM", func(t *testing.T) {
		pub2, _, _ := ed25519.GenerateKey(nil)
		der, _ := x509.MarshalPKIXPublicKey(pub2)
		p := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		r := e.request(t, "POST", "/v1/keys", a.token, map[string]string{"public_key": p})
		wantStatus(t, r, http.StatusCreated)
		var k keyJSON
		r.decode(t, &k)
		if k.Fingerprint != coffer.KeyFingerprint(pub2) {
			t.Errorf("got fingerprint %s, want %s", k.Fingerprint, coffer.KeyFingerprint(pub2))
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		der, _ := x509.MarshalPKIXPublicKey(&ecdsaKey(t).PublicKey)
		ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"SameKeyAgain", map[string]string{"public_key": b64}, 409, coffer.ECONFLICT},
			{"Missing", map[string]string{"name": "x"}, 400, coffer.EINVALID},
			{"ShortKey", map[string]string{"public_key": base64.StdEncoding.EncodeToString(pub[:31])}, 400, coffer.EINVALID},
			{"ZeroKey", map[string]string{"public_key": base64.StdEncoding.EncodeToString(make([]byte, 32))}, 400, coffer.EINVALID},
			{"NotBase64", map[string]string{"public_key": "not a key!"}, 400, coffer.EINVALID},
			{"ECDSA", map[string]string{"public_key": ecPEM}, 400, coffer.EINVALID},
			{"LongName", map[string]string{"public_key": freshKey(), "name": strings.Repeat("n", 65)}, 400, coffer.EINVALID},
			{"ControlInName", map[string]string{"public_key": freshKey(), "name": "a\nb"}, 400, coffer.EINVALID},
			{"UnknownField", map[string]string{"public_key": freshKey(), "member_id": b.id}, 400, coffer.EINVALID},
			{"NotJSON", "public_key=x", 400, coffer.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.request(t, "POST", "/v1/keys", a.token, tc.body)
				wantProblem(t, r, tc.status, tc.code)
			})
		}
		// The same public key is refused for another member too.
		r := e.request(t, "POST", "/v1/keys", b.token, map[string]string{"public_key": b64})
		wantProblem(t, r, 409, coffer.ECONFLICT)
		r = e.request(t, "POST", "/v1/keys", "", map[string]string{"public_key": freshKey()})
		wantProblem(t, r, 401, coffer.EUNAUTHORIZED)
	})
	t.Run("ListGetRename", func(t *testing.T) {
		r := e.request(t, "GET", "/v1/keys", a.token, nil)
		wantStatus(t, r, 200)
		var list struct {
			Keys      []keyJSON `json:"keys"`
			MaxActive int       `json:"max_active"`
		}
		r.decode(t, &list)
		if len(list.Keys) != 2 || list.Keys[1].KeyID != first.KeyID || list.MaxActive != coffer.MaxActiveKeys {
			t.Fatalf("got %s, want two keys, the first added last", r)
		}
		r = e.request(t, "GET", "/v1/keys", b.token, nil)
		if !strings.Contains(string(r.Body), `"keys":[]`) {
			t.Errorf("member b sees %s, want no keys", r)
		}
		r = e.request(t, "PATCH", "/v1/keys/"+first.KeyID, a.token, map[string]string{"name": "old laptop"})
		wantStatus(t, r, 200)
		var k keyJSON
		r.decode(t, &k)
		if k.Name != "old laptop" {
			t.Errorf("renamed to %q", k.Name)
		}
		r = e.request(t, "GET", "/v1/keys/"+first.KeyID, a.token, nil)
		r.decode(t, &k)
		if k.Name != "old laptop" {
			t.Errorf("GET shows name %q", k.Name)
		}
		for _, tc := range []struct {
			method, path, token string
			body                any
			status              int
			code                string
		}{
			{"GET", "/v1/keys/" + first.KeyID, b.token, nil, 404, coffer.ENOTFOUND},
			{"PATCH", "/v1/keys/" + first.KeyID, b.token, map[string]string{"name": "mine"}, 404, coffer.ENOTFOUND},
			{"DELETE", "/v1/keys/" + first.KeyID, b.token, nil, 404, coffer.ENOTFOUND},
			{"GET", "/v1/keys/key_nope", a.token, nil, 404, coffer.ENOTFOUND},
			{"PATCH", "/v1/keys/" + first.KeyID, a.token, map[string]string{}, 400, coffer.EINVALID},
			{"PATCH", "/v1/keys/" + first.KeyID, a.token, map[string]any{"name": 5}, 400, coffer.EINVALID},
		} {
			wantProblem(t, e.request(t, tc.method, tc.path, tc.token, tc.body), tc.status, tc.code)
		}
	})
	t.Run("AtMostTenActive", func(t *testing.T) {
		for i := 2; i < coffer.MaxActiveKeys; i++ {
			e.addKey(t, a, fmt.Sprintf("k%d", i))
		}
		r := e.request(t, "POST", "/v1/keys", a.token, map[string]string{"public_key": freshKey()})
		wantProblem(t, r, 422, coffer.ELIMITEXCEEDED)
		wantStatus(t, e.request(t, "DELETE", "/v1/keys/"+first.KeyID, a.token, nil), 204)
		e.addKey(t, a, "after a revocation")
	})
	t.Run("Revoke", func(t *testing.T) {
		// Revoking again is fine and changes nothing.
		wantStatus(t, e.request(t, "DELETE", "/v1/keys/"+first.KeyID, a.token, nil), 204)
		r := e.request(t, "GET", "/v1/keys/"+first.KeyID, a.token, nil)
		var k keyJSON
		r.decode(t, &k)
		if k.Status != "revoked" || k.RevokedAt == "" {
			t.Errorf("got %s, want a revoked key", r)
		}
		// A revoked public key cannot be registered again, by anyone.
		wantProblem(t, e.request(t, "POST", "/v1/keys", b.token, map[string]string{"public_key": b64}), 409, coffer.ECONFLICT)
	})
	t.Run("Audit", func(t *testing.T) {
		kinds := e.securityKinds(t, a)
		count := map[string]int{}
		for _, k := range kinds {
			count[k]++
		}
		if count[coffer.AuditKeyAdded] != coffer.MaxActiveKeys+1 || count[coffer.AuditKeyRevoked] != 1 || count[coffer.AuditKeyRenamed] != 1 {
			t.Errorf("security events %v: want %d key.added, 1 key.revoked, 1 key.renamed", kinds, coffer.MaxActiveKeys+1)
		}
	})
}

func ecdsaKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func freshKey() string {
	pub, _, _ := ed25519.GenerateKey(nil)
	return base64.StdEncoding.EncodeToString(pub)
}

// TestServer_SignedRequests covers request signing end to end: a member
// registers, adds a key with the session, and then moves money with
// requests signed by the key and no session at all.
func TestServer_SignedRequests(t *testing.T) {
	f := newFixture(t)
	e := f.env
	s := f.addKey(t, f.a, "merchant server")
	transfer := func(amount string) transferBody {
		return transferBody{TransferID: e.nextID("sig"), From: f.aUSD, To: f.bUSD, Amount: amount}
	}

	t.Run("Transfer", func(t *testing.T) {
		r := e.signedRequest(t, s, "POST", "/v1/transfers", transfer("1.00"), signOpts{})
		wantStatus(t, r, http.StatusCreated)
		if got := e.balance(t, f.a, f.aUSD); got != "99.00" {
			t.Errorf("balance %s, want 99.00", got)
		}
		r = e.signedRequest(t, s, "GET", "/v1/purses", nil, signOpts{})
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(string(r.Body), f.aUSD) {
			t.Errorf("signed GET /v1/purses = %s, want A's purses", r)
		}
	})

	t.Run("ThroughTheClient", func(t *testing.T) {
		c := client.New(e.srv.URL, client.WithHTTPClient(e.srv.Client()), client.WithSigner(s.id, s.priv))
		for i := 0; i < 3; i++ {
			tr, err := c.Send(context.Background(), client.TransferRequest{From: f.aUSD, To: f.bUSD, Amount: "2.00", Description: "signed"})
			if err != nil || tr.Status != client.StatusApplied {
				t.Fatalf("Send = %+v, %v", tr, err)
			}
		}
		if got := e.balance(t, f.a, f.aUSD); got != "93.00" {
			t.Errorf("balance %s, want 93.00", got)
		}
		list, err := c.Purses(context.Background())
		if err != nil || len(list) != 2 {
			t.Errorf("Purses = %v, %v", list, err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		_, wrongKey, _ := ed25519.GenerateKey(nil)
		now := e.clock.Now()
		body := transfer("5.00")
		raw, _ := json.Marshal(body)
		tampered := bytes.Replace(raw, []byte(`"5.00"`), []byte(`"50.00"`), 1)
		before := e.snapshot(t)
		for _, tc := range []struct {
			name   string
			method string
			path   string
			body   any
			o      signOpts
			code   string
		}{
			{"WrongKey", "POST", "/v1/transfers", body, signOpts{key: wrongKey}, coffer.ESIGINVALID},
			{"UnknownKey", "POST", "/v1/transfers", body, signOpts{keyID: coffer.NewKeyID()}, coffer.EKEYUNKNOWN},
			{"MalformedKeyID", "POST", "/v1/transfers", body, signOpts{keyID: "../../etc"}, coffer.EKEYUNKNOWN},
			{"Expired", "POST", "/v1/transfers", body, signOpts{created: now.Add(-coffer.SignatureMaxAge - time.Second)}, coffer.ESIGEXPIRED},
			{"PastExpires", "POST", "/v1/transfers", body, signOpts{created: now.Add(-time.Minute), expires: now.Add(-time.Second).Unix()}, coffer.ESIGEXPIRED},
			{"Future", "POST", "/v1/transfers", body, signOpts{created: now.Add(coffer.SignatureMaxSkew + 5*time.Second)}, coffer.ESIGFUTURE},
			{"BodyChanged", "POST", "/v1/transfers", body, signOpts{sendBody: tampered}, coffer.EDIGESTMISMATCH},
			{"BodyAndDigestChanged", "POST", "/v1/transfers", body, signOpts{sendBody: tampered, after: func(r *http.Request) {
				r.Header.Set("Content-Digest", httpsig.ContentDigest(tampered))
			}}, coffer.ESIGINVALID},
			{"OtherPath", "POST", "/v1/transfers", body, signOpts{after: func(r *http.Request) { r.URL.Path = "/v1/purses" }}, coffer.ESIGINVALID},
			{"OtherQuery", "GET", "/v1/purses", nil, signOpts{after: func(r *http.Request) { r.URL.RawQuery = "x=1" }}, coffer.ESIGINVALID},
			{"OtherMethod", "GET", "/v1/keys", nil, signOpts{after: func(r *http.Request) { r.Method = "DELETE"; r.URL.Path = "/v1/keys/" + s.id }}, coffer.ESIGINVALID},
			{"BodyNotCovered", "POST", "/v1/transfers", body, signOpts{components: []string{"@method", "@target-uri"}}, coffer.ESIGMALFORMED},
			{"TargetNotCovered", "POST", "/v1/transfers", body, signOpts{components: []string{"@method", "@path", "content-digest"}}, coffer.ESIGMALFORMED},
			{"MethodNotCovered", "GET", "/v1/purses", nil, signOpts{components: []string{"@target-uri"}}, coffer.ESIGMALFORMED},
			{"ShortNonce", "GET", "/v1/purses", nil, signOpts{nonce: "abc"}, coffer.ESIGMALFORMED},
			{"MissingField", "GET", "/v1/purses", nil, signOpts{components: []string{"@method", "@target-uri", "x-absent"},
				before: func(r *http.Request) { r.Header.Set("X-Absent", "1") }, after: func(r *http.Request) { r.Header.Del("X-Absent") }}, coffer.ESIGMALFORMED},
			{"DigestWithoutField", "POST", "/v1/transfers", body, signOpts{after: func(r *http.Request) { r.Header.Del("Content-Digest") }}, coffer.ESIGMALFORMED},
			{"DigestUnknownAlgorithm", "POST", "/v1/transfers", body, signOpts{after: func(r *http.Request) {
				r.Header.Set("Content-Digest", "md5=:AAAA:")
			}}, coffer.ESIGMALFORMED},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.signedRequest(t, s, tc.method, tc.path, tc.body, tc.o)
				wantProblem(t, r, http.StatusUnauthorized, tc.code)
				if r.Header.Get("WWW-Authenticate") == "" || r.Header.Get("Accept-Signature") == "" {
					t.Errorf("401 without WWW-Authenticate and Accept-Signature: %v", r.Header)
				}
			})
		}
		for _, tc := range []struct {
			name, input, sig string
		}{
			{"GarbageInput", "not a dictionary", "sig1=:AAAA:"},
			{"GarbageSignature", `sig1=("@method" "@target-uri");created=1;nonce="abcdefghij";keyid="x"`, "sig1=AAAA"},
			{"OnlyInput", `sig1=("@method" "@target-uri");created=1;nonce="abcdefghij";keyid="x"`, ""},
			{"OnlySignature", "", "sig1=:AAAA:"},
			{"TwoLabels", `a=("@method" "@target-uri");created=1, b=("@method")`, "a=:AAAA:, b=:AAAA:"},
			{"LabelsDiffer", `a=("@method" "@target-uri");created=1;nonce="abcdefghij";keyid="x"`, "b=:AAAA:"},
			{"InputNotList", `sig1="x"`, "sig1=:AAAA:"},
			{"ComponentNotString", `sig1=(method);created=1`, "sig1=:AAAA:"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/purses", nil)
				if tc.input != "" {
					req.Header.Set("Signature-Input", tc.input)
				}
				if tc.sig != "" {
					req.Header.Set("Signature", tc.sig)
				}
				wantProblem(t, e.do(t, req), http.StatusUnauthorized, coffer.ESIGMALFORMED)
			})
		}
		for _, tc := range []struct {
			name   string
			params string
		}{
			{"NoCreated", `;nonce="abcdefghijk";keyid="%s"`},
			{"CreatedNotInteger", `;created="1";nonce="abcdefghijk";keyid="%s"`},
			{"NoNonce", `;created=%d;keyid="%s"`},
			{"NoKeyID", `;created=%d;nonce="abcdefghijk"`},
			{"KeyIDNotString", `;created=%d;nonce="abcdefghijk";keyid=key`},
			{"OtherAlg", `;created=%d;nonce="abcdefghijk";keyid="%s";alg="rsa-pss-sha512"`},
			{"ExpiresBeforeCreated", `;created=%d;expires=1;nonce="abcdefghijk";keyid="%s"`},
			{"UnknownParam", `;created=%d;nonce="abcdefghijk";keyid="%s";color="blue"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				params := tc.params
				args := []any{}
				if strings.Contains(params, "%d") {
					args = append(args, now.Unix())
				}
				if strings.Contains(params, "%s") {
					args = append(args, s.id)
				}
				params = fmt.Sprintf(params, args...)
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/purses", nil)
				req.Header.Set("Signature-Input", `sig1=("@method" "@target-uri")`+params)
				req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(make([]byte, 64))+":")
				wantProblem(t, e.do(t, req), http.StatusUnauthorized, coffer.ESIGMALFORMED)
			})
		}
		t.Run("ComponentParameters", func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/v1/purses", nil)
			req.Header.Set("Signature-Input", fmt.Sprintf(`sig1=("@method" "@target-uri" "signature";key="x");created=%d;nonce="abcdefghijk";keyid="%s"`, now.Unix(), s.id))
			req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(make([]byte, 64))+":")
			wantProblem(t, e.do(t, req), http.StatusUnauthorized, coffer.ESIGMALFORMED)
		})
		t.Run("TooLarge", func(t *testing.T) {
			big := `{"transfer_id":"x","description":"` + strings.Repeat("a", 70<<10) + `"}`
			r := e.signedRequest(t, s, "POST", "/v1/transfers", big, signOpts{})
			wantProblem(t, r, http.StatusRequestEntityTooLarge, coffer.ETOOLARGE)
		})
		wantUnchanged(t, before, e.snapshot(t))
	})

	t.Run("Replay", func(t *testing.T) {
		before := e.balance(t, f.a, f.aUSD)
		// Capture one signed request and send it twice, as an eavesdropper
		// or a misbehaving proxy would.
		var captured *http.Request
		var raw []byte
		e.signedRequest(t, s, "POST", "/v1/transfers", transfer("3.00"), signOpts{after: func(r *http.Request) {
			captured = r.Clone(context.Background())
			raw, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}})
		captured.Body = io.NopCloser(bytes.NewReader(raw))
		r := e.do(t, captured)
		wantProblem(t, r, http.StatusUnauthorized, coffer.ESIGREPLAYED)
		// The same nonce with a new signature (other body) is refused as well.
		r = e.signedRequest(t, s, "POST", "/v1/transfers", transfer("3.00"), signOpts{nonce: mustNonce(t, captured)})
		wantProblem(t, r, http.StatusUnauthorized, coffer.ESIGREPLAYED)
		if got, want := e.balance(t, f.a, f.aUSD), subtract(t, before, "3.00"); got != want {
			t.Errorf("balance %s, want %s (applied once)", got, want)
		}
		// Long after the window the replay is still refused, as expired.
		e.clock.Advance(coffer.SignatureMaxAge + coffer.SignatureMaxSkew + time.Minute)
		defer e.clock.Advance(-(coffer.SignatureMaxAge + coffer.SignatureMaxSkew + time.Minute))
		captured.Body = io.NopCloser(bytes.NewReader(raw))
		wantProblem(t, e.do(t, captured), http.StatusUnauthorized, coffer.ESIGEXPIRED)
	})

	t.Run("SignedRequestsCannotAddKeys", func(t *testing.T) {
		r := e.signedRequest(t, s, "POST", "/v1/keys", map[string]string{"public_key": freshKey()}, signOpts{})
		wantProblem(t, r, http.StatusForbidden, coffer.EFORBIDDEN)
	})

	t.Run("ListShowsCurrent", func(t *testing.T) {
		r := e.signedRequest(t, s, "GET", "/v1/keys/"+s.id, nil, signOpts{})
		wantStatus(t, r, 200)
		var k keyJSON
		r.decode(t, &k)
		if !k.Current || k.LastUsedAt == "" {
			t.Errorf("got %s, want current and a last use", r)
		}
	})

	t.Run("RevokeTakesEffectAtOnce", func(t *testing.T) {
		s2 := e.addKey(t, f.a, "second")
		// A signed request may not revoke another key…
		r := e.signedRequest(t, s2, "DELETE", "/v1/keys/"+s.id, nil, signOpts{})
		wantProblem(t, r, http.StatusForbidden, coffer.EFORBIDDEN)
		wantStatus(t, e.signedRequest(t, s, "GET", "/v1/purses", nil, signOpts{}), 200)
		// …but it may revoke its own key, and the session may revoke any.
		wantStatus(t, e.signedRequest(t, s2, "DELETE", "/v1/keys/"+s2.id, nil, signOpts{}), 204)
		wantProblem(t, e.signedRequest(t, s2, "GET", "/v1/purses", nil, signOpts{}), 401, coffer.EKEYREVOKED)
		wantStatus(t, e.request(t, "DELETE", "/v1/keys/"+s.id, f.a.token, nil), 204)
		before := e.snapshot(t)
		wantProblem(t, e.signedRequest(t, s, "POST", "/v1/transfers", transfer("1.00"), signOpts{}), 401, coffer.EKEYREVOKED)
		wantUnchanged(t, before, e.snapshot(t))
	})

	t.Run("Audit", func(t *testing.T) {
		kinds := e.securityKinds(t, f.a)
		count := map[string]int{}
		for _, k := range kinds {
			count[k]++
		}
		// Two keys, each first used from the test's loopback address, both revoked.
		if count[coffer.AuditKeyAdded] != 2 || count[coffer.AuditKeyNewIP] != 2 || count[coffer.AuditKeyRevoked] != 2 {
			t.Errorf("security events %v: want 2 each of key.added, key.new_ip, key.revoked", kinds)
		}
		if got := e.securityKinds(t, f.b); len(got) != 0 && contains(got, coffer.AuditKeyNewIP) {
			t.Errorf("member b got key events %v", got)
		}
	})

	t.Run("BearerStillWorks", func(t *testing.T) {
		wantStatus(t, e.request(t, "GET", "/v1/purses", f.b.token, nil), 200)
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mustNonce(t *testing.T, r *http.Request) string {
	t.Helper()
	ins, err := httpsig.ParseSignatureInput(r.Header.Get("Signature-Input"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := ins[0].String("nonce")
	return n
}

// subtract computes a - b for two-decimal amounts.
func subtract(t *testing.T, a, b string) string {
	t.Helper()
	x, err := coffer.ParseAmount(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	y, err := coffer.ParseAmount(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	return coffer.FormatAmount(x-y, 2)
}

// TestServer_SignatureNewIP checks that the first use of a key from an
// address is recorded once.
func TestServer_SignatureNewIP(t *testing.T) {
	e := newEnv(t)
	m := e.register(t, "")
	s := e.addKey(t, m, "")
	for i := 0; i < 3; i++ {
		wantStatus(t, e.signedRequest(t, s, "GET", "/v1/purses", nil, signOpts{}), 200)
	}
	n := 0
	for _, k := range e.securityKinds(t, m) {
		if k == coffer.AuditKeyNewIP {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d key.new_ip events, want 1", n)
	}
}
