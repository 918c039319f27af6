package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// viewer kinds of the authorization matrix.
const (
	vSelf         = "self"
	vStranger     = "stranger"
	vCounterparty = "counterparty"
	vGranted      = "granted"
	vExpired      = "expired_grant"
	vRegistrar    = "registrar"
	vAnonymous    = "anonymous"
)

// regexpPurse matches a purse number.
var regexpPurse = regexp.MustCompile(`[A-Z][0-9]{12}`)

var viewerKinds = []string{vAnonymous, vStranger, vCounterparty, vGranted, vExpired, vRegistrar, vSelf}

// matrixWorld is a subject with data of every visibility and a member of
// each viewer kind.
type matrixWorld struct {
	*privEnv
	subject  *member
	viewers  map[string]*member // nil for anonymous
	pending  string             // a pending disclosure request about the subject (by the counterparty)
	pending2 string             // another (by the expired-grant viewer)
	grant    string             // the granted viewer's active grant
	verReq   string             // the subject's pending verification request
	document string             // its document
	unknown  answer             // the answer for an unknown disclosure request
}

func newMatrixWorld(t *testing.T) *matrixWorld {
	t.Helper()
	e := newPrivEnv(t)
	w := &matrixWorld{privEnv: e, viewers: map[string]*member{}}
	s, sUSD := e.funded(t, "100.00")
	w.subject = s
	e.setProfile(t, s, map[string]string{"first_name": "Sigrid", "last_name": "Subjectson", "city": "Bergen",
		"date_of_birth": "1970-01-02", "country": "NO"},
		map[string]string{"first_name": "everyone", "last_name": "counterparties", "city": "on_request", "date_of_birth": "nobody",
			"country": "everyone"})
	w.viewers[vSelf] = s
	w.viewers[vStranger] = e.register(t, "")
	w.viewers[vRegistrar] = e.register(t, "")
	if err := e.db.SetRole(context.Background(), w.viewers[vRegistrar].id, coffer.RoleRegistrar, true,
		coffer.NewAuditEvent(time.Now(), coffer.AuditRoleChanged, w.viewers[vRegistrar].id, nil)); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	for _, k := range []string{vCounterparty, vGranted, vExpired} {
		m, p := e.funded(t, "10.00")
		e.send(t, m, p, sUSD, "1.00")
		w.viewers[k] = m
	}
	w.pending = e.askDisclosure(t, w.viewers[vCounterparty], s.id, "city").RequestID
	w.grant = e.askDisclosure(t, w.viewers[vGranted], s.id, "city", "date_of_birth").RequestID
	wantStatus(t, e.request(t, "POST", "/v1/disclosure-requests/"+w.grant+"/grant", s.token, nil), http.StatusOK)
	exp := e.askDisclosure(t, w.viewers[vExpired], s.id, "city", "date_of_birth").RequestID
	wantStatus(t, e.request(t, "POST", "/v1/disclosure-requests/"+exp+"/grant", s.token,
		map[string]any{"until": e.clock.Now().Add(10 * time.Minute)}), http.StatusOK)
	w.pending2 = e.askDisclosure(t, w.viewers[vExpired], s.id, "last_name").RequestID

	doc := e.request(t, "POST", "/v1/verification/documents", s.token, pngBytes)
	wantStatus(t, doc, http.StatusCreated)
	var d struct {
		ID string `json:"document_id"`
	}
	doc.decode(t, &d)
	w.document = d.ID
	vr := e.request(t, "POST", "/v1/verification", s.token, map[string]any{"documents": []string{d.ID}})
	wantStatus(t, vr, http.StatusCreated)
	var v map[string]any
	vr.decode(t, &v)
	for _, k := range []string{"request_id", "id"} {
		if id, ok := v[k].(string); ok {
			w.verReq = id
		}
	}
	if w.verReq == "" {
		t.Fatalf("got verification answer %s, want its ID", vr)
	}
	e.clock.Advance(11 * time.Minute) // the expired viewer's grant ends
	w.unknown = e.request(t, "POST", "/v1/disclosure-requests/disc_aaaaaaaaaaaaaaaaaaaaaaaaaa/grant", s.token, nil)
	wantProblem(t, w.unknown, http.StatusNotFound, coffer.ENOTFOUND)
	return w
}

func (w *matrixWorld) token(kind string) string {
	if m := w.viewers[kind]; m != nil {
		return m.token
	}
	return ""
}

// want is what one viewer kind must get from one endpoint.
type want struct {
	status int
	code   string                                 // the problem code, for errors
	check  func(t *testing.T, a answer, v string) // more checks of a success
}

// TestServer_AuthorizationMatrix asks every endpoint that returns member
// data as every kind of viewer and checks exactly what each gets.
func TestServer_AuthorizationMatrix(t *testing.T) {
	w := newMatrixWorld(t)
	s := w.subject
	everything := []string{"first_name", "last_name", "city", "date_of_birth", "country"}
	fieldsOf := map[string][]string{
		vSelf:         everything,
		vStranger:     {"first_name", "country"},
		vCounterparty: {"first_name", "last_name", "country"},
		vGranted:      everything,
		vExpired:      {"first_name", "last_name", "country"},
		vRegistrar:    {"first_name", "country"},
	}
	notFound := want{status: http.StatusNotFound, code: coffer.ENOTFOUND}
	unauth := want{status: http.StatusUnauthorized, code: coffer.EUNAUTHORIZED}
	// sameAsUnknown also checks that the body is the unknown request's.
	sameAsUnknown := want{status: http.StatusNotFound, code: coffer.ENOTFOUND, check: func(t *testing.T, a answer, _ string) {
		if string(a.Body) != string(w.unknown.Body) {
			t.Errorf("got %s, want the answer for an unknown request %s", a, w.unknown)
		}
	}}
	onlySubject := func(ok int) map[string]want {
		m := map[string]want{vAnonymous: unauth, vSelf: {status: ok}}
		for _, k := range []string{vStranger, vCounterparty, vGranted, vExpired, vRegistrar} {
			m[k] = sameAsUnknown
		}
		return m
	}
	onlyRegistrar := map[string]want{vAnonymous: unauth, vRegistrar: {status: http.StatusOK}}
	for _, k := range []string{vSelf, vStranger, vCounterparty, vGranted, vExpired} {
		onlyRegistrar[k] = notFound
	}
	view := want{status: http.StatusOK, check: func(t *testing.T, a answer, v string) {
		var mv memberView
		a.decode(t, &mv)
		var got []string
		for f := range mv.Fields {
			got = append(got, f)
		}
		slices.Sort(got)
		exp := slices.Clone(fieldsOf[v])
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Errorf("got fields %v, want %v", got, exp)
		}
		if mv.MemberID != s.id || mv.Level == "" || len(mv.Registered) != len("2006-01-02") {
			t.Errorf("got %s, want member_id, level and the registration date", a)
		}
		if strings.Contains(string(a.Body), "\"purse") || regexpPurse.Match(a.Body) {
			t.Errorf("got %s, want no purse numbers", a)
		}
	}}
	levelTooLow := want{status: http.StatusForbidden, code: coffer.ELEVELTOOLOW}
	ownOnly := func(role string) want {
		return want{status: http.StatusOK, check: func(t *testing.T, a answer, v string) {
			var l struct {
				Requests []disclosureJSON `json:"requests"`
			}
			a.decode(t, &l)
			me := w.viewers[v].id
			for _, d := range l.Requests {
				if (role == "subject" && d.Subject != me) || (role == "requester" && d.Requester != me) {
					t.Errorf("got %+v in the %s list of %s", d, role, v)
				}
			}
			if v == vSelf && role == "subject" && len(l.Requests) != 4 {
				t.Errorf("got %d requests about the subject, want 4", len(l.Requests))
			}
		}}
	}
	export := want{status: http.StatusOK, check: func(t *testing.T, a answer, v string) {
		var x struct {
			Member struct {
				MemberID string `json:"member_id"`
			} `json:"member"`
		}
		a.decode(t, &x)
		if x.Member.MemberID != w.viewers[v].id {
			t.Errorf("got the export of %s, want the viewer's own", x.Member.MemberID)
		}
		if v != vSelf && (strings.Contains(string(a.Body), "Bergen") || strings.Contains(string(a.Body), "1970-01-02")) {
			t.Errorf("export of %s contains the subject's data", v)
		}
	}}
	all := func(x want) map[string]want {
		m := map[string]want{vAnonymous: unauth}
		for _, k := range viewerKinds[1:] {
			m[k] = x
		}
		return m
	}
	withBody := func(m map[string]want, k string, x want) map[string]want { m[k] = x; return m }

	rows := []struct {
		name, method, path string
		body               any
		want               map[string]want
	}{
		{"member view", "GET", "/v1/members/" + s.id, nil, all(view)},
		{"data check", "POST", "/v1/members/" + s.id + "/check", map[string]any{"fields": map[string]string{"city": "Bergen"}}, all(levelTooLow)},
		{"disclosure list (subject)", "GET", "/v1/disclosure-requests?role=subject", nil, all(ownOnly("subject"))},
		{"disclosure list (requester)", "GET", "/v1/disclosure-requests?role=requester", nil, all(ownOnly("requester"))},
		{"registrar queue", "GET", "/v1/registrar/requests", nil, onlyRegistrar},
		{"registrar request", "GET", "/v1/registrar/requests/" + w.verReq, nil, onlyRegistrar},
		{"registrar document", "GET", "/v1/registrar/documents/" + w.document, nil, onlyRegistrar},
		{"export", "GET", "/v1/account/export", nil, all(export)},
		{"disclosure request", "POST", "/v1/members/" + s.id + "/disclosure-requests", map[string]any{"fields": []string{"city"}, "reason": "r"},
			map[string]want{vAnonymous: unauth, vSelf: {status: http.StatusBadRequest, code: coffer.EINVALID},
				vStranger: {status: http.StatusForbidden, code: coffer.EFORBIDDEN}, vRegistrar: {status: http.StatusForbidden, code: coffer.EFORBIDDEN},
				vCounterparty: {status: http.StatusCreated}, vGranted: {status: http.StatusCreated}, vExpired: {status: http.StatusCreated}}},
		// The deciding rows change state: the subject (last) succeeds.
		{"grant", "POST", "/v1/disclosure-requests/" + w.pending + "/grant", nil, onlySubject(http.StatusOK)},
		{"refuse", "POST", "/v1/disclosure-requests/" + w.pending2 + "/refuse", nil, onlySubject(http.StatusOK)},
		{"revoke", "POST", "/v1/disclosure-requests/" + w.grant + "/revoke", nil, onlySubject(http.StatusOK)},
		{"member view after revoke", "GET", "/v1/members/" + s.id, nil, withBody(all(view), vGranted, want{status: http.StatusOK,
			check: func(t *testing.T, a answer, _ string) {
				var mv memberView
				a.decode(t, &mv)
				if mv.Fields["city"] != nil || mv.Fields["date_of_birth"] != nil {
					t.Errorf("got %v after the revocation, want no city or date_of_birth", mv.Fields)
				}
			}})},
	}
	for _, r := range rows {
		for _, v := range viewerKinds {
			x, ok := r.want[v]
			if !ok {
				t.Fatalf("row %s has no expectation for %s", r.name, v)
			}
			if r.name == "member view after revoke" {
				// The subject revoked the granted viewer's grant and
				// granted the counterparty's request for city.
				fieldsOf[vGranted] = []string{"first_name", "last_name", "country"}
				fieldsOf[vCounterparty] = []string{"first_name", "last_name", "country", "city"}
			}
			t.Run(r.name+"/"+v, func(t *testing.T) {
				a := w.request(t, r.method, r.path, w.token(v), r.body)
				if x.status >= 400 {
					wantProblem(t, a, x.status, x.code)
				} else {
					wantStatus(t, a, x.status)
				}
				if x.check != nil {
					x.check(t, a, v)
				}
			})
		}
	}
}

// TestServer_Enumeration: unknown, malformed and closed member IDs, and
// others' purse numbers, answer exactly like nonexistent ones.
func TestServer_Enumeration(t *testing.T) {
	e := newPrivEnv(t)
	viewer, vUSD := e.funded(t, "10.00")
	other, oUSD := e.funded(t, "10.00")
	gone := e.register(t, "")
	wantStatus(t, e.request(t, "POST", "/v1/account/close", gone.token, nil), http.StatusNoContent)

	ref := e.request(t, "GET", "/v1/members/000000000000", viewer.token, nil)
	wantProblem(t, ref, http.StatusNotFound, coffer.ENOTFOUND)
	ids := []string{gone.id, "12345", "abcdefghijkl", "0000000000001"}
	for range 10 {
		ids = append(ids, fmt.Sprintf("%012d", rand.Int64N(1e12)), coffer.NewMemberID())
	}
	for _, id := range ids {
		if id == other.id || id == viewer.id {
			continue
		}
		for _, p := range []struct{ method, path string }{{"GET", "/v1/members/" + id}} {
			a := e.request(t, p.method, p.path, viewer.token, nil)
			if string(a.Body) != string(ref.Body) || a.Status != ref.Status {
				t.Errorf("%s %s: got %s, want %s", p.method, p.path, a, ref)
			}
		}
		for _, suffix := range []string{"/check", "/disclosure-requests"} {
			a := e.request(t, "POST", "/v1/members/"+id+suffix, viewer.token, map[string]any{"fields": map[string]string{"city": "x"}})
			if a.Status == http.StatusOK || a.Status == http.StatusCreated {
				t.Errorf("POST /v1/members/%s%s: got %s, want a refusal", id, suffix, a)
			}
		}
	}
	// The view of an existing member carries no purse number.
	if a := e.request(t, "GET", "/v1/members/"+other.id, viewer.token, nil); strings.Contains(string(a.Body), oUSD) {
		t.Errorf("member view %s names a purse", a)
	}
	// Others' purses answer like purses that do not exist (the number
	// quoted in the message aside); /owner stays the one purse→member
	// answer.
	for i := range 10 {
		random := coffer.NewPurseNumber('Z')
		if random == oUSD || random == vUSD {
			continue
		}
		for _, suffix := range []string{"", "/history", "/limits", "/statement"} {
			ra := e.request(t, "GET", "/v1/purses/"+random+suffix, viewer.token, nil)
			oa := e.request(t, "GET", "/v1/purses/"+oUSD+suffix, viewer.token, nil)
			if ra.Status != oa.Status || strings.ReplaceAll(string(ra.Body), random, "N") != strings.ReplaceAll(string(oa.Body), oUSD, "N") {
				t.Errorf("GET /v1/purses/…%s: got %s for another's purse, want as for a random one %s", suffix, oa, ra)
			}
			if strings.Contains(string(oa.Body), other.id) || oa.Status < 400 {
				t.Errorf("GET /v1/purses/%s%s: got %s", oUSD, suffix, oa)
			}
		}
		if i == 0 {
			wantProblem(t, e.request(t, "GET", "/v1/purses/"+random+"/owner", viewer.token, nil), http.StatusNotFound, coffer.EPURSENOTFOUND)
			var o struct {
				MemberID string `json:"member_id"`
			}
			a := e.request(t, "GET", "/v1/purses/"+oUSD+"/owner", viewer.token, nil)
			wantStatus(t, a, http.StatusOK)
			json.Unmarshal(a.Body, &o)
			if o.MemberID != other.id {
				t.Errorf("owner: got %s, want %s", a, other.id)
			}
		}
	}
}
