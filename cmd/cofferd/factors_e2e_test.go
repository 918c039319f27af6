package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCoffer_SecondFactors runs the built keeper against the built server:
// the keeper enrols itself as the member's code generator, a transfer then
// waits for confirmation and is applied with the keeper's OCRA answer; a
// phone is verified with the code read from the SMS outbox by
// `coffer dev sms`; the generator seed is sealed at rest with DATA/secrets.key.
func TestCoffer_SecondFactors(t *testing.T) {
	needKeeper(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	k := newKeeperEnv(t, s, "keeper", "COFFER_PASSPHRASE=generator passphrase 42", "COFFER_KEY=")
	keeper := func(wantCode int, code string, args ...string) string {
		t.Helper()
		return k.with("COFFER_CODE="+code).run(wantCode, args...)
	}
	if fi, err := os.Stat(filepath.Join(data, "secrets.key")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("secrets.key: %v %v, want 32 bytes with mode 0600", fi, err)
	}

	keeper(0, "", "register")
	issuer := registerMember(t, s)
	issPurse := adminIssuerAdd(t, data, issuer.id, "USD", "1000.00")
	var np struct{ Purse string }
	json.Unmarshal([]byte(keeper(0, "", "--json", "purse", "new", "USD")), &np)
	s.must(t, "POST", "/v1/transfers", issuer.token, map[string]string{"transfer_id": "fund", "from": issPurse, "to": np.Purse, "amount": "50.00"}, http.StatusCreated, nil)

	out := keeper(0, "", "otp", "enroll")
	if n := len(regexp.MustCompile(`(?m)^  [a-z0-9]{5}-[a-z0-9]{5}$`).FindAllString(out, -1)); n != 10 {
		t.Fatalf("otp enroll: got %d recovery codes, want 10:\n%s", n, out)
	}
	if code := strings.TrimSpace(keeper(0, "", "otp", "code")); !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Fatalf("otp code: got %q", code)
	}

	send := []string{"send", "--from", np.Purse, "--to", issPurse, "--amount", "7.25", "--id", "confirmed-1"}
	out = keeper(1, "", send...)
	ch := regexp.MustCompile(`challenge (` + issPurse + `/7\.25USD/[0-9]{8})`).FindStringSubmatch(out)
	if ch == nil {
		t.Fatalf("send without a code: %q, want the OCRA challenge naming payee and amount", out)
	}
	out = keeper(0, "", "otp", "answer", ch[1])
	if !strings.Contains(out, "pays 7.25USD to purse "+issPurse) {
		t.Errorf("otp answer does not show what it pays: %q", out)
	}
	answer := strings.Fields(out)[0] // the answer is the first line, on stdout
	if out := keeper(0, answer, send...); !strings.Contains(out, "7.25") || !strings.Contains(out, "applied") {
		t.Fatalf("send with the answer: %q", out)
	}
	if out := keeper(0, "", "purses"); !strings.Contains(out, "42.75") {
		t.Fatalf("purses: %q, want 42.75", out)
	}

	// SMS through the development outbox.
	s.must(t, "POST", "/v1/security/phone", issuer.token, map[string]string{"phone": "+14155550123"}, http.StatusAccepted, nil)
	out = keeper(0, "", "dev", "sms", "--data", data)
	code := regexp.MustCompile(`\b([0-9]{6})\b`).FindStringSubmatch(out)
	if code == nil || !strings.Contains(out, "+14155550123") {
		t.Fatalf("dev sms: %q", out)
	}
	s.must(t, "POST", "/v1/security/phone/verify", issuer.token, map[string]string{"code": code[1]}, http.StatusOK, nil)
	checkLedger(t, data)
}
