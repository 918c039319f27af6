package web_test

import (
	"context"
	"net/http"
	"net/url"
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
