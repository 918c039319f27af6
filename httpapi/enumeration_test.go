package httpapi_test

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/mail"
)

// sameAnswer fails the test unless a and b carry the same status, code and
// message once each answer's member ID or purse (ida, idb) is replaced by
// one placeholder.
func sameAnswer(t *testing.T, what string, a answer, ida string, b answer, idb string) {
	t.Helper()
	na := strings.ReplaceAll(string(a.Body), ida, "ID")
	nb := strings.ReplaceAll(string(b.Body), idb, "ID")
	if a.Status != b.Status || na != nb {
		t.Errorf("%s: got %s, want the same answer as %s", what, a, b)
	}
	if a.Status < 400 {
		t.Errorf("%s: got %s, want a refusal", what, a)
	}
}

// TestServer_LookupsAnswerUnknownAsRefused checks that contacts, trusts,
// disclosure requests, invoices and the payee check answer a member ID (or
// purse) that does not exist exactly as one that exists but may not be
// acted on: a closed account, a member who is no merchant, no
// counterparty, or who takes invoices only from contacts.
func TestServer_LookupsAnswerUnknownAsRefused(t *testing.T) {
	e := newPrivEnv(t)
	viewer, vUSD := e.funded(t, "50.00")
	e.setLevel(t, viewer, coffer.LevelInitial) // a merchant, for invoices
	other := e.register(t, "")                 // pseudonymous: no merchant, no counterparty
	wantStatus(t, e.request(t, "PUT", "/v1/contacts/restriction", other.token, map[string]any{"only_contacts": true}), http.StatusOK)
	gone := e.register(t, "")
	gonePurse := e.newPurse(t, gone, "USD")
	wantStatus(t, e.request(t, "POST", "/v1/account/close", gone.token, nil), http.StatusNoContent)
	unknown := coffer.NewMemberID()

	for _, known := range []struct{ name, id string }{{"OtherMember", other.id}, {"ClosedAccount", gone.id}} {
		t.Run(known.name, func(t *testing.T) {
			trust := func(id string) answer {
				return e.request(t, "POST", "/v1/trusts", viewer.token, map[string]any{"merchant": id, "purse": vUSD, "per_transfer": "5.00"})
			}
			sameAnswer(t, "POST /v1/trusts", trust(unknown), unknown, trust(known.id), known.id)
			ask := func(id string) answer {
				return e.request(t, "POST", "/v1/members/"+id+"/disclosure-requests", viewer.token,
					map[string]any{"fields": []string{"first_name"}, "reason": "delivery of the goods"})
			}
			sameAnswer(t, "POST disclosure-requests", ask(unknown), unknown, ask(known.id), known.id)
			invoice := func(id string) answer {
				return e.request(t, "POST", "/v1/invoices", viewer.token, map[string]any{"payer": id, "purse": vUSD, "amount": "1.00", "order_number": "o-" + id})
			}
			sameAnswer(t, "POST /v1/invoices", invoice(unknown), unknown, invoice(known.id), known.id)
		})
	}
	contact := func(id string) answer {
		return e.request(t, "POST", "/v1/contacts", viewer.token, map[string]any{"member_id": id})
	}
	sameAnswer(t, "POST /v1/contacts", contact(unknown), unknown, contact(gone.id), gone.id)
	randomPurse := coffer.NewPurseNumber('Z')
	sameAnswer(t, "GET /owner", e.request(t, "GET", "/v1/purses/"+randomPurse+"/owner", viewer.token, nil), randomPurse,
		e.request(t, "GET", "/v1/purses/"+gonePurse+"/owner", viewer.token, nil), gonePurse)
	// The payee check of a live purse still names its owner.
	a := e.request(t, "GET", "/v1/purses/"+e.issUSD+"/owner", viewer.token, nil)
	wantStatus(t, a, http.StatusOK)
	if !strings.Contains(string(a.Body), e.iss.id) {
		t.Errorf("owner of the issuing purse: got %s, want %s", a, e.iss.id)
	}
}

// TestServer_LookupBudget checks that contacts, trusts, disclosure requests,
// invoices and the payee check spend the one per-viewer budget of member
// lookups, and that once it is spent an existing member is answered as an
// unknown one: 429 with Retry-After, until the minute has passed.
func TestServer_LookupBudget(t *testing.T) {
	e := newPrivEnv(t)
	viewer, vUSD := e.funded(t, "50.00")
	e.setLevel(t, viewer, coffer.LevelInitial)
	other := e.register(t, "")
	unknown := coffer.NewMemberID()
	random := coffer.NewPurseNumber('Z')
	probes := []struct {
		name string
		do   func(id string) answer
	}{
		{"view", func(id string) answer { return e.request(t, "GET", "/v1/members/"+id, viewer.token, nil) }},
		{"contact", func(id string) answer {
			return e.request(t, "POST", "/v1/contacts", viewer.token, map[string]any{"member_id": id})
		}},
		{"trust", func(id string) answer {
			return e.request(t, "POST", "/v1/trusts", viewer.token, map[string]any{"merchant": id, "purse": vUSD})
		}},
		{"disclosure", func(id string) answer {
			return e.request(t, "POST", "/v1/members/"+id+"/disclosure-requests", viewer.token,
				map[string]any{"fields": []string{"first_name"}, "reason": "delivery"})
		}},
		{"invoice", func(id string) answer {
			return e.request(t, "POST", "/v1/invoices", viewer.token, map[string]any{"payer": id, "purse": vUSD, "amount": "1.00", "order_number": "o"})
		}},
		{"owner", func(string) answer { return e.request(t, "GET", "/v1/purses/"+random+"/owner", viewer.token, nil) }},
	}
	// Spend the budget across every kind of lookup, on unknown members.
	spent := 0
	for spent < app.MemberViewsPerMinute {
		p := probes[spent%len(probes)]
		if a := p.do(unknown); a.Status == http.StatusTooManyRequests {
			t.Fatalf("%s after %d lookups: got %s, want the budget of %d shared", p.name, spent, a, app.MemberViewsPerMinute)
		}
		spent++
	}
	for _, p := range probes {
		for _, id := range []string{unknown, other.id} {
			a := p.do(id)
			wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
			if secs, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
				t.Errorf("%s: got Retry-After %q, want 1 to 60 seconds", p.name, a.Header.Get("Retry-After"))
			}
		}
	}
	// Another member's budget is their own; the viewer's own purse is free.
	wantStatus(t, e.request(t, "GET", "/v1/members/"+viewer.id, other.token, nil), http.StatusOK)
	wantStatus(t, e.request(t, "GET", "/v1/purses/"+vUSD+"/owner", viewer.token, nil), http.StatusOK)
	e.clock.Advance(time.Minute + time.Second)
	wantStatus(t, e.request(t, "GET", "/v1/members/"+other.id, viewer.token, nil), http.StatusOK)
}

// TestServer_LoginLockDoesNotLinkAliases checks that locking a member's
// e-mail by wrong passwords does not make their member ID and phone answer
// differently from another member's: a stranger who locks one name learns
// nothing about which other names belong to the same member.
func TestServer_LoginLockDoesNotLinkAliases(t *testing.T) {
	e := newEnv(t)
	reg := func(email, phone string) string {
		a := e.request(t, "POST", "/v1/members", "", map[string]string{"password": testPassword, "email": email, "phone": phone})
		wantStatus(t, a, http.StatusCreated)
		var m struct {
			MemberID string `json:"member_id"`
		}
		a.decode(t, &m)
		return m.MemberID
	}
	victim := reg("victim@example.org", "+14155550101")
	bystander := reg("bystander@example.org", "+14155550102")
	login := func(name string) answer {
		return e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": name, "password": "a wrong guess here"})
	}
	locked := false
	for range 20 {
		if login("victim@example.org").Status == http.StatusTooManyRequests {
			locked = true
			break
		}
	}
	if !locked {
		t.Fatal("the e-mail was not locked after 20 wrong passwords")
	}
	for _, pair := range [][2]string{{victim, bystander}, {"+14155550101", "+14155550102"}} {
		// Each name from the first wrong password until its own lock.
		for i := range 8 {
			v, b := login(pair[0]), login(pair[1])
			sameStatus := v.Status == b.Status && string(v.Body) == string(b.Body) && v.Header.Get("Retry-After") == b.Header.Get("Retry-After")
			if !sameStatus {
				t.Fatalf("attempt %d: %s (the locked member's) got %s, %s (another's) got %s; want the same answer", i+1, pair[0], v, pair[1], b)
			}
		}
	}
}

// TestServer_RegisterTakenName checks that registering with an e-mail or
// phone that belongs to another member answers exactly as with free ones
// (same status, same shape), opens an account that works under its member
// ID without the taken names, leaves the names with their member, and
// tells that member by e-mail, once an hour however often it is tried.
func TestServer_RegisterTakenName(t *testing.T) {
	e, outbox := newMailEnv(t)
	register := func(body map[string]string) (answer, string) {
		a := e.request(t, "POST", "/v1/members", "", body)
		var got map[string]any
		a.decode(t, &got)
		id, _ := got["member_id"].(string)
		if a.Status != http.StatusCreated || len(got) != 1 || !coffer.ValidMemberID(id) || !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("got %s, want 201 with exactly {\"member_id\": 12 digits}", a)
		}
		return a, id
	}
	_, owner := register(map[string]string{"password": testPassword, "email": "owner@example.org", "phone": "+14155550111"})
	fresh, _ := register(map[string]string{"password": testPassword, "email": "fresh@example.org", "phone": "+14155550112"})
	const otherPassword = "a different long passphrase 7"
	for i, body := range []map[string]string{
		{"password": otherPassword, "email": "Owner@Example.org"},
		{"password": otherPassword, "phone": "+1 415 555 0111"},
		{"password": otherPassword, "email": "owner@example.org", "phone": "+14155550111"},
	} {
		a, id := register(body)
		if a.Status != fresh.Status || len(a.Body) != len(fresh.Body) {
			t.Errorf("taken %d: got %s, want an answer like %s", i, a, fresh)
		}
		if id == owner {
			t.Fatalf("taken %d: got the owner's member ID", i)
		}
		// The new account works under its member ID, without the names.
		tok := e.login(t, id, otherPassword)
		var p struct {
			Values map[string]any `json:"values"`
		}
		pa := e.request(t, "GET", "/v1/profile", tok, nil)
		wantStatus(t, pa, http.StatusOK)
		pa.decode(t, &p)
		if p.Values["email"] != nil || p.Values["phone"] != nil {
			t.Errorf("taken %d: the new account got %v", i, p.Values)
		}
	}
	// The names stay with their member.
	for _, name := range []string{"owner@example.org", "+14155550111"} {
		a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": name, "password": testPassword})
		wantStatus(t, a, http.StatusCreated)
		if !strings.Contains(string(a.Body), owner) {
			t.Errorf("login %s: got %s, want member %s", name, a, owner)
		}
	}
	waitMail(t, outbox, regexp.MustCompile(`(?s)To: owner@example.org.*Someone tried to open a coffer account with your e-mail address`))
	msgs, _ := mail.ReadOutbox(outbox)
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, "owner@example.org") && strings.Contains(m, "Someone tried") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d notices to the owner for three tries within the hour, want 1", n)
	}
	tok := e.login(t, owner, testPassword)
	if kinds := e.securityKinds(t, &member{id: owner, token: tok}); !slices.Contains(kinds, coffer.AuditLoginNameClaimed) {
		t.Errorf("owner's security log %v lacks %s", kinds, coffer.AuditLoginNameClaimed)
	}
}
