package client

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestProfileAndVisibility(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"values": map[string]any{"last_name": "Liddell", "linked_member_ids": []string{"111111111111"}},
				"visibility": map[string]string{"last_name": "everyone"}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"values": map[string]any{"city": "Oxford"}, "visibility": map[string]string{}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]string{"city": "counterparties"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 400, "invalid_request", "Bad Request", "The visibility of city must be everyone, counterparties, on_request or nobody.")
		},
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	p, err := c.Profile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Values.Values["last_name"] != "Liddell" || len(p.Values.LinkedMemberIDs) != 1 || p.Visibility["last_name"] != "everyone" {
		t.Fatalf("profile %+v", p)
	}
	if _, err := c.SetProfile(ctx, map[string]string{"city": "Oxford"}); err != nil {
		t.Fatal(err)
	}
	v, err := c.SetVisibility(ctx, map[string]string{"city": "counterparties"})
	if err != nil || v["city"] != "counterparties" {
		t.Fatalf("SetVisibility: %v %v", v, err)
	}
	if _, err := c.SetVisibility(ctx, map[string]string{"city": "all"}); !IsCode(err, "invalid_request") {
		t.Fatalf("got %v, want invalid_request", err)
	}
	want := []string{"GET /v1/profile", "PUT /v1/profile", "PUT /v1/profile/visibility", "PUT /v1/profile/visibility"}
	if strings.Join(rec.paths, ",") != strings.Join(want, ",") {
		t.Fatalf("requests %q, want %q", rec.paths, want)
	}
	if rec.bodies[1] != `{"values":{"city":"Oxford"}}` || rec.bodies[2] != `{"city":"counterparties"}` {
		t.Fatalf("bodies %q", rec.bodies)
	}
}

func TestMemberCheckAndDisclosure(t *testing.T) {
	until := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"member_id": "222222222222", "level": "formal", "registered": "2026-01-02",
				"fields": map[string]any{"last_name": "Liddell"}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 404, "not_found", "Not Found", "There is no such member.")
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"results": map[string]string{"last_name": "match", "date_of_birth": "no_match"}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"request_id": "disc_x", "requester": "1", "subject": "222222222222", "fields": []string{"city"},
				"reason": "kyc", "state": "pending", "created_at": "2026-01-01T00:00:00Z"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"requests": []any{map[string]any{"request_id": "disc_x", "state": "granted", "granted": []string{"city"}, "until": until}}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"request_id": "disc_x", "state": "granted", "granted": []string{"city"}, "until": until})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"request_id": "disc_x", "state": "revoked"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 409, "conflict", "Conflict", "The request is revoked.")
		},
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	m, err := c.Member(ctx, "222222222222")
	if err != nil || m.Level != "formal" || m.Fields.Values["last_name"] != "Liddell" || m.Registered != "2026-01-02" {
		t.Fatalf("Member: %+v %v", m, err)
	}
	if _, err := c.Member(ctx, "333333333333"); !IsCode(err, "not_found") {
		t.Fatalf("got %v, want not_found", err)
	}
	res, err := c.CheckMember(ctx, "222222222222", map[string]string{"last_name": "liddell"})
	if err != nil || res["last_name"] != CheckMatch || res["date_of_birth"] != CheckNoMatch {
		t.Fatalf("CheckMember: %v %v", res, err)
	}
	d, err := c.RequestDisclosure(ctx, "222222222222", []string{"city"}, "kyc")
	if err != nil || d.RequestID != "disc_x" || d.State != "pending" {
		t.Fatalf("RequestDisclosure: %+v %v", d, err)
	}
	list, err := c.Disclosures(ctx, "requester")
	if err != nil || len(list) != 1 || list[0].Until == nil || !list[0].Until.Equal(until) {
		t.Fatalf("Disclosures: %+v %v", list, err)
	}
	if _, err := c.GrantDisclosure(ctx, "disc_x", []string{"city"}, &until); err != nil {
		t.Fatal(err)
	}
	if d, err := c.RevokeDisclosure(ctx, "disc_x"); err != nil || d.State != "revoked" {
		t.Fatalf("Revoke: %+v %v", d, err)
	}
	if _, err := c.RefuseDisclosure(ctx, "disc_x"); !IsCode(err, "conflict") {
		t.Fatalf("got %v, want conflict", err)
	}
	if _, err := c.RefuseDisclosure(ctx, ".."); err == nil {
		t.Fatal("a request ID of .. was sent")
	}
	want := []string{"GET /v1/members/222222222222", "GET /v1/members/333333333333", "POST /v1/members/222222222222/check",
		"POST /v1/members/222222222222/disclosure-requests", "GET /v1/disclosure-requests?role=requester",
		"POST /v1/disclosure-requests/disc_x/grant", "POST /v1/disclosure-requests/disc_x/revoke", "POST /v1/disclosure-requests/disc_x/refuse"}
	if strings.Join(rec.paths, ",") != strings.Join(want, ",") {
		t.Fatalf("requests %q, want %q", rec.paths, want)
	}
	if rec.bodies[2] != `{"fields":{"last_name":"liddell"}}` || rec.bodies[5] != `{"fields":["city"],"until":"2030-01-02T00:00:00Z"}` {
		t.Fatalf("bodies %q", rec.bodies)
	}
}

func TestContacts(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"member_id": "222222222222", "note": "bank", "created_at": "2026-01-01T00:00:00Z"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"contacts": []any{map[string]any{"member_id": "222222222222", "note": "bank"}}, "only_contacts": true})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"only_contacts": false})
		},
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	if _, err := c.AddContact(ctx, "222222222222", "bank"); err != nil {
		t.Fatal(err)
	}
	l, err := c.Contacts(ctx)
	if err != nil || !l.OnlyContacts || len(l.Contacts) != 1 || l.Contacts[0].Note != "bank" {
		t.Fatalf("Contacts: %+v %v", l, err)
	}
	if err := c.SetOnlyContacts(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveContact(ctx, "222222222222"); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /v1/contacts", "GET /v1/contacts", "PUT /v1/contacts/restriction", "DELETE /v1/contacts/222222222222"}
	if strings.Join(rec.paths, ",") != strings.Join(want, ",") {
		t.Fatalf("requests %q, want %q", rec.paths, want)
	}
	if rec.bodies[2] != `{"only_contacts":false}` {
		t.Fatalf("restriction body %q", rec.bodies[2])
	}
}

func TestVerificationAndRegistrar(t *testing.T) {
	pdf := []byte("%PDF-1.4 test")
	big := bytes.Repeat([]byte{'x'}, 2<<20) // a document larger than a JSON answer may be
	var gotType string
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			gotType = r.Header.Get("Content-Type")
			writeJSON(w, 201, map[string]any{"document_id": "doc_1", "content_type": "application/pdf", "size": len(pdf), "sha256": "ab"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"request_id": "ver_1", "state": "pending", "level_requested": "initial", "documents": []any{}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"level": "formal", "allows": map[string]any{"name": "formal", "rank": 10, "daily_limit": map[string]string{"USD": "10000.00"}},
				"requests": []any{map[string]any{"request_id": "ver_1", "state": "pending"}}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"requests": []any{map[string]any{"request_id": "ver_1", "member_id": "1", "state": "pending"}}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(big)
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"request_id": "ver_1", "state": "approved", "level": "initial"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"member_id": "1", "level": "formal"})
		},
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"person_id": "per_1", "member_ids": []string{"1", "2"}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			problem(w, 404, "not_found", "Not Found", "There is no such page.")
		},
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	d, err := c.UploadDocument(ctx, pdf)
	if err != nil || d.DocumentID != "doc_1" {
		t.Fatalf("UploadDocument: %+v %v", d, err)
	}
	if gotType != "application/octet-stream" || rec.bodies[0] != string(pdf) {
		t.Fatalf("upload sent %q as %q", rec.bodies[0], gotType)
	}
	if _, err := c.UploadDocument(ctx, make([]byte, MaxDocumentSize+1)); err == nil {
		t.Fatal("a document over 5 MiB was sent")
	}
	if v, err := c.SubmitVerification(ctx, []string{"doc_1"}, "initial"); err != nil || v.RequestID != "ver_1" {
		t.Fatalf("SubmitVerification: %+v %v", v, err)
	}
	st, err := c.VerificationStatus(ctx)
	if err != nil || st.Level != "formal" || st.Allows == nil || st.Allows.DailyLimit["USD"] != "10000.00" || len(st.Requests) != 1 {
		t.Fatalf("VerificationStatus: %+v %v", st, err)
	}
	if q, err := c.RegistrarQueue(ctx, ""); err != nil || len(q) != 1 {
		t.Fatalf("RegistrarQueue: %+v %v", q, err)
	}
	ct, content, err := c.RegistrarDocument(ctx, "doc_1")
	if err != nil || ct != "application/pdf" || len(content) != len(big) {
		t.Fatalf("RegistrarDocument: %q %d %v", ct, len(content), err)
	}
	if v, err := c.ApproveVerification(ctx, "ver_1", "initial"); err != nil || v.Level != "initial" {
		t.Fatalf("Approve: %+v %v", v, err)
	}
	if l, err := c.SetMemberLevel(ctx, "1", "formal", "documents expired"); err != nil || l != "formal" {
		t.Fatalf("SetMemberLevel: %q %v", l, err)
	}
	if p, err := c.LinkMembers(ctx, []string{"1", "2"}); err != nil || p != "per_1" {
		t.Fatalf("LinkMembers: %q %v", p, err)
	}
	if _, err := c.RejectVerification(ctx, "ver_2", "blurred"); !IsCode(err, "not_found") {
		t.Fatalf("got %v, want not_found", err)
	}
	want := []string{"POST /v1/verification/documents", "POST /v1/verification", "GET /v1/verification", "GET /v1/registrar/requests",
		"GET /v1/registrar/documents/doc_1", "POST /v1/registrar/requests/ver_1/approve", "POST /v1/registrar/members/1/level",
		"POST /v1/registrar/persons", "POST /v1/registrar/requests/ver_2/reject"}
	if strings.Join(rec.paths, ",") != strings.Join(want, ",") {
		t.Fatalf("requests %q, want %q", rec.paths, want)
	}
	if rec.bodies[1] != `{"documents":["doc_1"],"level_requested":"initial"}` || rec.bodies[6] != `{"level":"formal","reason":"documents expired"}` {
		t.Fatalf("bodies %q / %q", rec.bodies[1], rec.bodies[6])
	}
}

func TestAccountExportAndClose(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"format": "coffer-account-export/1", "member": map[string]any{"member_id": "1"}})
		},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(403)
			w.Write([]byte(`{"code":"confirmation_required","detail":"Confirm it.","confirmation_id":"c1","methods":["totp"]}`))
		},
		func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Coffer-Confirmation") != "c1:123456" {
				problem(w, 401, "confirmation_failed", "Unauthorized", "no proof")
				return
			}
			w.WriteHeader(204)
		},
	}}
	c := newTestClient(t, rec)
	ctx := context.Background()
	x, err := c.ExportAccount(ctx)
	if err != nil || !strings.Contains(string(x), "coffer-account-export/1") {
		t.Fatalf("ExportAccount: %s %v", x, err)
	}
	if err := c.CloseAccount(ctx); !IsCode(err, "confirmation_required") {
		t.Fatalf("got %v, want confirmation_required", err)
	}
	if err := c.CloseAccount(WithConfirmation(ctx, "c1", "123456")); err != nil {
		t.Fatal(err)
	}
}
