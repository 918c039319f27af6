package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// privEnv is a server with the built-in verification levels and a
// document key, on a fresh SQLite database, with a USD issuer.
type privEnv struct {
	*env
	iss    *member
	issUSD string
}

func newPrivEnv(t *testing.T) *privEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	levels, currencies := coffer.DefaultLevels(), app.NewCurrencies(db)
	engine := ledger.New(db, log, ledger.Config{Levels: levels, Currencies: currencies})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Levels: levels, Currencies: currencies,
		DocumentKey: make([]byte, 32), Uploads: app.UploadConfig{Dir: t.TempDir()}})
	srv := httptest.NewServer(httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	e := &privEnv{env: &env{t: t, srv: srv, db: db, clock: clk}}
	e.iss, e.issUSD = e.issuer(t, "USD", 1_000_000_00)
	return e
}

// funded registers a member with a USD purse holding amount.
func (e *privEnv) funded(t *testing.T, amount string) (*member, string) {
	t.Helper()
	m := e.register(t, "")
	p := e.newPurse(t, m, "USD")
	e.send(t, e.iss, e.issUSD, p, amount)
	return m, p
}

func (e *privEnv) setLevel(t *testing.T, m *member, level string) {
	t.Helper()
	now := time.Now()
	if err := e.db.SetLevel(context.Background(), m.id, level, now, coffer.NewAuditEvent(now, coffer.AuditLevelChanged, m.id, nil)); err != nil {
		t.Fatalf("SetLevel: %v", err)
	}
}

type memberView struct {
	MemberID   string         `json:"member_id"`
	Level      string         `json:"level"`
	Registered string         `json:"registered"`
	Fields     map[string]any `json:"fields"`
}

func (e *privEnv) view(t *testing.T, viewer *member, subject string) memberView {
	t.Helper()
	a := e.request(t, "GET", "/v1/members/"+subject, viewer.token, nil)
	wantStatus(t, a, http.StatusOK)
	var v memberView
	a.decode(t, &v)
	return v
}

type disclosureJSON struct {
	RequestID string   `json:"request_id"`
	Requester string   `json:"requester"`
	Subject   string   `json:"subject"`
	Fields    []string `json:"fields"`
	State     string   `json:"state"`
	Granted   []string `json:"granted"`
}

func (e *privEnv) askDisclosure(t *testing.T, requester *member, subject string, fields ...string) disclosureJSON {
	t.Helper()
	a := e.request(t, "POST", "/v1/members/"+subject+"/disclosure-requests", requester.token,
		map[string]any{"fields": fields, "reason": "delivery of the goods"})
	wantStatus(t, a, http.StatusCreated)
	var d disclosureJSON
	a.decode(t, &d)
	if d.State != coffer.DisclosurePending || d.RequestID == "" {
		t.Fatalf("got %s, want a pending request", a)
	}
	return d
}

func (e *privEnv) setProfile(t *testing.T, m *member, values, vis map[string]string) {
	t.Helper()
	if values != nil {
		wantStatus(t, e.request(t, "PUT", "/v1/profile", m.token, map[string]any{"values": values}), http.StatusOK)
	}
	if vis != nil {
		wantStatus(t, e.request(t, "PUT", "/v1/profile/visibility", m.token, vis), http.StatusOK)
	}
}

func TestServer_Profile(t *testing.T) {
	e := newPrivEnv(t)
	m := e.register(t, "m@example.com")
	good := map[string]string{"first_name": "  Ada  ", "last_name": "Lovelace", "country": "gb", "date_of_birth": "1985-12-10"}
	a := e.request(t, "PUT", "/v1/profile", m.token, map[string]any{"values": good})
	wantStatus(t, a, http.StatusOK)
	var p struct {
		Values     map[string]any    `json:"values"`
		Visibility map[string]string `json:"visibility"`
	}
	a.decode(t, &p)
	if p.Values["first_name"] != "Ada" || p.Values["country"] != "GB" || p.Values["email"] != "m@example.com" {
		t.Errorf("got values %v, want first_name Ada, country GB and the login e-mail", p.Values)
	}
	if p.Visibility["last_name"] != coffer.VisibleNobody {
		t.Errorf("got visibility %v, want nobody by default", p.Visibility)
	}
	if v := e.view(t, m, m.id); v.Level != coffer.LevelFormal {
		t.Errorf("got level %q after entering names and date of birth, want formal", v.Level)
	}
	before := string(e.request(t, "GET", "/v1/profile", m.token, nil).Body)
	for name, bad := range map[string]map[string]string{
		"email":        {"first_name": "Eve", "email": "x@example.com"},
		"phone":        {"phone": "+14155550100"},
		"linked":       {"linked_member_ids": "123456789012"},
		"unknown":      {"nickname": "x"},
		"country":      {"country": "XX"},
		"future birth": {"date_of_birth": time.Now().AddDate(1, 0, 0).Format(time.DateOnly)},
		"bad date":     {"date_of_birth": "10.12.1815"},
		"long name":    {"first_name": strings.Repeat("a", 101)},
		"control":      {"city": "Lon\x00don"},
	} {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, e.request(t, "PUT", "/v1/profile", m.token, map[string]any{"values": bad}), http.StatusBadRequest, coffer.EINVALID)
		})
	}
	wantProblem(t, e.request(t, "PUT", "/v1/profile/visibility", m.token, map[string]string{"last_name": "friends"}), http.StatusBadRequest, coffer.EINVALID)
	wantProblem(t, e.request(t, "PUT", "/v1/profile", m.token, `{"values":{},"extra":1}`), http.StatusBadRequest, coffer.EINVALID)
	if after := string(e.request(t, "GET", "/v1/profile", m.token, nil).Body); after != before {
		t.Errorf("bad input changed the profile:\ngot  %s\nwant %s", after, before)
	}
	a = e.request(t, "PUT", "/v1/profile/visibility", m.token, map[string]string{"last_name": "everyone", "email": "counterparties"})
	wantStatus(t, a, http.StatusOK)
	var vis map[string]string
	a.decode(t, &vis)
	if vis["last_name"] != "everyone" || vis["email"] != "counterparties" || vis["city"] != "nobody" {
		t.Errorf("got visibility %v", vis)
	}
	// Deleting a value.
	e.setProfile(t, m, map[string]string{"first_name": ""}, nil)
	a = e.request(t, "GET", "/v1/profile", m.token, nil)
	p.Values = nil
	a.decode(t, &p)
	if _, ok := p.Values["first_name"]; ok {
		t.Errorf("got %v, want first_name deleted", p.Values)
	}
}

func TestServer_DisclosureStateMachine(t *testing.T) {
	e := newPrivEnv(t)
	s, sUSD := e.funded(t, "100.00")
	a, aUSD := e.funded(t, "100.00")
	stranger := e.register(t, "")
	e.send(t, a, aUSD, sUSD, "1.00")
	e.setProfile(t, s, map[string]string{"first_name": "Sam", "last_name": "Subject", "city": "Oslo"},
		map[string]string{"last_name": "on_request", "city": "on_request"})

	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/disclosure-requests", stranger.token,
		map[string]any{"fields": []string{"last_name"}, "reason": "curious"}), http.StatusForbidden, coffer.EFORBIDDEN)
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/disclosure-requests", a.token,
		map[string]any{"fields": []string{"shoe_size"}, "reason": "x"}), http.StatusBadRequest, coffer.EINVALID)
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/disclosure-requests", a.token,
		map[string]any{"fields": []string{"city"}, "reason": ""}), http.StatusBadRequest, coffer.EINVALID)

	d := e.askDisclosure(t, a, s.id, "last_name", "city")
	if v := e.view(t, a, s.id); v.Fields["last_name"] != nil {
		t.Errorf("got %v before the grant, want no last_name", v.Fields)
	}
	// Only the subject decides; everyone else gets the answer of an
	// unknown request.
	unknown := e.request(t, "POST", "/v1/disclosure-requests/disc_aaaaaaaaaaaaaaaaaaaaaaaaaa/grant", s.token, nil)
	wantProblem(t, unknown, http.StatusNotFound, coffer.ENOTFOUND)
	for _, who := range []*member{a, stranger} {
		got := e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/grant", who.token, nil)
		if got.Status != http.StatusNotFound || string(got.Body) != string(unknown.Body) {
			t.Errorf("grant by a non-subject: got %s, want %s", got, unknown)
		}
	}
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/revoke", s.token, nil), http.StatusConflict, coffer.ECONFLICT)
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/grant", s.token,
		map[string]any{"fields": []string{"first_name"}}), http.StatusBadRequest, coffer.EINVALID)
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/grant", s.token,
		map[string]any{"until": time.Now().Add(-time.Hour)}), http.StatusBadRequest, coffer.EINVALID)

	g := e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/grant", s.token, map[string]any{"fields": []string{"city"}})
	wantStatus(t, g, http.StatusOK)
	var gd disclosureJSON
	g.decode(t, &gd)
	if gd.State != coffer.DisclosureGranted || len(gd.Granted) != 1 || gd.Granted[0] != "city" {
		t.Errorf("got %s, want granted with city only", g)
	}
	if v := e.view(t, a, s.id); v.Fields["city"] != "Oslo" || v.Fields["last_name"] != nil {
		t.Errorf("got %v with the grant, want city and no last_name", v.Fields)
	}
	if v := e.view(t, stranger, s.id); v.Fields["city"] != nil {
		t.Errorf("got %v for a stranger, want no city", v.Fields)
	}
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/grant", s.token, nil), http.StatusConflict, coffer.ECONFLICT)
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/refuse", s.token, nil), http.StatusConflict, coffer.ECONFLICT)
	wantStatus(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/revoke", s.token, nil), http.StatusOK)
	if v := e.view(t, a, s.id); v.Fields["city"] != nil {
		t.Errorf("got %v after the revocation, want no city", v.Fields)
	}
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d.RequestID+"/revoke", s.token, nil), http.StatusConflict, coffer.ECONFLICT)

	// Refused, and a grant with an end.
	d2 := e.askDisclosure(t, a, s.id, "city")
	wantStatus(t, e.request(t, "POST", "/v1/disclosure-requests/"+d2.RequestID+"/refuse", s.token, nil), http.StatusOK)
	wantProblem(t, e.request(t, "POST", "/v1/disclosure-requests/"+d2.RequestID+"/grant", s.token, nil), http.StatusConflict, coffer.ECONFLICT)
	d3 := e.askDisclosure(t, a, s.id, "city")
	wantStatus(t, e.request(t, "POST", "/v1/disclosure-requests/"+d3.RequestID+"/grant", s.token,
		map[string]any{"until": e.clock.Now().Add(10 * time.Minute)}), http.StatusOK)
	if v := e.view(t, a, s.id); v.Fields["city"] != "Oslo" {
		t.Errorf("got %v within the grant, want city", v.Fields)
	}
	e.clock.Advance(11 * time.Minute)
	if v := e.view(t, a, s.id); v.Fields["city"] != nil {
		t.Errorf("got %v after the grant ended, want no city", v.Fields)
	}

	// Lists: each side sees its own.
	var list struct {
		Requests []disclosureJSON `json:"requests"`
	}
	e.request(t, "GET", "/v1/disclosure-requests?role=subject", s.token, nil).decode(t, &list)
	if len(list.Requests) != 3 {
		t.Errorf("got %d requests about the subject, want 3", len(list.Requests))
	}
	e.request(t, "GET", "/v1/disclosure-requests?role=requester", a.token, nil).decode(t, &list)
	if len(list.Requests) != 3 {
		t.Errorf("got %d requests by the requester, want 3", len(list.Requests))
	}
	e.request(t, "GET", "/v1/disclosure-requests?role=subject", a.token, nil).decode(t, &list)
	if len(list.Requests) != 0 {
		t.Errorf("got %d requests about the requester, want 0", len(list.Requests))
	}
	wantProblem(t, e.request(t, "GET", "/v1/disclosure-requests?role=other", a.token, nil), http.StatusBadRequest, coffer.EINVALID)
}

func TestServer_DisclosureRateLimits(t *testing.T) {
	e := newPrivEnv(t)
	s, sUSD := e.funded(t, "10.00")
	var rs []*member
	for range 3 {
		r, rUSD := e.funded(t, "10.00")
		e.send(t, r, rUSD, sUSD, "1.00")
		rs = append(rs, r)
	}
	for range app.DisclosuresPerDay {
		e.askDisclosure(t, rs[0], s.id, "city")
	}
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/disclosure-requests", rs[0].token,
		map[string]any{"fields": []string{"city"}, "reason": "again"}), http.StatusTooManyRequests, coffer.ERATELIMITED)
	for range app.DisclosuresPerSubjectDay - app.DisclosuresPerDay {
		e.askDisclosure(t, rs[1], s.id, "city")
	}
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/disclosure-requests", rs[2].token,
		map[string]any{"fields": []string{"city"}, "reason": "again"}), http.StatusTooManyRequests, coffer.ERATELIMITED)
	e.clock.Advance(25 * time.Hour)
	rs[2].token = e.login(t, rs[2].id, testPassword)
	e.askDisclosure(t, rs[2], s.id, "city")
}

func TestServer_MemberViewRateLimit(t *testing.T) {
	e := newPrivEnv(t)
	v := e.register(t, "")
	s := e.register(t, "")
	for i := range app.MemberViewsPerMinute {
		id := s.id
		if i%2 == 1 {
			id = "000000000001" // unknown IDs count too
			wantProblem(t, e.request(t, "GET", "/v1/members/"+id, v.token, nil), http.StatusNotFound, coffer.ENOTFOUND)
			continue
		}
		e.view(t, v, id)
	}
	wantProblem(t, e.request(t, "GET", "/v1/members/"+s.id, v.token, nil), http.StatusTooManyRequests, coffer.ERATELIMITED)
	e.view(t, v, v.id) // one's own profile is not limited
	e.clock.Advance(61 * time.Second)
	e.view(t, v, s.id)
}

func TestServer_CheckData(t *testing.T) {
	e := newPrivEnv(t)
	s := e.register(t, "s@example.com")
	e.setProfile(t, s, map[string]string{"last_name": "van  der Berg", "date_of_birth": "1990-04-01"}, nil)
	checker := e.register(t, "")
	body := map[string]any{"fields": map[string]string{"last_name": " VAN der berg ", "date_of_birth": "1990-04-02", "city": "Oslo"}}
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/check", checker.token, body), http.StatusForbidden, coffer.ELEVELTOOLOW)
	e.setLevel(t, checker, coffer.LevelInitial)
	a := e.request(t, "POST", "/v1/members/"+s.id+"/check", checker.token, body)
	wantStatus(t, a, http.StatusOK)
	var res struct {
		Results map[string]string `json:"results"`
	}
	a.decode(t, &res)
	want := map[string]string{"last_name": "match", "date_of_birth": "no_match", "city": "no_match"}
	for f, w := range want {
		if res.Results[f] != w {
			t.Errorf("%s: got %q, want %q", f, res.Results[f], w)
		}
	}
	if strings.Contains(string(a.Body), "1990") || strings.Contains(strings.ToLower(string(a.Body)), "berg") {
		t.Errorf("got %s, want no values in the answer", a)
	}
	// The subject's security log names the checker and the fields, never
	// the values.
	ev := e.request(t, "GET", "/v1/security/events", s.token, nil)
	if !strings.Contains(string(ev.Body), coffer.AuditDataChecked) || !strings.Contains(string(ev.Body), checker.id) {
		t.Errorf("got subject events %s, want a %s event naming the checker", ev, coffer.AuditDataChecked)
	}
	if strings.Contains(string(ev.Body), "1990-04-02") || strings.Contains(string(ev.Body), "VAN") {
		t.Errorf("got subject events %s, want no checked values", ev)
	}
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/check", checker.token,
		map[string]any{"fields": map[string]string{"purse": "x"}}), http.StatusBadRequest, coffer.EINVALID)
	unknown := e.request(t, "POST", "/v1/members/000000000001/check", checker.token, body)
	wantProblem(t, unknown, http.StatusNotFound, coffer.ENOTFOUND)
	for range app.DataChecksPerHour - 2 {
		wantStatus(t, e.request(t, "POST", "/v1/members/"+s.id+"/check", checker.token, body), http.StatusOK)
	}
	wantProblem(t, e.request(t, "POST", "/v1/members/"+s.id+"/check", checker.token, body), http.StatusTooManyRequests, coffer.ERATELIMITED)
}

func TestServer_ContactsRestriction(t *testing.T) {
	e := newPrivEnv(t)
	a, aUSD := e.funded(t, "100.00")
	b, bUSD := e.funded(t, "100.00")
	c, cUSD := e.funded(t, "100.00")
	e.setLevel(t, a, coffer.LevelInitial)
	e.setLevel(t, b, coffer.LevelInitial)
	e.send(t, c, cUSD, bUSD, "5.00") // b receives from c before the restriction
	a2 := e.request(t, "PUT", "/v1/contacts/restriction", b.token, map[string]any{"only_contacts": true})
	wantStatus(t, a2, http.StatusOK)
	e.members = append(e.members, e.iss)

	before := e.snapshot(t)
	wantProblem(t, e.request(t, "POST", "/v1/transfers", a.token, transferBody{TransferID: e.nextID("t"), From: aUSD, To: bUSD, Amount: "1.00"}),
		http.StatusForbidden, coffer.ENOTACONTACT)
	wantProblem(t, e.request(t, "POST", "/v1/transfers", a.token, map[string]any{"transfer_id": e.nextID("t"), "from": aUSD, "to": bUSD,
		"amount": "1.00", "protect": map[string]any{"days": 3}}), http.StatusForbidden, coffer.ENOTACONTACT)
	ba := e.request(t, "POST", "/v1/transfers/batch", a.token, map[string]any{"transfers": []transferBody{
		{TransferID: e.nextID("t"), From: aUSD, To: bUSD, Amount: "1.00"}}})
	if !strings.Contains(string(ba.Body), coffer.ENOTACONTACT) {
		t.Errorf("got batch answer %s, want the transfer refused with %s", ba, coffer.ENOTACONTACT)
	}
	wantProblem(t, e.request(t, "POST", "/v1/invoices", a.token, map[string]any{"payer": b.id, "purse": aUSD, "amount": "1.00",
		"order_number": "o-1"}), http.StatusForbidden, coffer.ENOTACONTACT)
	wantProblem(t, e.request(t, "POST", "/v1/members/"+b.id+"/disclosure-requests", c.token,
		map[string]any{"fields": []string{"city"}, "reason": "x"}), http.StatusForbidden, coffer.ENOTACONTACT)
	wantUnchanged(t, before, e.snapshot(t))

	// Exempt: an invoice b issued, and a refund of b's own transfer.
	inv := e.request(t, "POST", "/v1/invoices", b.token, map[string]any{"payer": c.id, "purse": bUSD, "amount": "2.00", "order_number": "o-2"})
	wantStatus(t, inv, http.StatusCreated)
	var invJ struct {
		ID string `json:"invoice_id"`
	}
	inv.decode(t, &invJ)
	wantStatus(t, e.request(t, "POST", "/v1/invoices/"+invJ.ID+"/pay", c.token, map[string]any{"transfer_id": e.nextID("p"), "from": cUSD}), http.StatusCreated)
	tb := e.send(t, b, bUSD, cUSD, "3.00")
	wantStatus(t, e.request(t, "POST", "/v1/refunds", c.token, map[string]any{"transfer_id": e.nextID("r"),
		"of": map[string]string{"transfer_id": tb.TransferID, "from": bUSD}, "amount": "3.00"}), http.StatusCreated)

	// Once a contact, a is let through.
	wantStatus(t, e.request(t, "POST", "/v1/contacts", b.token, map[string]any{"member_id": a.id, "note": "supplier"}), http.StatusCreated)
	e.send(t, a, aUSD, bUSD, "1.00")
	var cl struct {
		Contacts     []map[string]any `json:"contacts"`
		OnlyContacts bool             `json:"only_contacts"`
	}
	e.request(t, "GET", "/v1/contacts", b.token, nil).decode(t, &cl)
	if len(cl.Contacts) != 1 || cl.Contacts[0]["member_id"] != a.id || !cl.OnlyContacts {
		t.Errorf("got contacts %+v, want a and the restriction on", cl)
	}
	wantProblem(t, e.request(t, "POST", "/v1/contacts", b.token, map[string]any{"member_id": "000000000001"}), http.StatusNotFound, coffer.ENOTFOUND)
	wantStatus(t, e.request(t, "DELETE", "/v1/contacts/"+a.id, b.token, nil), http.StatusNoContent)
	wantProblem(t, e.request(t, "DELETE", "/v1/contacts/"+a.id, b.token, nil), http.StatusNotFound, coffer.ENOTFOUND)
	wantProblem(t, e.request(t, "POST", "/v1/transfers", a.token, transferBody{TransferID: e.nextID("t"), From: aUSD, To: bUSD, Amount: "1.00"}),
		http.StatusForbidden, coffer.ENOTACONTACT)
	wantStatus(t, e.request(t, "PUT", "/v1/contacts/restriction", b.token, map[string]any{"only_contacts": false}), http.StatusOK)
	e.send(t, a, aUSD, bUSD, "1.00")
}

func TestServer_AccountExport(t *testing.T) {
	e := newPrivEnv(t)
	m, mUSD := e.funded(t, "100.00")
	o, oUSD := e.funded(t, "100.00")
	e.setLevel(t, m, coffer.LevelInitial)
	e.setLevel(t, o, coffer.LevelInitial)
	e.setProfile(t, m, map[string]string{"first_name": "Mia", "last_name": "Marchetti", "date_of_birth": "1980-02-03", "city": "Rome"},
		map[string]string{"city": "everyone"})
	e.send(t, m, mUSD, oUSD, "4.00")
	e.send(t, o, oUSD, mUSD, "1.00")
	wantStatus(t, e.request(t, "POST", "/v1/invoices", m.token, map[string]any{"payer": o.id, "purse": mUSD, "amount": "2.00", "order_number": "x-1"}), http.StatusCreated)
	wantStatus(t, e.request(t, "POST", "/v1/trusts", m.token, map[string]any{"merchant": o.id, "purse": mUSD, "per_transfer": "5.00"}), http.StatusCreated)
	e.addKey(t, m, "laptop")
	wantStatus(t, e.request(t, "POST", "/v1/contacts", m.token, map[string]any{"member_id": o.id}), http.StatusCreated)
	e.askDisclosure(t, o, m.id, "first_name")
	e.askDisclosure(t, m, o.id, "city")
	doc := e.request(t, "POST", "/v1/verification/documents", m.token, pngBytes)
	wantStatus(t, doc, http.StatusCreated)
	var docJ struct {
		ID string `json:"document_id"`
	}
	doc.decode(t, &docJ)
	wantStatus(t, e.request(t, "POST", "/v1/verification", m.token, map[string]any{"documents": []string{docJ.ID}}), http.StatusCreated)

	a := e.request(t, "GET", "/v1/account/export", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var x map[string]json.RawMessage
	a.decode(t, &x)
	for _, k := range []string{"member", "status", "profile", "purses", "transfers", "invoices", "trusts", "keys", "sessions",
		"settings", "contacts", "disclosure_requests", "verification_requests", "audit_events", "factors", "certificates"} {
		if _, ok := x[k]; !ok {
			t.Errorf("export has no %q", k)
		}
	}
	count := func(k string) int {
		var l []json.RawMessage
		json.Unmarshal(x[k], &l)
		return len(l)
	}
	for k, n := range map[string]int{"purses": 1, "transfers": 3, "invoices": 1, "trusts": 1, "keys": 1, "sessions": 1,
		"contacts": 1, "disclosure_requests": 2, "verification_requests": 1} {
		if got := count(k); got < n {
			t.Errorf("export %s: got %d entries, want at least %d", k, got, n)
		}
	}
	body := string(a.Body)
	for _, want := range []string{"Mia", "Rome", docJ.ID, coffer.AuditKeyAdded, `"history"`} {
		if !strings.Contains(body, want) {
			t.Errorf("export lacks %q", want)
		}
	}
	for _, secret := range []string{"$argon2", `"password_hash"`, `"password":`, "token_hash", `"secret"`, `"sealed"`, m.token, "code_hash", `"salt"`} {
		if i := strings.Index(strings.ToLower(body), strings.ToLower(secret)); i >= 0 {
			t.Errorf("export contains %q: …%s…", secret, body[max(0, i-80):min(len(body), i+80)])
		}
	}
	ev := e.request(t, "GET", "/v1/security/events", m.token, nil)
	if !strings.Contains(string(ev.Body), coffer.AuditAccountExported) {
		t.Errorf("got events %s, want %s", ev, coffer.AuditAccountExported)
	}
}

// pngBytes is a minimal PNG signature followed by an IHDR chunk, enough
// for content sniffing.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82")

func TestServer_AccountClose(t *testing.T) {
	e := newPrivEnv(t)
	m, mUSD := e.funded(t, "10.00")
	viewer := e.register(t, "")
	e.members = append(e.members, e.iss)
	before := e.snapshot(t)
	wantProblem(t, e.request(t, "POST", "/v1/account/close", m.token, nil), http.StatusBadRequest, coffer.EINVALID)
	wantUnchanged(t, before, e.snapshot(t))
	e.login(t, m.id, testPassword) // still open

	s := e.addKey(t, m, "script")
	wantProblem(t, e.signedRequest(t, s, "POST", "/v1/account/close", nil, signOpts{}), http.StatusForbidden, coffer.EFORBIDDEN)

	e.send(t, m, mUSD, e.issUSD, "10.00")
	other := e.login(t, m.id, testPassword)
	wantStatus(t, e.request(t, "POST", "/v1/account/close", m.token, nil), http.StatusNoContent)

	a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword})
	wantProblem(t, a, http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	for _, tok := range []string{m.token, other} {
		wantProblem(t, e.request(t, "GET", "/v1/purses", tok, nil), http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	closed := e.request(t, "GET", "/v1/members/"+m.id, viewer.token, nil)
	unknown := e.request(t, "GET", "/v1/members/000000000001", viewer.token, nil)
	wantProblem(t, closed, http.StatusNotFound, coffer.ENOTFOUND)
	if string(closed.Body) != string(unknown.Body) {
		t.Errorf("closed member: got %s, want the unknown member's answer %s", closed, unknown)
	}
	// Money can no longer be sent to the closed account.
	wantProblem(t, e.request(t, "POST", "/v1/transfers", e.iss.token, transferBody{TransferID: e.nextID("t"), From: e.issUSD, To: mUSD, Amount: "1.00"}),
		http.StatusForbidden, coffer.ECLOSED)
}

func TestServer_AccountCloseStepUp(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	seed, _ := e.enrolTOTP(t, m)
	a := e.request(t, "POST", "/v1/account/close", m.token, nil)
	wantProblem(t, a, http.StatusForbidden, coffer.ECONFIRMATIONREQUIRED)
	var pj struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	a.decode(t, &pj)
	if pj.ConfirmationID == "" {
		t.Fatalf("got %s, want a confirmation_id", a)
	}
	wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), http.StatusOK) // still open
	wantProblem(t, e.request(t, "POST", "/v1/account/close", m.token, nil, httpapi.ConfirmationHeader, pj.ConfirmationID+":000000"),
		http.StatusUnauthorized, coffer.ECONFIRMATIONFAILED)
	a = e.request(t, "POST", "/v1/account/close", m.token, nil)
	a.decode(t, &pj)
	wantStatus(t, e.request(t, "POST", "/v1/account/close", m.token, nil, httpapi.ConfirmationHeader, pj.ConfirmationID+":"+e.totp(seed)), http.StatusNoContent)
	wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}), http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}
