package web_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func TestServer_Privacy(t *testing.T) {
	e := newEnv(t)
	iss, issPurse := e.issuer(t, "USD")
	alice, alicePurse := e.member(t, "USD")
	e.fund(t, iss, issPurse, alicePurse, "10.00")
	ctx := context.Background()
	a := e.loggedIn(t, alice)

	p := a.get("/privacy")
	wantBody(t, p, `id="profile-form"`, `id="vis_last_name"`, "pseudonymous")
	p = a.post("/privacy/profile", url.Values{"v_first_name": {"Alice"}, "v_last_name": {"Liddell"}, "v_date_of_birth": {"1990-05-04"}, "v_country": {"gb"}})
	wantRedirect(t, p, "/privacy#profile")
	p = a.follow(p)
	wantBody(t, p, "was saved", `value="Liddell"`, `value="GB"`)
	wantBody(t, a.follow(a.post("/privacy/profile", url.Values{"v_date_of_birth": {"2999-01-01"}})), "flash-error")

	p = a.post("/privacy/visibility", url.Values{"vis_last_name": {"everyone"}, "vis_city": {"counterparties"}})
	wantRedirect(t, p, "/privacy#visibility")
	wantBody(t, a.follow(p), "was saved")
	v, err := e.svc.ViewMember(ctx, iss, alice)
	if err != nil || v.Fields[coffer.FieldLastName] != "Liddell" || v.Fields[coffer.FieldFirstName] != "" {
		t.Fatalf("view after making the last name public: %+v %v", v, err)
	}
	wantBody(t, a.follow(a.post("/privacy/visibility", url.Values{"vis_city": {"all"}})), "flash-error")

	// A disclosure request from a counterparty, granted then revoked.
	d, err := e.svc.RequestDisclosure(ctx, iss, alice, []string{coffer.FieldFirstName, coffer.FieldDateOfBirth}, "know your customer")
	if err != nil {
		t.Fatalf("RequestDisclosure: %v", err)
	}
	p = a.get("/disclosures")
	wantBody(t, p, "know your customer", iss, "/disclosures/"+d.ID+"/grant")
	until := time.Now().AddDate(0, 0, 10).Format("2006-01-02")
	p = a.post("/disclosures/"+d.ID+"/grant", url.Values{"field": {coffer.FieldFirstName}, "until": {until}})
	wantRedirect(t, p, "/disclosures")
	p = a.follow(p)
	wantBody(t, p, "was granted", `id="grants-table"`)
	if v, _ := e.svc.ViewMember(ctx, iss, alice); v.Fields[coffer.FieldFirstName] != "Alice" || v.Fields[coffer.FieldDateOfBirth] != "" {
		t.Fatalf("view with the grant: %+v", v.Fields)
	}
	wantBody(t, a.follow(a.post("/disclosures/"+d.ID+"/revoke", nil)), "was revoked")
	if v, _ := e.svc.ViewMember(ctx, iss, alice); v.Fields[coffer.FieldFirstName] != "" {
		t.Fatalf("view after revoking: %+v", v.Fields)
	}
	// Others cannot decide it.
	s := e.loggedIn(t, iss)
	s.get("/disclosures")
	wantBody(t, s.follow(s.post("/disclosures/"+d.ID+"/refuse", nil)), "flash-error")

	// Contacts and the restriction.
	p = a.get("/contacts")
	wantBody(t, p, `id="restriction-form"`, "anyone")
	wantBody(t, a.follow(a.post("/contacts", url.Values{"member_id": {iss}, "note": {"the bank"}})), "now one of your contacts", "the bank")
	wantBody(t, a.follow(a.post("/contacts", url.Values{"member_id": {"12"}})), "flash-error")
	wantBody(t, a.follow(a.post("/contacts/restriction", url.Values{"only_contacts": {"on"}})), "only contacts")
	st, err := e.svc.MemberStatus(ctx, alice)
	if err != nil || !st.OnlyContacts {
		t.Fatalf("restriction not on: %+v %v", st, err)
	}
	wantBody(t, a.follow(a.post("/contacts/"+iss+"/remove", nil)), "was removed")
	wantStatus(t, a.post("/contacts/restriction", url.Values{"csrf": {"forged"}}), http.StatusForbidden)
}

// multipartPost sends a form with files, as a browser sends a file form.
func (b *browser) multipartPost(path string, fields map[string]string, files map[string][]byte) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for name, content := range files {
		fw, _ := mw.CreateFormFile("document", name)
		fw.Write(content)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// pngBytes is a tiny PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

func TestServer_Verification(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.member(t, "USD")
	a := e.loggedIn(t, alice)
	p := a.get("/verification")
	wantBody(t, p, `id="verification-level">pseudonymous<`, `id="missing-data"`, "initial")
	a.follow(a.post("/privacy/profile", url.Values{"v_first_name": {"Alice"}, "v_last_name": {"Liddell"}, "v_date_of_birth": {"1990-05-04"}}))
	p = a.get("/verification")
	wantBody(t, p, `id="verification-level">formal<`, `enctype="multipart/form-data"`)
	csrf := a.csrf

	// Without the token, or to a page that takes no files, nothing happens.
	wantStatus(t, a.multipartPost("/verification", map[string]string{"csrf": "forged"}, map[string][]byte{"id.png": pngBytes}), http.StatusForbidden)
	wantStatus(t, a.multipartPost("/privacy/profile", map[string]string{"csrf": csrf, "v_city": "x"}, nil), http.StatusForbidden)
	// Not an image or PDF.
	p = a.multipartPost("/verification", map[string]string{"csrf": csrf}, map[string][]byte{"notes.txt": []byte("hello")})
	wantRedirect(t, p, "/verification")
	wantBody(t, a.follow(p), "flash-error", "notes.txt")

	p = a.multipartPost("/verification", map[string]string{"csrf": csrf, "level": "initial"}, map[string][]byte{"id.png": pngBytes, "id.pdf": []byte("%PDF-1.4\n%%EOF\n")})
	wantRedirect(t, p, "/verification")
	p = a.follow(p)
	wantBody(t, p, "A registrar will review them", `id="pending-review"`, `id="requests-table"`, "pending")
	st, err := e.svc.MyVerification(context.Background(), alice)
	if err != nil || len(st.Requests) != 1 || len(st.Requests[0].Documents) != 2 || st.Requests[0].Level != "initial" {
		t.Fatalf("verification after the form: %+v %v", st, err)
	}
}

// TestServer_NewPagesStrict checks that the payment and privacy pages keep
// the rules of every page: no inline script or style, every form with the
// CSRF token, nothing cached.
func TestServer_NewPagesStrict(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.member(t, "USD")
	a := e.loggedIn(t, alice)
	formRE := regexp.MustCompile(`(?s)<form\b[^>]*>.*?</form>`)
	for _, path := range []string{"/invoices", "/held", "/privacy", "/disclosures", "/contacts", "/verification", "/send"} {
		p := a.get(path)
		wantStatus(t, p, http.StatusOK)
		for _, bad := range []string{"<style", "style=", "<script>", "onclick=", "onload=", "onchange=", "javascript:"} {
			if strings.Contains(p.Body, bad) {
				t.Errorf("GET %s: page contains %q", path, bad)
			}
		}
		for _, f := range formRE.FindAllString(p.Body, -1) {
			if strings.Contains(f, `method="post"`) && !strings.Contains(f, `name="csrf"`) {
				t.Errorf("GET %s: a form without the CSRF token:\n%s", path, f)
			}
		}
		if got := p.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", path, got)
		}
	}
	// Logged out, every new page sends to the login page.
	b := e.browser(t)
	for _, path := range []string{"/invoices", "/held", "/privacy", "/disclosures", "/contacts", "/verification"} {
		wantRedirect(t, b.get(path), "/login")
	}
}
