package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestIdentity_FlagValidation(t *testing.T) {
	k := newKeeper(t)
	k.register()
	var hits int
	var mu sync.Mutex
	count := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		problem(w, 500, "internal", "should not be reached")
	}
	for _, p := range []string{"/v1/profile", "/v1/profile/visibility", "/v1/members/", "/v1/disclosure-requests", "/v1/contacts",
		"/v1/verification", "/v1/registrar/", "/v1/account/"} {
		k.f.mux.HandleFunc(p, count)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"profile"}, "missing argument"},
		{[]string{"profile", "burn"}, "unknown subcommand"},
		{[]string{"profile", "set"}, "at least one FIELD=VALUE"},
		{[]string{"profile", "set", "first_name"}, "is not FIELD=VALUE"},
		{[]string{"profile", "set", "shoe_size=44"}, "unknown field \"shoe_size\""},
		{[]string{"profile", "set", "email=a@b.c"}, "is your login"},
		{[]string{"profile", "set", "linked_member_ids=1"}, "recorded by a registrar"},
		{[]string{"profile", "set", "date_of_birth=04.05.1990"}, "not a date"},
		{[]string{"profile", "set", "country=Germany"}, "two-letter code"},
		{[]string{"profile", "set", "city=A", "city=B"}, "given twice"},
		{[]string{"profile", "visibility", "city=public"}, "everyone, counterparties, on_request or nobody"},
		{[]string{"profile", "show", "extra"}, "unexpected argument"},
		{[]string{"member", "show"}, "name the member ID"},
		{[]string{"member", "show", "12345"}, "not a member ID"},
		{[]string{"member", "check", "123456789012"}, "at least one FIELD=VALUE"},
		{[]string{"member", "check", "123456789012", "linked_member_ids=1"}, "cannot be checked"},
		{[]string{"disclosure", "request", "123456789012", "--fields", "city"}, "missing --reason"},
		{[]string{"disclosure", "request", "123456789012", "--fields", "shoe", "--reason", "r"}, "unknown field \"shoe\""},
		{[]string{"disclosure", "request", "nobody", "--fields", "city", "--reason", "r"}, "not a member ID"},
		{[]string{"disclosure", "list", "--role", "owner"}, "subject or requester"},
		{[]string{"disclosure", "grant"}, "name the request ID"},
		{[]string{"disclosure", "grant", "disc_x", "--until", "tomorrow"}, "not a date"},
		{[]string{"disclosure", "grant", "disc_x", "--until", "2001-01-01"}, "in the past"},
		{[]string{"disclosure", "refuse", "disc_x", "--until", "2099-01-01"}, "go with grant"},
		{[]string{"contacts", "add"}, "name the member ID"},
		{[]string{"contacts", "add", "42"}, "not a member ID"},
		{[]string{"contacts", "remove", "123456789012", "--note", "x"}, "--note goes with add"},
		{[]string{"contacts", "only-contacts", "maybe"}, "on or off"},
		{[]string{"contacts", "only-contacts"}, "on or off"},
		{[]string{"verification", "upload"}, "at least one FILE"},
		{[]string{"verification", "submit", "x"}, "unexpected argument"},
		{[]string{"verification", "burn"}, "unknown subcommand"},
		{[]string{"registrar", "queue", "--state", "open"}, "pending, approved or rejected"},
		{[]string{"registrar", "document", "doc_1"}, "missing --out"},
		{[]string{"registrar", "approve", "ver_1"}, "missing --level"},
		{[]string{"registrar", "reject", "ver_1"}, "missing --reason"},
		{[]string{"registrar", "level", "123456789012"}, "member ID and the level"},
		{[]string{"registrar", "level", "123456789012", "initial"}, "missing --reason"},
		{[]string{"registrar", "link", "123456789012"}, "at least two member IDs"},
		{[]string{"registrar", "link", "123456789012", "x"}, "not a member ID"},
		{[]string{"account"}, "missing argument"},
		{[]string{"account", "delete"}, "unknown subcommand"},
		{[]string{"account", "close", "--confirm", "nocolon"}, "CONFIRMATION_ID:CODE"},
		{[]string{"account", "close", "--out", "f"}, "--out goes with export"},
		{[]string{"account", "export", "--confirm", "a:b"}, "--confirm goes with close"},
	} {
		r := k.run("", tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("coffer %s: got exit %d, stderr %q, want 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	// A missing file is an error of its own, not a usage error.
	if r := k.run("", "verification", "upload", filepath.Join(t.TempDir(), "none.pdf")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("upload of a missing file: exit %d, %q", r.code, r.stderr)
	}
	if hits != 0 {
		t.Errorf("bad usage reached the server %d times", hits)
	}
}

// TestIdentity_Commands runs the commands against a fake server and checks
// what they send.
func TestIdentity_Commands(t *testing.T) {
	k := newKeeper(t)
	k.register()
	var mu sync.Mutex
	var got []string
	record := func(r *http.Request) string {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+string(b))
		mu.Unlock()
		return string(b)
	}
	k.f.mux.HandleFunc("GET /v1/profile", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		writeJSON(w, 200, map[string]any{"values": map[string]any{"last_name": "Liddell", "email": "a@example.org"},
			"visibility": map[string]string{"last_name": "everyone"}})
	})
	k.f.mux.HandleFunc("PUT /v1/profile", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		writeJSON(w, 200, map[string]any{"values": map[string]any{"country": "GB"}, "visibility": map[string]string{}})
	})
	k.f.mux.HandleFunc("PUT /v1/profile/visibility", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		writeJSON(w, 200, map[string]string{"city": "counterparties"})
	})
	k.f.mux.HandleFunc("POST /v1/disclosure-requests/{id}/grant", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		writeJSON(w, 200, map[string]any{"request_id": r.PathValue("id"), "requester": "100000000009", "state": "granted", "granted": []string{"city"}})
	})
	n := 0
	k.f.mux.HandleFunc("POST /v1/verification/documents", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		n++
		writeJSON(w, 201, map[string]any{"document_id": "doc_" + string(rune('a'+n-1)), "content_type": "application/pdf", "size": 9})
	})
	k.f.mux.HandleFunc("POST /v1/verification", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		writeJSON(w, 201, map[string]any{"request_id": "ver_1", "state": "pending", "documents": []any{map[string]any{}, map[string]any{}}})
	})
	k.f.mux.HandleFunc("POST /v1/account/close", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.Header.Get("Coffer-Confirmation") != "c1:123456" {
			problem(w, 403, "confirmation_required", "Confirm closing the account: confirmation c1.")
			return
		}
		w.WriteHeader(204)
	})

	out := k.ok("profile", "show")
	for _, want := range []string{"last_name", "Liddell", "everyone", "a@example.org", "nobody"} {
		if !strings.Contains(out, want) {
			t.Errorf("profile show lacks %q:\n%s", want, out)
		}
	}
	k.ok("profile", "set", "country=gb", "city=")
	k.ok("profile", "visibility", "city=counterparties")
	if out := k.ok("disclosure", "grant", "disc_x", "--fields", "city"); !strings.Contains(out, "sees city until you revoke it") {
		t.Errorf("grant: %q", out)
	}
	dir := t.TempDir()
	for _, name := range []string{"a.pdf", "b.pdf"} {
		os.WriteFile(filepath.Join(dir, name), []byte("%PDF-1.4\n"), 0o600)
	}
	k.ok("verification", "upload", filepath.Join(dir, "a.pdf"), filepath.Join(dir, "b.pdf"))
	if out := k.ok("verification", "submit", "--level", "initial"); !strings.Contains(out, "ver_1") {
		t.Errorf("submit: %q", out)
	}
	r := k.run("", "account", "close")
	if r.code != 1 || !strings.Contains(r.stderr, "--confirm CONFIRMATION_ID:CODE") {
		t.Errorf("close without confirmation: %d %q", r.code, r.stderr)
	}
	if out := k.ok("account", "close", "--confirm", "c1:123456"); !strings.Contains(out, "is closed") {
		t.Errorf("close: %q", out)
	}
	if r := k.run("", "whoami"); r.code == 0 {
		t.Errorf("whoami after closing still finds the session: %q", r.stdout)
	}

	want := []string{
		"GET /v1/profile ",
		`PUT /v1/profile {"values":{"city":"","country":"GB"}}`,
		`PUT /v1/profile/visibility {"city":"counterparties"}`,
		`POST /v1/disclosure-requests/disc_x/grant {"fields":["city"]}`,
		"POST /v1/verification/documents %PDF-1.4\n",
		"POST /v1/verification/documents %PDF-1.4\n",
		`POST /v1/verification {"documents":["doc_a","doc_b"],"level_requested":"initial"}`,
		"POST /v1/account/close {}",
		"POST /v1/account/close {}",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		b, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("requests:\n%s\nwant %q", b, want)
	}
}
