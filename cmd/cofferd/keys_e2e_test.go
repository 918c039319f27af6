package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCoffer_KeyFile runs the built keeper against the built server: a
// member makes a key file with the password session, then a keeper with no
// session at all signs transfers with it (default scrypt work factor, as a
// member gets it).
func TestCoffer_KeyFile(t *testing.T) {
	needKeeper(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	const passphrase = "end to end key file passphrase"
	k := newKeeperEnv(t, s, "", "COFFER_PASSPHRASE="+passphrase, "COFFER_KEY=")
	home := k.home
	keeper := func(config string, wantCode int, args ...string) string {
		t.Helper()
		return k.withConfig(config).run(wantCode, args...)
	}
	withSession := filepath.Join(home, "with-session")
	bare := filepath.Join(home, "no-session")

	out := keeper(withSession, 0, "register")
	m := regexp.MustCompile(`Your member ID: ([0-9]{12})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("register: %q", out)
	}
	member := m[1]
	issuer := registerMember(t, s)
	issPurse := adminIssuerAdd(t, data, issuer.id, "USD", "1000.00")
	var np struct{ Purse string }
	json.Unmarshal([]byte(keeper(withSession, 0, "--json", "purse", "new", "USD")), &np)
	s.must(t, "POST", "/v1/transfers", issuer.token, map[string]string{"transfer_id": "fund", "from": issPurse, "to": np.Purse, "amount": "50.00"}, http.StatusCreated, nil)

	var nk struct {
		KeyID string `json:"key_id"`
		File  string `json:"file"`
	}
	if err := json.Unmarshal([]byte(keeper(withSession, 0, "--json", "keys", "new", "--name", "e2e")), &nk); err != nil || nk.File == "" {
		t.Fatalf("keys new: %v %+v", err, nk)
	}
	if out := keeper(bare, 0, "--key", nk.File, "send", "--from", np.Purse, "--to", issPurse, "--amount", "7.25", "--id", "by-key"); !strings.Contains(out, "7.25") {
		t.Errorf("send with --key: %q", out)
	}
	if out := keeper(bare, 0, "--key", nk.File, "purses"); !strings.Contains(out, "42.75") {
		t.Errorf("purses with --key: %q, want 42.75", out)
	}
	if _, err := os.Stat(filepath.Join(bare, "sessions.json")); err == nil {
		t.Error("signing with --key saved a session")
	}

	// The member's security log shows the key's life.
	token := loginMember(t, s, member)
	var evs struct {
		Events []struct{ Kind string } `json:"events"`
	}
	s.must(t, "GET", "/v1/security/events", token, nil, http.StatusOK, &evs)
	kinds := fmt.Sprint(evs.Events)
	for _, k := range []string{"key.added", "key.new_ip"} {
		if !strings.Contains(kinds, k) {
			t.Errorf("security events %s lack %s", kinds, k)
		}
	}

	keeper(withSession, 0, "keys", "revoke", nk.KeyID)
	if out := keeper(bare, 1, "--key", nk.File, "purses"); !strings.Contains(out, "revoked") {
		t.Errorf("purses with a revoked key: %q", out)
	}
	checkLedger(t, data)
}

// TestCofferd_SignedWithOpenSSL signs requests with independent tools:
// OpenSSL makes the Ed25519 key and the signature over a signature base
// written out here by hand from RFC 9421, and curl sends them. Nothing of
// coffer's own signing code takes part.
func TestCofferd_SignedWithOpenSSL(t *testing.T) {
	needBinaries(t)
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		missingTool(t, "openssl is not on PATH")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		missingTool(t, "curl is not on PATH")
	}
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	dir := t.TempDir()
	keyPEM, pubPEM := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "ed25519", "-out", keyPEM},
		{"pkey", "-in", keyPEM, "-pubout", "-out", pubPEM},
	} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	pub, _ := os.ReadFile(pubPEM)

	m := registerMember(t, s)
	issuer := registerMember(t, s)
	issPurse := adminIssuerAdd(t, data, issuer.id, "USD", "1000.00")
	purse := newPurse(t, s, m, "USD")
	s.must(t, "POST", "/v1/transfers", issuer.token, map[string]string{"transfer_id": "fund", "from": issPurse, "to": purse, "amount": "20.00"}, http.StatusCreated, nil)
	var k struct {
		KeyID string `json:"key_id"`
	}
	s.must(t, "POST", "/v1/keys", m.token, map[string]string{"name": "openssl", "public_key": string(pub)}, http.StatusCreated, &k)

	signed := func(method, path string, body []byte, nonce string) (string, []byte) {
		t.Helper()
		target := s.url + path
		created := time.Now().Unix()
		comps := `"@method" "@target-uri"`
		var extra []string
		base := fmt.Sprintf("\"@method\": %s\n\"@target-uri\": %s\n", method, target)
		if len(body) > 0 {
			sum := sha256.Sum256(body)
			digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
			comps += ` "content-digest"`
			base += "\"content-digest\": " + digest + "\n"
			extra = append(extra, "-H", "Content-Digest: "+digest, "-H", "Content-Type: application/json", "--data-binary", "@-")
		}
		params := fmt.Sprintf(`(%s);created=%d;nonce="%s";keyid="%s";alg="ed25519"`, comps, created, nonce, k.KeyID)
		base += `"@signature-params": ` + params
		baseFile := filepath.Join(dir, "base-"+nonce)
		os.WriteFile(baseFile, []byte(base), 0o600)
		sig, err := exec.Command(openssl, "pkeyutl", "-sign", "-inkey", keyPEM, "-rawin", "-in", baseFile).Output()
		if err != nil {
			t.Fatalf("openssl pkeyutl -sign: %v", err)
		}
		args := append([]string{"-sS", "-X", method, "-w", "\n%{http_code}",
			"-H", "Signature-Input: sig1=" + params,
			"-H", "Signature: sig1=:" + base64.StdEncoding.EncodeToString(sig) + ":"}, extra...)
		cmd := exec.Command(curl, append(args, target)...)
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		i := bytes.LastIndexByte(out, '\n')
		return string(out[i+1:]), out[:i]
	}
	nonce := func() string { return strings.ToLower(rand.Text()) }

	body := []byte(`{"transfer_id":"openssl-1","from":"` + purse + `","to":"` + issPurse + `","amount":"2.50"}`)
	n := nonce()
	if status, out := signed("POST", "/v1/transfers", body, n); status != "201" {
		t.Fatalf("signed transfer: %s %s", status, out)
	}
	if status, out := signed("GET", "/v1/purses/"+purse, nil, nonce()); status != "200" || !bytes.Contains(out, []byte(`"17.50"`)) {
		t.Errorf("signed GET: %s %s, want balance 17.50", status, out)
	}
	// The same nonce again is a replay.
	if status, out := signed("POST", "/v1/transfers", body, n); status != "401" || !bytes.Contains(out, []byte("signature_replayed")) {
		t.Errorf("replayed nonce: %s %s, want 401 signature_replayed", status, out)
	}
	checkLedger(t, data)
}
