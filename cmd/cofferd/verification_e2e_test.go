package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adminMemberLevel runs `cofferd admin member level`; extra flags (such as
// --db) are passed on.
func adminMemberLevel(t *testing.T, data, member, level string, extra ...string) {
	t.Helper()
	args := append([]string{"admin", "member", "level", "--data", data, "--member", member, "--level", level, "--reason", "test setup"}, extra...)
	if out, errOut, code := cofferd(t, args...); code != 0 {
		t.Fatalf("cofferd admin member level: got exit %d, want 0\n%s%s", code, out, errOut)
	}
}

// TestCofferd_Verification walks through verification on the real binary:
// the operator makes a registrar, a member enters data and uploads a
// document, the registrar approves it, the operator sees and changes the
// level, and only a level that allows it may issue money.
func TestCofferd_Verification(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)

	// The documents key was made on first start, readable by its owner only.
	fi, err := os.Stat(filepath.Join(data, documentsKeyFile))
	if err != nil {
		t.Fatalf("documents key: %v", err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("documents key: got mode %v size %d, want 0600 and 32 bytes", fi.Mode().Perm(), fi.Size())
	}

	reg := registerMember(t, s)
	m := registerMember(t, s)

	// A pseudonymous member cannot be made an issuer.
	out, errOut, code := cofferd(t, "admin", "issuer", "add", "--data", data, "--member", m.id, "--currency", "USD", "--limit", "100.00")
	if code == 0 || !strings.Contains(errOut, "does not allow issuing") || !strings.Contains(errOut, "pseudonymous") {
		t.Errorf("issuer add for a pseudonymous member: got exit %d\n%s%s, want a refusal naming the level", code, out, errOut)
	}

	// Before the operator grants the role, registrar paths do not exist.
	if st, body, _ := s.call("GET", "/v1/registrar/requests", reg.token, nil); st != http.StatusNotFound {
		t.Errorf("registrar queue before the role: got %d %s, want 404", st, body)
	}
	if out, errOut, code := cofferd(t, "admin", "registrar", "add", "--data", data, "--member", reg.id); code != 0 || !strings.Contains(out, reg.id) {
		t.Fatalf("cofferd admin registrar add: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := cofferd(t, "admin", "registrar", "list", "--data", data); code != 0 || strings.TrimSpace(out) != reg.id {
		t.Errorf("cofferd admin registrar list: got exit %d %q, want %s", code, out, reg.id)
	}
	if _, errOut, code := cofferd(t, "admin", "registrar", "add", "--data", data, "--member", "999999999999"); code == 0 || !strings.Contains(errOut, "no member") {
		t.Errorf("registrar add for an unknown member: got exit %d %q", code, errOut)
	}

	// The member enters personal data (formal at once), uploads a scan and
	// asks for verification.
	s.must(t, "PUT", "/v1/profile", m.token, map[string]any{"values": map[string]string{"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10"}}, http.StatusOK, nil)
	var status struct {
		Level string `json:"level"`
	}
	s.must(t, "GET", "/v1/verification", m.token, nil, http.StatusOK, &status)
	if status.Level != "formal" {
		t.Errorf("after entering personal data: got level %q, want formal", status.Level)
	}
	scan := []byte("%PDF-1.4\nscan of a passport\n%%EOF\n")
	st, body, err := s.call("POST", "/v1/verification/documents", m.token, scan)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("upload: got %d %s %v, want 201", st, body, err)
	}
	var doc struct {
		DocumentID string `json:"document_id"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("upload: %v in %s", err, body)
	}
	if st, body, _ := s.call("POST", "/v1/verification/documents", m.token, []byte("plain text")); st != http.StatusUnsupportedMediaType {
		t.Errorf("upload of text: got %d %s, want 415", st, body)
	}
	var req struct {
		RequestID string `json:"request_id"`
	}
	s.must(t, "POST", "/v1/verification", m.token, map[string]any{"documents": []string{doc.DocumentID}}, http.StatusCreated, &req)

	// The registrar reads the document and approves.
	st, body, _ = s.call("GET", "/v1/registrar/documents/"+doc.DocumentID, reg.token, nil)
	if st != http.StatusOK || !bytes.Equal(body, scan) {
		t.Errorf("registrar download: got %d %q, want the scan", st, body)
	}
	s.must(t, "POST", "/v1/registrar/requests/"+req.RequestID+"/approve", reg.token, map[string]string{"level": "initial"}, http.StatusOK, nil)

	// The operator's view.
	out, errOut, code = cofferd(t, "admin", "member", "show", "--data", data, "--member", m.id)
	if code != 0 || !strings.Contains(out, "initial") || !strings.Contains(out, "Lovelace") || !strings.Contains(out, "merchant") {
		t.Errorf("cofferd admin member show: got exit %d\n%s%s, want level initial, merchant, the profile", code, out, errOut)
	}
	out, _, _ = cofferd(t, "admin", "member", "show", "--data", data, "--member", reg.id)
	if !strings.Contains(out, "registrar") {
		t.Errorf("member show of the registrar: got %q, want the role", out)
	}

	// The operator changes levels: a reason is required and the level must exist.
	if _, errOut, code := cofferd(t, "admin", "member", "level", "--data", data, "--member", m.id, "--level", "personal"); code == 0 || !strings.Contains(errOut, "reason") {
		t.Errorf("member level without a reason: got exit %d %q", code, errOut)
	}
	if _, errOut, code := cofferd(t, "admin", "member", "level", "--data", data, "--member", m.id, "--level", "emperor", "--reason", "x"); code == 0 || !strings.Contains(errOut, "personal") {
		t.Errorf("member level with an unknown level: got exit %d %q", code, errOut)
	}
	adminMemberLevel(t, data, m.id, "personal")
	s.must(t, "GET", "/v1/verification", m.token, nil, http.StatusOK, &status)
	if status.Level != "personal" {
		t.Errorf("after cofferd admin member level: got %q, want personal at once", status.Level)
	}
	// Now the member may issue.
	out, errOut, code = cofferd(t, "admin", "issuer", "add", "--data", data, "--member", m.id, "--currency", "USD", "--limit", "100.00")
	if code != 0 {
		t.Errorf("issuer add at personal: got exit %d\n%s%s", code, out, errOut)
	}

	// Removing the role holds at once on the running server.
	if _, errOut, code := cofferd(t, "admin", "registrar", "remove", "--data", data, "--member", reg.id); code != 0 {
		t.Fatalf("cofferd admin registrar remove: exit %d %s", code, errOut)
	}
	if st, body, _ := s.call("GET", "/v1/registrar/requests", reg.token, nil); st != http.StatusNotFound {
		t.Errorf("registrar queue after removal: got %d %s, want 404", st, body)
	}
}
