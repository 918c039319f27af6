package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCoffer_IdentityWalkthrough drives verification and confidentiality
// through the keeper against a real server: profile values and who sees
// them, what another member sees before and after a transfer, a disclosure
// request granted and revoked, contacts and the restriction to them, a
// document uploaded, reviewed and approved by a registrar, a data check by
// a merchant, the export of an account and the closing of one.
func TestCoffer_IdentityWalkthrough(t *testing.T) {
	needKeeper(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	k := newKeeperEnv(t, s, "coffer-config", "COFFER_CODE=")
	k.stdoutOnSuccess = true
	home := k.home
	keeper, jsonOf, register, newPurse := k.run, k.json, k.register, k.newPurse
	memberView := func(viewer, subject string) map[string]any {
		t.Helper()
		var v struct {
			MemberID string         `json:"member_id"`
			Level    string         `json:"level"`
			Fields   map[string]any `json:"fields"`
		}
		jsonOf(&v, "--as", viewer, "member", "show", subject)
		if v.MemberID != subject {
			t.Fatalf("member show %s: got %+v", subject, v)
		}
		return v.Fields
	}

	issuer := register("issuer@example.org")
	alice := register("alice@example.org")
	bob := register("bob@example.org")
	shop := register("shop@example.org")
	reg := register("registrar@example.org")
	issPurse := adminIssuerAdd(t, data, issuer, "USD", "1000000.00")
	adminMemberLevel(t, data, shop, "initial") // a merchant level: may check members' data
	alicePurse, bobPurse, shopPurse := newPurse(alice), newPurse(bob), newPurse(shop)
	for _, p := range []string{alicePurse, bobPurse, shopPurse} {
		keeper(0, "--as", issuer, "send", "--from", issPurse, "--to", p, "--amount", "100.00", "--id", "fund-"+p)
	}
	if out, errOut, code := cofferd(t, "admin", "registrar", "add", "--data", data, "--member", reg); code != 0 {
		t.Fatalf("cofferd admin registrar add: exit %d\n%s%s", code, out, errOut)
	}

	// Alice enters her data: formal at once; she chooses who sees what.
	keeper(0, "--as", alice, "profile", "set", "first_name=Alice", "last_name=Liddell", "date_of_birth=1990-05-04", "city=Oxford", "country=gb")
	out := keeper(0, "--as", alice, "profile", "show")
	for _, want := range []string{"Liddell", "1990-05-04", "GB", "alice@example.org", "nobody"} {
		if !strings.Contains(out, want) {
			t.Errorf("profile show lacks %q:\n%s", want, out)
		}
	}
	if out := keeper(0, "--as", alice, "verification", "status"); !strings.Contains(out, "Level: formal") {
		t.Errorf("verification status after entering data: %q", out)
	}
	keeper(0, "--as", alice, "profile", "visibility", "last_name=everyone", "city=counterparties", "first_name=on_request")
	keeper(2, "--as", alice, "profile", "visibility", "city=public")

	// Bob sees the public field only; after a transfer, the counterparties' one too.
	if f := memberView(bob, alice); f["last_name"] != "Liddell" || f["city"] != nil || f["first_name"] != nil {
		t.Errorf("bob's view of alice before any transfer: %v", f)
	}
	keeper(1, "--as", bob, "disclosure", "request", alice, "--fields", "first_name", "--reason", "lease") // not a counterparty yet
	keeper(0, "--as", bob, "send", "--from", bobPurse, "--to", alicePurse, "--amount", "5.00", "--id", "rent-1")
	if f := memberView(bob, alice); f["city"] != "Oxford" || f["first_name"] != nil || f["date_of_birth"] != nil {
		t.Errorf("bob's view of alice after a transfer: %v", f)
	}
	if out := keeper(1, "--as", bob, "member", "show", "999999999999"); !strings.Contains(out, "no such member") {
		t.Errorf("member show of an unknown ID: %q", out)
	}

	// A disclosure request: granted for the first name only, then revoked.
	var d struct {
		RequestID string `json:"request_id"`
		State     string `json:"state"`
	}
	jsonOf(&d, "--as", bob, "disclosure", "request", alice, "--fields", "first_name,date_of_birth", "--reason", "the lease needs it")
	if d.RequestID == "" || d.State != "pending" {
		t.Fatalf("disclosure request: %+v", d)
	}
	if out := keeper(0, "--as", alice, "disclosure", "list"); !strings.Contains(out, d.RequestID) || !strings.Contains(out, "pending") || !strings.Contains(out, bob) {
		t.Errorf("disclosure list (alice): %q", out)
	}
	keeper(1, "--as", bob, "disclosure", "grant", d.RequestID) // only the subject decides
	until := time.Now().AddDate(0, 0, 10).Format("2006-01-02")
	if out := keeper(0, "--as", alice, "disclosure", "grant", d.RequestID, "--fields", "first_name", "--until", until); !strings.Contains(out, "sees first_name until") {
		t.Errorf("grant: %q", out)
	}
	if f := memberView(bob, alice); f["first_name"] != "Alice" || f["date_of_birth"] != nil {
		t.Errorf("bob's view with the grant: %v", f)
	}
	if out := keeper(0, "--as", bob, "disclosure", "list", "--role", "requester"); !strings.Contains(out, "granted") {
		t.Errorf("disclosure list (bob): %q", out)
	}
	keeper(0, "--as", alice, "disclosure", "revoke", d.RequestID)
	if f := memberView(bob, alice); f["first_name"] != nil {
		t.Errorf("bob's view after the revocation: %v", f)
	}
	keeper(1, "--as", alice, "disclosure", "refuse", d.RequestID) // no longer pending

	// Contacts: with the restriction on, only contacts may pay Alice.
	keeper(0, "--as", alice, "contacts", "add", bob, "--note", "flatmate")
	keeper(0, "--as", alice, "contacts", "only-contacts", "on")
	if out := keeper(0, "--as", alice, "contacts", "list"); !strings.Contains(out, "Only your contacts") || !strings.Contains(out, "flatmate") {
		t.Errorf("contacts list: %q", out)
	}
	if out := keeper(1, "--as", shop, "send", "--from", shopPurse, "--to", alicePurse, "--amount", "1.00", "--id", "cold-1"); !strings.Contains(out, "contacts") {
		t.Errorf("a transfer from a non-contact: %q", out)
	}
	keeper(0, "--as", bob, "send", "--from", bobPurse, "--to", alicePurse, "--amount", "1.00", "--id", "rent-2")
	keeper(0, "--as", alice, "contacts", "only-contacts", "off")
	keeper(0, "--as", alice, "contacts", "remove", bob)
	keeper(0, "--as", shop, "send", "--from", shopPurse, "--to", alicePurse, "--amount", "1.00", "--id", "cold-2")

	// Verification: Alice uploads a scan and submits; the registrar approves.
	scan := []byte("%PDF-1.4\nscan of a passport\n%%EOF\n")
	scanFile := filepath.Join(home, "passport.pdf")
	if err := os.WriteFile(scanFile, scan, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := keeper(0, "--as", alice, "verification", "upload", scanFile); !strings.Contains(out, "application/pdf") {
		t.Errorf("upload: %q", out)
	}
	keeper(0, "--as", alice, "verification", "submit", "--level", "initial")
	keeper(1, "--as", alice, "registrar", "queue") // not a registrar
	var queue []struct {
		RequestID string `json:"request_id"`
		MemberID  string `json:"member_id"`
		Documents []struct {
			DocumentID string `json:"document_id"`
		} `json:"documents"`
	}
	jsonOf(&queue, "--as", reg, "registrar", "queue")
	if len(queue) != 1 || queue[0].MemberID != alice || len(queue[0].Documents) != 1 {
		t.Fatalf("registrar queue: %+v", queue)
	}
	if out := keeper(0, "--as", reg, "registrar", "show", queue[0].RequestID); !strings.Contains(out, "Liddell") || !strings.Contains(out, "1990-05-04") {
		t.Errorf("registrar show: %q", out)
	}
	got := filepath.Join(home, "got.pdf")
	keeper(0, "--as", reg, "registrar", "document", queue[0].Documents[0].DocumentID, "--out", got)
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, scan) {
		t.Errorf("registrar document: %q %v, want the uploaded scan", b, err)
	}
	keeper(0, "--as", reg, "registrar", "approve", queue[0].RequestID, "--level", "initial")
	if out := keeper(0, "--as", alice, "verification", "status"); !strings.Contains(out, "Level: initial") || !strings.Contains(out, "approved") {
		t.Errorf("verification status after approval: %q", out)
	}
	keeper(0, "--as", reg, "registrar", "level", alice, "formal", "--reason", "document expired")
	if out := keeper(0, "--as", alice, "verification", "status"); !strings.Contains(out, "Level: formal") {
		t.Errorf("verification status after lowering: %q", out)
	}
	keeper(1, "--as", reg, "registrar", "level", reg, "personal", "--reason", "myself") // never their own
	keeper(0, "--as", reg, "registrar", "link", alice, bob)

	// A merchant checks data it holds; a pseudonymous member may not.
	var check struct {
		Results map[string]string `json:"results"`
	}
	jsonOf(&check, "--as", shop, "member", "check", alice, "last_name=  liddell ", "date_of_birth=1990-05-05")
	if check.Results["last_name"] != "match" || check.Results["date_of_birth"] != "no_match" {
		t.Errorf("member check: %+v", check.Results)
	}
	if out := keeper(1, "--as", bob, "member", "check", alice, "last_name=Liddell"); !strings.Contains(out, "level") {
		t.Errorf("member check by a pseudonymous member: %q", out)
	}

	// Export, then closing: refused while money is left, done once empty.
	exportFile := filepath.Join(home, "alice.json")
	keeper(0, "--as", alice, "account", "export", "--out", exportFile)
	var export map[string]any
	if b, err := os.ReadFile(exportFile); err != nil || json.Unmarshal(b, &export) != nil {
		t.Fatalf("export file: %v", err)
	}
	if m, _ := export["member"].(map[string]any); m == nil || m["member_id"] != alice {
		t.Errorf("export: member %v", export["member"])
	}
	if out := keeper(1, "--as", alice, "account", "close"); !strings.Contains(out, "empty") {
		t.Errorf("close with money left: %q", out)
	}
	carol := register("carol@example.org")
	if out := keeper(0, "--as", carol, "account", "close"); !strings.Contains(out, "is closed") {
		t.Errorf("close: %q", out)
	}
	keeper(1, "--as", carol, "whoami")
	keeper(1, "login", "carol@example.org")
	keeper(1, "--as", bob, "member", "show", carol)
}
