package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// wantFact fails unless err is the store's fact, with its code.
func wantFact(t *testing.T, err error, fact *coffer.Error) {
	t.Helper()
	if !errors.Is(err, fact) || coffer.ErrorCode(err) != fact.Code {
		t.Fatalf("got error %v, want %v", err, fact)
	}
}

func ev(kind, memberID string) *coffer.AuditEvent {
	return coffer.NewAuditEvent(base, kind, memberID, nil)
}

func hasKind(t *testing.T, s coffer.Store, memberID, kind string) bool {
	t.Helper()
	return slices.Contains(auditKinds(t, s, memberID), kind)
}

func countKind(t *testing.T, s coffer.Store, memberID, kind string) int {
	t.Helper()
	n := 0
	for _, k := range auditKinds(t, s, memberID) {
		if k == kind {
			n++
		}
	}
	return n
}

// testIdentity covers coffer.IdentityStore.
func testIdentity(t *testing.T, s coffer.Store) {
	t.Run("Status", func(t *testing.T) { testMemberStatus(t, s) })
	t.Run("Profile", func(t *testing.T) { testProfile(t, s) })
	t.Run("Counterparties", func(t *testing.T) { testCounterparties(t, s) })
	t.Run("Verification", func(t *testing.T) { testVerification(t, s) })
	t.Run("Persons", func(t *testing.T) { testPersons(t, s) })
	t.Run("Disclosure", func(t *testing.T) { testDisclosure(t, s) })
	t.Run("DisclosureLimits", func(t *testing.T) { testDisclosureLimits(t, s) })
	t.Run("Contacts", func(t *testing.T) { testContacts(t, s) })
	t.Run("Close", func(t *testing.T) { testCloseMember(t, s) })
	t.Run("Concurrent", func(t *testing.T) { testIdentityConcurrent(t, s) })
	if rep, err := s.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("Check after the identity tests = %+v, %v; want OK", rep, err)
	}
}

func testMemberStatus(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	_, err := s.MemberStatus(ctx, "999999999999")
	wantCode(t, err, coffer.ENOTFOUND)

	st, err := s.MemberStatus(ctx, a.ID)
	if err != nil || st.MemberID != a.ID || st.Level != coffer.LevelPseudonymous || !st.LevelChangedAt.IsZero() ||
		len(st.Roles) != 0 || st.OnlyContacts || !st.ClosedAt.IsZero() || !st.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("fresh MemberStatus = %+v, %v; want pseudonymous, no roles, open", st, err)
	}

	at := base.Add(time.Hour)
	if err := s.SetLevel(ctx, a.ID, coffer.LevelInitial, at, ev(coffer.AuditLevelChanged, a.ID)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SetLevel(ctx, "999999999999", coffer.LevelInitial, at, nil), coffer.ENOTFOUND)
	if st, err := s.MemberStatus(ctx, a.ID); err != nil || st.Level != coffer.LevelInitial || !st.LevelChangedAt.Equal(at) {
		t.Fatalf("after SetLevel: %+v, %v; want initial at %v", st, err, at)
	}
	// Lowering holds too.
	if err := s.SetLevel(ctx, a.ID, coffer.LevelFormal, at.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.MemberStatus(ctx, a.ID); st.Level != coffer.LevelFormal || !st.LevelChangedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("after lowering: %+v; want formal", st)
	}
	if !hasKind(t, s, a.ID, coffer.AuditLevelChanged) {
		t.Fatal("SetLevel recorded no audit event")
	}

	// Roles.
	for _, m := range []*coffer.Member{b, a} {
		if err := s.SetRole(ctx, m.ID, coffer.RoleRegistrar, true, ev(coffer.AuditRoleChanged, m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetRole(ctx, a.ID, coffer.RoleRegistrar, true, nil); err != nil { // again: no change, no error
		t.Fatal(err)
	}
	wantCode(t, s.SetRole(ctx, "999999999999", coffer.RoleRegistrar, true, nil), coffer.ENOTFOUND)
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if got, err := s.MembersWithRole(ctx, coffer.RoleRegistrar); err != nil || !slices.Equal(got, want) {
		t.Fatalf("MembersWithRole = %v, %v; want %v", got, err, want)
	}
	if got, err := s.MembersWithRole(ctx, "auditor"); err != nil || len(got) != 0 {
		t.Fatalf("MembersWithRole(nobody's role) = %v, %v; want none", got, err)
	}
	if st, _ := s.MemberStatus(ctx, a.ID); !slices.Equal(st.Roles, []string{coffer.RoleRegistrar}) {
		t.Fatalf("roles = %v; want registrar", st.Roles)
	}
	if err := s.SetRole(ctx, b.ID, coffer.RoleRegistrar, false, ev(coffer.AuditRoleChanged, b.ID)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MembersWithRole(ctx, coffer.RoleRegistrar); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("after removing b: %v; want only a", got)
	}
	if st, _ := s.MemberStatus(ctx, b.ID); len(st.Roles) != 0 {
		t.Fatalf("b's roles = %v; want none", st.Roles)
	}
	if n := countKind(t, s, b.ID, coffer.AuditRoleChanged); n != 2 {
		t.Fatalf("b has %d role events, want 2", n)
	}

	// Restriction to contacts.
	if err := s.SetOnlyContacts(ctx, a.ID, true, ev(coffer.AuditContactsRestricted, a.ID)); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.MemberStatus(ctx, a.ID); !st.OnlyContacts {
		t.Fatal("OnlyContacts not set")
	}
	if err := s.SetOnlyContacts(ctx, a.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.MemberStatus(ctx, a.ID); st.OnlyContacts {
		t.Fatal("OnlyContacts not cleared")
	}
	wantCode(t, s.SetOnlyContacts(ctx, "999999999999", true, nil), coffer.ENOTFOUND)
}

func testProfile(t *testing.T, s coffer.Store) {
	a := member(t, s, "pa@example.org", "")
	b := member(t, s, "", "")
	_, err := s.Profile(ctx, "999999999999")
	wantCode(t, err, coffer.ENOTFOUND)
	p, err := s.Profile(ctx, a.ID)
	if err != nil || p.MemberID != a.ID || p.Values == nil || len(p.Values) != 0 || p.Visibility == nil || len(p.Visibility) != 0 || !p.UpdatedAt.IsZero() {
		t.Fatalf("empty Profile = %+v, %v; want empty maps", p, err)
	}

	at1, at2 := base, base.Add(time.Hour)
	if err := s.SetProfileValues(ctx, a.ID, map[string]string{coffer.FieldFirstName: "Ada", coffer.FieldLastName: "Lovelace", coffer.FieldCity: "London"},
		at1, ev(coffer.AuditProfileChanged, a.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetProfileValues(ctx, a.ID, map[string]string{coffer.FieldCity: "", coffer.FieldLastName: "King", coffer.FieldDateOfBirth: "1815-12-10"}, at2, nil); err != nil {
		t.Fatal(err)
	}
	p, err = s.Profile(ctx, a.ID)
	want := map[string]string{coffer.FieldFirstName: "Ada", coffer.FieldLastName: "King", coffer.FieldDateOfBirth: "1815-12-10"}
	if err != nil || fmt.Sprint(p.Values) != fmt.Sprint(want) || !p.UpdatedAt.Equal(at2) {
		t.Fatalf("Profile values = %v (updated %v), %v; want %v at %v", p.Values, p.UpdatedAt, err, want, at2)
	}
	wantCode(t, s.SetProfileValues(ctx, "999999999999", map[string]string{coffer.FieldCity: "x"}, at1, nil), coffer.ENOTFOUND)

	if err := s.SetVisibility(ctx, a.ID, map[string]string{coffer.FieldFirstName: coffer.VisibleEveryone, coffer.FieldLastName: coffer.VisibleCounterparties,
		coffer.FieldDateOfBirth: coffer.VisibleOnRequest}, at2, ev(coffer.AuditVisibilityChanged, a.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVisibility(ctx, a.ID, map[string]string{coffer.FieldDateOfBirth: coffer.VisibleNobody, coffer.FieldEmail: coffer.VisibleEveryone}, at2.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	p, err = s.Profile(ctx, a.ID)
	wantVis := map[string]string{coffer.FieldFirstName: coffer.VisibleEveryone, coffer.FieldLastName: coffer.VisibleCounterparties, coffer.FieldEmail: coffer.VisibleEveryone}
	if err != nil || fmt.Sprint(p.Visibility) != fmt.Sprint(wantVis) || !p.UpdatedAt.Equal(at2.Add(time.Minute)) {
		t.Fatalf("Profile visibility = %v (updated %v), %v; want %v", p.Visibility, p.UpdatedAt, err, wantVis)
	}
	wantCode(t, s.SetVisibility(ctx, "999999999999", map[string]string{coffer.FieldCity: coffer.VisibleEveryone}, at1, nil), coffer.ENOTFOUND)
	// Another member's profile is untouched.
	if p, err := s.Profile(ctx, b.ID); err != nil || len(p.Values) != 0 || len(p.Visibility) != 0 {
		t.Fatalf("b's profile = %+v, %v; want empty", p, err)
	}
	if !hasKind(t, s, a.ID, coffer.AuditProfileChanged) || !hasKind(t, s, a.ID, coffer.AuditVisibilityChanged) {
		t.Fatalf("audit = %v; want profile events", auditKinds(t, s, a.ID))
	}
}

func testCounterparties(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	c := member(t, s, "", "")
	iss := purse(t, s, a.ID, 'Z', "USD", true, 1_000_00)
	pb := purse(t, s, b.ID, 'Z', "USD", false, 0)
	purse(t, s, c.ID, 'Z', "USD", false, 0)
	check := func(x, y *coffer.Member, want bool) {
		t.Helper()
		if got, err := s.Counterparties(ctx, x.ID, y.ID); err != nil || got != want {
			t.Fatalf("Counterparties(%s, %s) = %v, %v; want %v", x.ID, y.ID, got, err, want)
		}
	}
	check(a, b, false)
	tr := &coffer.Transfer{Sender: a.ID, TransferID: "cp1", From: iss.Number, To: pb.Number, Currency: "USD", Amount: 100, Payee: b.ID, CreatedAt: base}
	apply(t, s, coffer.Applied{T: tr, FromAfter: -100, ToAfter: 100})
	check(a, b, true)
	check(b, a, true) // either direction
	check(a, c, false)
	check(c, b, false)
	check(a, &coffer.Member{ID: "999999999999"}, false)
}

func newDocument(id string, at time.Time) *coffer.Document {
	return &coffer.Document{ID: id, ContentType: "image/png", Size: 1234, SHA256: bytes.Repeat([]byte{7}, 32), Sealed: []byte("sealed:" + id), CreatedAt: at}
}

func testVerification(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	reg := member(t, s, "", "")
	at1, at2, at3 := base, base.Add(time.Minute), base.Add(time.Hour)
	values := map[string]string{coffer.FieldFirstName: "Ada", coffer.FieldLastName: "Lovelace"}
	ra := &coffer.VerificationRequest{ID: "vr-a1", MemberID: a.ID, Values: values, State: coffer.VerificationPending, Level: coffer.LevelInitial, CreatedAt: at1,
		Documents: []*coffer.Document{newDocument("doc-a1", at1), newDocument("doc-a2", at1.Add(time.Second))}}
	if err := s.CreateVerificationRequest(ctx, ra, ev(coffer.AuditVerificationRequested, a.ID)); err != nil {
		t.Fatal(err)
	}
	// One pending request per member.
	dup := &coffer.VerificationRequest{ID: "vr-a2", MemberID: a.ID, Values: values, State: coffer.VerificationPending, CreatedAt: at2,
		Documents: []*coffer.Document{newDocument("doc-a3", at2)}}
	wantFact(t, s.CreateVerificationRequest(ctx, dup, ev(coffer.AuditVerificationRequested, a.ID)), coffer.ErrVerificationPending)
	if _, err := s.Document(ctx, "doc-a3"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the refused request's document was stored: %v", err)
	}
	if n := countKind(t, s, a.ID, coffer.AuditVerificationRequested); n != 1 {
		t.Fatalf("%d request events; want 1 (the refused one rolls back)", n)
	}
	// Unknown member.
	wantCode(t, s.CreateVerificationRequest(ctx, &coffer.VerificationRequest{ID: "vr-x", MemberID: "999999999999", State: coffer.VerificationPending, CreatedAt: at1}, nil), coffer.ENOTFOUND)
	rb := &coffer.VerificationRequest{ID: "vr-b1", MemberID: b.ID, Values: map[string]string{coffer.FieldCity: "Paris"}, State: coffer.VerificationPending, CreatedAt: at2}
	if err := s.CreateVerificationRequest(ctx, rb, nil); err != nil {
		t.Fatal(err)
	}

	got, err := s.VerificationRequest(ctx, ra.ID)
	if err != nil || got.MemberID != a.ID || got.State != coffer.VerificationPending || fmt.Sprint(got.Values) != fmt.Sprint(values) ||
		got.Level != coffer.LevelInitial || !got.CreatedAt.Equal(at1) || !got.DecidedAt.IsZero() || len(got.Documents) != 2 {
		t.Fatalf("VerificationRequest = %+v, %v", got, err)
	}
	d := got.Documents[0]
	if d.ID != "doc-a1" || d.MemberID != a.ID || d.RequestID != ra.ID || d.ContentType != "image/png" || d.Size != 1234 ||
		!bytes.Equal(d.SHA256, bytes.Repeat([]byte{7}, 32)) || d.Sealed != nil || !d.CreatedAt.Equal(at1) || got.Documents[1].ID != "doc-a2" {
		t.Fatalf("document metadata = %+v; want doc-a1 without content", d)
	}
	_, err = s.VerificationRequest(ctx, "vr-none")
	wantCode(t, err, coffer.ENOTFOUND)

	doc, err := s.Document(ctx, "doc-a2")
	if err != nil || string(doc.Sealed) != "sealed:doc-a2" || doc.RequestID != ra.ID || doc.MemberID != a.ID {
		t.Fatalf("Document = %+v, %v; want the sealed content", doc, err)
	}
	_, err = s.Document(ctx, "doc-none")
	wantCode(t, err, coffer.ENOTFOUND)

	ids := func(list []*coffer.VerificationRequest) string {
		var out []string
		for _, r := range list {
			out = append(out, fmt.Sprintf("%s/%d", r.ID, len(r.Documents)))
		}
		return strings.Join(out, " ")
	}
	list := func(state, memberID string, limit int) string {
		t.Helper()
		l, err := s.VerificationRequests(ctx, state, memberID, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids(l)
	}
	if got := list(coffer.VerificationPending, "", 0); got != "vr-a1/2 vr-b1/0" {
		t.Fatalf("pending queue = %q; want oldest first with documents", got)
	}
	if got := list("", "", 1); got != "vr-a1/2" {
		t.Fatalf("limit 1 = %q", got)
	}
	if got := list("", b.ID, 0); got != "vr-b1/0" {
		t.Fatalf("b's requests = %q", got)
	}

	// Decisions: only from pending; approval sets the level.
	wantCode2 := func(r *coffer.VerificationRequest, code string) {
		t.Helper()
		_, err := s.DecideVerification(ctx, r, nil)
		wantCode(t, err, code)
	}
	wantCode2(&coffer.VerificationRequest{ID: ra.ID, State: coffer.VerificationApproved, Reviewer: reg.ID, DecidedAt: at3}, coffer.EINVALID) // no level
	wantCode2(&coffer.VerificationRequest{ID: ra.ID, State: coffer.VerificationPending, DecidedAt: at3}, coffer.EINVALID)
	wantFact2 := func(r *coffer.VerificationRequest, fact *coffer.Error) {
		t.Helper()
		_, err := s.DecideVerification(ctx, r, nil)
		wantFact(t, err, fact)
	}
	wantFact2(&coffer.VerificationRequest{ID: ra.ID, State: coffer.VerificationApproved, Reviewer: reg.ID, DecidedAt: at3}, coffer.ErrApprovalWithoutLevel)
	wantFact2(&coffer.VerificationRequest{ID: ra.ID, State: coffer.VerificationPending, DecidedAt: at3}, coffer.ErrNotADecision)
	wantCode2(&coffer.VerificationRequest{ID: "vr-none", State: coffer.VerificationRejected, DecidedAt: at3}, coffer.ENOTFOUND)

	ok, err := s.DecideVerification(ctx, &coffer.VerificationRequest{ID: ra.ID, State: coffer.VerificationApproved, Level: coffer.LevelInitial, Reviewer: reg.ID, DecidedAt: at3},
		ev(coffer.AuditVerificationApproved, a.ID))
	if err != nil || !ok {
		t.Fatalf("approve = %v, %v; want true", ok, err)
	}
	if st, _ := s.MemberStatus(ctx, a.ID); st.Level != coffer.LevelInitial || !st.LevelChangedAt.Equal(at3) {
		t.Fatalf("after approval: %+v; want initial at %v", st, at3)
	}
	ok, err = s.DecideVerification(ctx, &coffer.VerificationRequest{ID: ra.ID, State: coffer.VerificationRejected, Reviewer: reg.ID, Reason: "late", DecidedAt: at3},
		ev(coffer.AuditVerificationRejected, a.ID))
	if err != nil || ok {
		t.Fatalf("deciding a decided request = %v, %v; want false", ok, err)
	}
	if hasKind(t, s, a.ID, coffer.AuditVerificationRejected) {
		t.Fatal("a refused decision recorded its event")
	}
	if !hasKind(t, s, a.ID, coffer.AuditVerificationApproved) {
		t.Fatal("the approval recorded no event")
	}
	got, _ = s.VerificationRequest(ctx, ra.ID)
	if got.State != coffer.VerificationApproved || got.Reviewer != reg.ID || !got.DecidedAt.Equal(at3) || got.Level != coffer.LevelInitial {
		t.Fatalf("approved request = %+v", got)
	}

	// A rejection leaves the level alone.
	ok, err = s.DecideVerification(ctx, &coffer.VerificationRequest{ID: rb.ID, State: coffer.VerificationRejected, Reviewer: reg.ID, Reason: "blurred", DecidedAt: at3}, nil)
	if err != nil || !ok {
		t.Fatalf("reject = %v, %v", ok, err)
	}
	if st, _ := s.MemberStatus(ctx, b.ID); st.Level != coffer.LevelPseudonymous || !st.LevelChangedAt.IsZero() {
		t.Fatalf("after rejection: %+v; want unchanged", st)
	}
	if got, _ := s.VerificationRequest(ctx, rb.ID); got.State != coffer.VerificationRejected || got.Reason != "blurred" {
		t.Fatalf("rejected request = %+v", got)
	}
	if got := list(coffer.VerificationPending, "", 0); got != "" {
		t.Fatalf("pending queue after decisions = %q; want empty", got)
	}
	// With nothing pending the member may ask again.
	if err := s.CreateVerificationRequest(ctx, dup, nil); err != nil {
		t.Fatalf("a new request after the decision: %v", err)
	}
	if got := list("", a.ID, 0); got != "vr-a1/2 vr-a2/1" {
		t.Fatalf("a's requests = %q", got)
	}
}

func testPersons(t *testing.T, s coffer.Store) {
	a, b, c := member(t, s, "", ""), member(t, s, "", ""), member(t, s, "", "")
	d, e := member(t, s, "", ""), member(t, s, "", "")
	linked := func(m *coffer.Member, want ...*coffer.Member) {
		t.Helper()
		var w []string
		for _, x := range want {
			w = append(w, x.ID)
		}
		slices.Sort(w)
		got, err := s.LinkedMembers(ctx, m.ID)
		if err != nil || len(got) != len(w) || (len(w) > 0 && !slices.Equal(got, w)) {
			t.Fatalf("LinkedMembers(%s) = %v, %v; want %v", m.ID, got, err, w)
		}
	}
	linked(a)
	p1, err := s.LinkMembers(ctx, []string{a.ID, b.ID}, base, ev(coffer.AuditMembersLinked, a.ID))
	if err != nil || p1 == "" {
		t.Fatalf("LinkMembers = %q, %v", p1, err)
	}
	linked(a, b)
	linked(b, a)
	// Extending: c joins a's person.
	p2, err := s.LinkMembers(ctx, []string{c.ID, a.ID}, base, nil)
	if err != nil || p2 != p1 {
		t.Fatalf("extending = %q, %v; want the same person %q", p2, err, p1)
	}
	linked(b, a, c)
	// Linking again changes nothing.
	if p, err := s.LinkMembers(ctx, []string{b.ID, c.ID}, base, nil); err != nil || p != p1 {
		t.Fatalf("linking linked members = %q, %v", p, err)
	}
	p3, err := s.LinkMembers(ctx, []string{d.ID, e.ID}, base, nil)
	if err != nil || p3 == "" || p3 == p1 {
		t.Fatalf("another person = %q, %v", p3, err)
	}
	// Two persons cannot be merged.
	_, err = s.LinkMembers(ctx, []string{a.ID, d.ID}, base, ev(coffer.AuditMembersLinked, a.ID))
	wantFact(t, err, coffer.ErrDifferentPersons)
	if n := countKind(t, s, a.ID, coffer.AuditMembersLinked); n != 1 {
		t.Fatalf("%d link events; want 1", n)
	}
	_, err = s.LinkMembers(ctx, []string{a.ID, "999999999999"}, base, nil)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.LinkMembers(ctx, nil, base, nil)
	wantFact(t, err, coffer.ErrNoMemberIDs)
	linked(d, e)
	linked(a, b, c)
}

func disclosure(id string, req, subj *coffer.Member, at time.Time, fields ...string) *coffer.DisclosureRequest {
	return &coffer.DisclosureRequest{ID: id, Requester: req.ID, Subject: subj.ID, Fields: fields, Reason: "contract", State: coffer.DisclosurePending, CreatedAt: at}
}

func disclosureIDs(list []*coffer.DisclosureRequest) string {
	var out []string
	for _, d := range list {
		out = append(out, d.ID)
	}
	return strings.Join(out, " ")
}

func testDisclosure(t *testing.T, s coffer.Store) {
	a, b, c := member(t, s, "", ""), member(t, s, "", ""), member(t, s, "", "")
	at1, at2, at3 := base, base.Add(time.Minute), base.Add(2*time.Minute)
	r1 := disclosure("dr-1", a, b, at1, coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldDateOfBirth)
	if err := s.CreateDisclosureRequest(ctx, r1, 10, 20, ev(coffer.AuditDisclosureRequested, b.ID)); err != nil {
		t.Fatal(err)
	}
	r2 := disclosure("dr-2", a, b, at2, coffer.FieldCity)
	r3 := disclosure("dr-3", c, b, at3, coffer.FieldCountry)
	r4 := disclosure("dr-4", b, a, at3, coffer.FieldCountry)
	for _, r := range []*coffer.DisclosureRequest{r2, r3, r4} {
		if err := s.CreateDisclosureRequest(ctx, r, 10, 20, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, s.CreateDisclosureRequest(ctx, disclosure("dr-x", a, &coffer.Member{ID: "999999999999"}, at1, coffer.FieldCity), 10, 20, nil), coffer.ENOTFOUND)
	wantCode(t, s.CreateDisclosureRequest(ctx, disclosure("dr-1", a, b, at1, coffer.FieldCity), 10, 20, nil), coffer.ECONFLICT)

	got, err := s.DisclosureRequest(ctx, "dr-1")
	if err != nil || got.Requester != a.ID || got.Subject != b.ID || !slices.Equal(got.Fields, r1.Fields) || got.Reason != "contract" ||
		got.State != coffer.DisclosurePending || len(got.Granted) != 0 || !got.Until.IsZero() || !got.CreatedAt.Equal(at1) || !got.DecidedAt.IsZero() {
		t.Fatalf("DisclosureRequest = %+v, %v", got, err)
	}
	_, err = s.DisclosureRequest(ctx, "dr-none")
	wantCode(t, err, coffer.ENOTFOUND)
	lists := func(m *coffer.Member, asRequester bool) string {
		t.Helper()
		l, err := s.DisclosureRequests(ctx, m.ID, asRequester)
		if err != nil {
			t.Fatal(err)
		}
		return disclosureIDs(l)
	}
	if got := lists(b, false); got != "dr-3 dr-2 dr-1" {
		t.Fatalf("about b = %q; want newest first", got)
	}
	if got := lists(a, true); got != "dr-2 dr-1" {
		t.Fatalf("by a = %q", got)
	}
	if got := lists(a, false); got != "dr-4" {
		t.Fatalf("about a = %q", got)
	}
	if got := lists(c, false); got != "" {
		t.Fatalf("about c = %q; want none", got)
	}

	decide := func(id, state, from string, granted []string, until time.Time, want bool) *coffer.DisclosureRequest {
		t.Helper()
		r := &coffer.DisclosureRequest{ID: id, State: state, Granted: granted, Until: until, DecidedAt: at3}
		ok, err := s.DecideDisclosure(ctx, r, from, ev(coffer.AuditDisclosureDecided, b.ID))
		if err != nil || ok != want {
			t.Fatalf("DecideDisclosure(%s, %s from %s) = %v, %v; want %v", id, state, from, ok, err, want)
		}
		return r
	}
	now := at3.Add(time.Hour)
	active := func(subj, req *coffer.Member, at time.Time) string {
		t.Helper()
		l, err := s.ActiveGrants(ctx, subj.ID, req.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		return disclosureIDs(l)
	}
	if got := active(b, a, now); got != "" {
		t.Fatalf("grants before any = %q", got)
	}
	// A subset granted, until a time.
	until := now.Add(24 * time.Hour)
	decide("dr-1", coffer.DisclosureGranted, coffer.DisclosurePending, []string{coffer.FieldLastName}, until, true)
	got, _ = s.DisclosureRequest(ctx, "dr-1")
	if got.State != coffer.DisclosureGranted || !slices.Equal(got.Granted, []string{coffer.FieldLastName}) || !got.Until.Equal(until) ||
		!got.DecidedAt.Equal(at3) || !got.Active(now) || got.Active(until) {
		t.Fatalf("granted = %+v", got)
	}
	// Not twice, and not refused once granted.
	decide("dr-1", coffer.DisclosureGranted, coffer.DisclosurePending, nil, time.Time{}, false)
	decide("dr-1", coffer.DisclosureRefused, coffer.DisclosurePending, nil, time.Time{}, false)
	// A transition the states do not allow.
	decide("dr-1", coffer.DisclosureRefused, coffer.DisclosureGranted, nil, time.Time{}, false)
	decide("dr-2", coffer.DisclosureRevoked, coffer.DisclosurePending, nil, time.Time{}, false)
	decide("dr-none", coffer.DisclosureGranted, coffer.DisclosurePending, nil, time.Time{}, false)
	// A grant without a subset grants what was asked, with no end.
	g := decide("dr-2", coffer.DisclosureGranted, coffer.DisclosurePending, nil, time.Time{}, true)
	if !slices.Equal(g.Granted, []string{coffer.FieldCity}) {
		t.Fatalf("granted fields returned = %v; want city", g.Granted)
	}
	if got, _ := s.DisclosureRequest(ctx, "dr-2"); !slices.Equal(got.Granted, []string{coffer.FieldCity}) || !got.Until.IsZero() {
		t.Fatalf("grant of everything = %+v", got)
	}
	decide("dr-3", coffer.DisclosureRefused, coffer.DisclosurePending, nil, time.Time{}, true)
	if got, _ := s.DisclosureRequest(ctx, "dr-3"); got.State != coffer.DisclosureRefused || len(got.Granted) != 0 {
		t.Fatalf("refused = %+v", got)
	}
	if got := active(b, a, now); got != "dr-1 dr-2" {
		t.Fatalf("ActiveGrants = %q; want both grants", got)
	}
	if got := active(b, a, until.Add(time.Second)); got != "dr-2" {
		t.Fatalf("ActiveGrants after the first ended = %q; want dr-2", got)
	}
	if got := active(b, c, now); got != "" {
		t.Fatalf("refused request is no grant: %q", got)
	}
	if got := active(a, b, now); got != "" {
		t.Fatalf("grants the other way = %q; want none", got)
	}
	// Revocation: only of a grant, once.
	decide("dr-1", coffer.DisclosureRevoked, coffer.DisclosureGranted, nil, time.Time{}, true)
	decide("dr-1", coffer.DisclosureRevoked, coffer.DisclosureGranted, nil, time.Time{}, false)
	decide("dr-3", coffer.DisclosureRevoked, coffer.DisclosureGranted, nil, time.Time{}, false)
	if got, _ := s.DisclosureRequest(ctx, "dr-1"); got.State != coffer.DisclosureRevoked || got.Active(now) {
		t.Fatalf("revoked = %+v", got)
	}
	if got := active(b, a, now); got != "dr-2" {
		t.Fatalf("ActiveGrants after revocation = %q; want dr-2", got)
	}
	if n := countKind(t, s, b.ID, coffer.AuditDisclosureDecided); n != 4 {
		t.Fatalf("%d decision events; want 4 (grant, grant, refuse, revoke)", n)
	}
}

func testDisclosureLimits(t *testing.T, s coffer.Store) {
	a, b, c, d := member(t, s, "", ""), member(t, s, "", ""), member(t, s, "", ""), member(t, s, "", "")
	// An old request falls outside the 24 hours.
	if err := s.CreateDisclosureRequest(ctx, disclosure("old", a, b, base.Add(-25*time.Hour), coffer.FieldCity), 2, 3, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.CreateDisclosureRequest(ctx, disclosure(fmt.Sprintf("a%d", i), a, b, base.Add(time.Duration(i)*time.Minute), coffer.FieldCity), 2, 3, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The requester's limit.
	err := s.CreateDisclosureRequest(ctx, disclosure("a2", a, c, base.Add(time.Hour), coffer.FieldCity), 2, 3, ev(coffer.AuditDisclosureRequested, c.ID))
	wantFact(t, err, coffer.ErrRequesterDisclosureLimit)
	if hasKind(t, s, c.ID, coffer.AuditDisclosureRequested) {
		t.Fatal("a refused request recorded its event")
	}
	// A day after the first one, the requester may ask again.
	if err := s.CreateDisclosureRequest(ctx, disclosure("a3", a, c, base.Add(24*time.Hour+time.Second), coffer.FieldCity), 2, 3, nil); err != nil {
		t.Fatalf("after 24 hours: %v", err)
	}
	// The subject's limit: b has two from a; one more from c, then no more from anyone.
	if err := s.CreateDisclosureRequest(ctx, disclosure("c0", c, b, base.Add(time.Hour), coffer.FieldCity), 2, 3, nil); err != nil {
		t.Fatal(err)
	}
	err = s.CreateDisclosureRequest(ctx, disclosure("d0", d, b, base.Add(time.Hour), coffer.FieldCity), 2, 3, nil)
	wantFact(t, err, coffer.ErrSubjectDisclosureLimit)
	if _, err := s.DisclosureRequest(ctx, "d0"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the refused request was stored: %v", err)
	}
	// Other subjects are not affected.
	if err := s.CreateDisclosureRequest(ctx, disclosure("d1", d, c, base.Add(time.Hour), coffer.FieldCity), 2, 3, nil); err != nil {
		t.Fatal(err)
	}
}

func testContacts(t *testing.T, s coffer.Store) {
	a, b, c := member(t, s, "", ""), member(t, s, "", ""), member(t, s, "", "")
	is := func(x, y *coffer.Member, want bool) {
		t.Helper()
		if got, err := s.IsContact(ctx, x.ID, y.ID); err != nil || got != want {
			t.Fatalf("IsContact(%s, %s) = %v, %v; want %v", x.ID, y.ID, got, err, want)
		}
	}
	is(a, b, false)
	if l, err := s.Contacts(ctx, a.ID); err != nil || len(l) != 0 {
		t.Fatalf("no contacts = %v, %v", l, err)
	}
	for i, x := range []*coffer.Member{b, c} {
		if err := s.AddContact(ctx, &coffer.Contact{MemberID: a.ID, ContactID: x.ID, Note: "note " + x.ID, CreatedAt: base.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// Adding again replaces the note and keeps the date.
	if err := s.AddContact(ctx, &coffer.Contact{MemberID: a.ID, ContactID: b.ID, Note: "shop", CreatedAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.AddContact(ctx, &coffer.Contact{MemberID: a.ID, ContactID: "999999999999", CreatedAt: base}), coffer.ENOTFOUND)
	l, err := s.Contacts(ctx, a.ID)
	if err != nil || len(l) != 2 || l[0].ContactID != b.ID || l[0].Note != "shop" || !l[0].CreatedAt.Equal(base) || l[0].MemberID != a.ID ||
		l[1].ContactID != c.ID || l[1].Note != "note "+c.ID {
		t.Fatalf("Contacts = %+v, %v", l, err)
	}
	is(a, b, true)
	is(b, a, false) // one direction only
	if ok, err := s.RemoveContact(ctx, a.ID, b.ID); err != nil || !ok {
		t.Fatalf("RemoveContact = %v, %v", ok, err)
	}
	if ok, err := s.RemoveContact(ctx, a.ID, b.ID); err != nil || ok {
		t.Fatalf("RemoveContact again = %v, %v; want false", ok, err)
	}
	is(a, b, false)
	is(a, c, true)
}

func testCloseMember(t *testing.T, s coffer.Store) {
	iss := member(t, s, "", "")
	m := member(t, s, "close@example.org", "+14155550199")
	other := member(t, s, "", "")
	pi := purse(t, s, iss.ID, 'Z', "USD", true, 1_000_00)
	pm := purse(t, s, m.ID, 'Z', "USD", false, 0)
	pm2 := purse(t, s, m.ID, 'E', "EUR", false, 0)
	po := purse(t, s, other.ID, 'Z', "USD", false, 0)
	at := base.Add(time.Hour)
	closeEv := func() *coffer.AuditEvent { return coffer.NewAuditEvent(at, coffer.AuditAccountClosed, m.ID, nil) }

	wantCode(t, s.CloseMember(ctx, "999999999999", at, nil), coffer.ENOTFOUND)

	// Everything a member may have.
	if err := s.SetProfileValues(ctx, m.ID, map[string]string{coffer.FieldFirstName: "Max", coffer.FieldLastName: "Muster"}, base, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVisibility(ctx, m.ID, map[string]string{coffer.FieldFirstName: coffer.VisibleEveryone}, base, nil); err != nil {
		t.Fatal(err)
	}
	vr := &coffer.VerificationRequest{ID: "vr-close", MemberID: m.ID, Values: map[string]string{coffer.FieldFirstName: "Max"}, State: coffer.VerificationPending,
		CreatedAt: base, Documents: []*coffer.Document{newDocument("doc-close", base)}}
	if err := s.CreateVerificationRequest(ctx, vr, nil); err != nil {
		t.Fatal(err)
	}
	sess := &coffer.Session{ID: "s-close", MemberID: m.ID, TokenHash: []byte("close-hash"), IP: "127.0.0.1", UserAgent: "ua", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(1000 * time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*coffer.Contact{{MemberID: m.ID, ContactID: other.ID, CreatedAt: base}, {MemberID: other.ID, ContactID: m.ID, CreatedAt: base}} {
		if err := s.AddContact(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.LinkMembers(ctx, []string{m.ID, other.ID}, base, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, m.ID, coffer.RoleRegistrar, true, nil); err != nil {
		t.Fatal(err)
	}
	key := signingKey(t, m.ID, "laptop", base)
	if err := s.CreateKey(ctx, key, 10, nil); err != nil {
		t.Fatal(err)
	}
	cert := newCert(m.ID, 1, base, 365*24*time.Hour)
	if err := s.CreateCertificate(ctx, cert, 10, nil); err != nil {
		t.Fatal(err)
	}

	// Money in a purse: refused.
	b := newBook(t, s)
	tr := func(id string, from, to *coffer.Purse, sender, payee *coffer.Member, amount int64, at time.Time) *coffer.Transfer {
		return &coffer.Transfer{Sender: sender.ID, TransferID: id, From: from.Number, To: to.Number, Currency: from.Currency, Amount: amount,
			Payee: payee.ID, CreatedAt: at, Kind: coffer.KindTransfer, Status: coffer.StatusCompleted}
	}
	b.send(tr("fund", pi, pm, iss, m, 1000, base))
	b.commit()
	wantFact(t, s.CloseMember(ctx, m.ID, at, closeEv()), coffer.ErrPursesNotEmpty)

	// Money sent protected is still the member's until released: refused.
	tp := tr("protected", pm, po, m, other, 1000, base.Add(time.Minute))
	tp.Kind, tp.Status = coffer.KindProtected, coffer.StatusHeld
	tp.Protection = &coffer.Protection{Until: base.Add(72 * time.Hour)}
	b.send(tp)
	b.commit()
	if p, _ := s.Purse(ctx, pm.Number); p.Balance != 0 || p.Held != 0 {
		t.Fatalf("member's purse = %+v; want empty", p)
	}
	wantFact(t, s.CloseMember(ctx, m.ID, at, closeEv()), coffer.ErrSentTransferHeld)

	// Money held for the member: refused. (other sends protected back.)
	b.entry(tp, po.Number, coffer.EntryRelease, true, -1000, pm.Number, base.Add(2*time.Minute))
	b.entry(tp, po.Number, coffer.EntryRelease, false, 1000, pm.Number, base.Add(2*time.Minute))
	released := *tp
	released.Status = coffer.StatusReleased
	b.w.Updates = append(b.w.Updates, &released)
	tq := tr("back", po, pm, other, m, 1000, base.Add(3*time.Minute))
	tq.Kind, tq.Status = coffer.KindProtected, coffer.StatusHeld
	tq.Protection = &coffer.Protection{Until: base.Add(72 * time.Hour)}
	b.send(tq)
	b.commit()
	if p, _ := s.Purse(ctx, pm.Number); p.Balance != 0 || p.Held != 1000 {
		t.Fatalf("member's purse = %+v; want 1000 held", p)
	}
	wantFact(t, s.CloseMember(ctx, m.ID, at, closeEv()), coffer.ErrPursesNotEmpty)

	// Released, then paid away: every purse empty.
	b.entry(tq, pm.Number, coffer.EntryRelease, true, -1000, po.Number, base.Add(4*time.Minute))
	b.entry(tq, pm.Number, coffer.EntryRelease, false, 1000, po.Number, base.Add(4*time.Minute))
	rq := *tq
	rq.Status = coffer.StatusReleased
	b.w.Updates = append(b.w.Updates, &rq)
	b.send(tr("away", pm, pi, m, iss, 1000, base.Add(5*time.Minute)))
	b.commit()
	if p, _ := s.Purse(ctx, pm.Number); p.Balance != 0 || p.Held != 0 {
		t.Fatalf("member's purse = %+v; want empty", p)
	}
	if kinds := auditKinds(t, s, m.ID); slices.Contains(kinds, coffer.AuditAccountClosed) {
		t.Fatalf("a refused close recorded its event: %v", kinds)
	}

	if err := s.CloseMember(ctx, m.ID, at, closeEv()); err != nil {
		t.Fatalf("CloseMember: %v", err)
	}
	wantFact(t, s.CloseMember(ctx, m.ID, at, closeEv()), coffer.ErrAccountClosed)

	st, err := s.MemberStatus(ctx, m.ID)
	if err != nil || !st.ClosedAt.Equal(at) || len(st.Roles) != 0 {
		t.Fatalf("status after close = %+v, %v; want closed at %v without roles", st, err, at)
	}
	for _, login := range []string{"close@example.org", "+14155550199"} {
		_, err := s.MemberByLogin(ctx, login)
		wantCode(t, err, coffer.ENOTFOUND)
	}
	if got, err := s.MemberByLogin(ctx, m.ID); err != nil || got.Email != "" || got.Phone != "" || strings.HasPrefix(got.PasswordHash, "$") {
		t.Fatalf("closed member by ID = %+v, %v; want no e-mail, phone or usable hash", got, err)
	}
	// The e-mail and phone are free again.
	member(t, s, "close@example.org", "+14155550199")
	if p, err := s.Profile(ctx, m.ID); err != nil || len(p.Values) != 0 || len(p.Visibility) != 0 {
		t.Fatalf("profile after close = %+v, %v; want empty", p, err)
	}
	if _, err := s.Document(ctx, "doc-close"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("document after close: %v; want not found", err)
	}
	if r, err := s.VerificationRequest(ctx, vr.ID); err != nil || len(r.Values) != 0 || len(r.Documents) != 0 || r.State == coffer.VerificationPending {
		t.Fatalf("verification request after close = %+v, %v; want no values, no documents, not pending", r, err)
	}
	if _, err := s.SessionByTokenHash(ctx, []byte("close-hash")); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("session after close: %v", err)
	}
	if l, _ := s.Contacts(ctx, m.ID); len(l) != 0 {
		t.Fatalf("contacts after close = %v", l)
	}
	if ok, _ := s.IsContact(ctx, other.ID, m.ID); ok {
		t.Fatal("others' contact entries of the closed member remain")
	}
	if l, _ := s.LinkedMembers(ctx, other.ID); len(l) != 0 {
		t.Fatalf("link after close = %v", l)
	}
	if k, err := s.Key(ctx, key.ID); err != nil || !k.RevokedAt.Equal(at) {
		t.Fatalf("key after close = %+v, %v; want revoked", k, err)
	}
	if c, err := s.CertificateBySerial(ctx, cert.Serial); err != nil || !c.RevokedAt.Equal(at) {
		t.Fatalf("certificate after close = %+v, %v; want revoked", c, err)
	}
	if l, err := s.MembersWithRole(ctx, coffer.RoleRegistrar); err != nil || slices.Contains(l, m.ID) {
		t.Fatalf("registrars after close = %v, %v", l, err)
	}
	// The ledger and the audit log stay.
	if h, err := s.History(ctx, pm.Number, coffer.HistoryFilter{Limit: 100}); err != nil || len(h) == 0 {
		t.Fatalf("history after close = %d entries, %v; want kept", len(h), err)
	}
	if l, err := s.Purses(ctx, m.ID); err != nil || len(l) != 2 || (l[0].Number != pm.Number && l[1].Number != pm.Number) {
		t.Fatalf("purses after close = %v, %v", l, err)
	}
	_ = pm2
	if !hasKind(t, s, m.ID, coffer.AuditAccountClosed) {
		t.Fatalf("audit after close = %v; want account.closed", auditKinds(t, s, m.ID))
	}
}

// testIdentityConcurrent: the limits hold when requests race, in one
// process or (for a shared store) several.
func testIdentityConcurrent(t *testing.T, s coffer.Store) {
	a, b := member(t, s, "", ""), member(t, s, "", "")
	subjects := make([]*coffer.Member, 8)
	for i := range subjects {
		subjects[i] = member(t, s, "", "")
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := disclosure(fmt.Sprintf("race-%d", i), a, subjects[i%len(subjects)], base.Add(time.Duration(i)*time.Second), coffer.FieldCity)
			errs[i] = s.CreateDisclosureRequest(ctx, r, 5, 100, ev(coffer.AuditDisclosureRequested, r.Subject))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch coffer.ErrorCode(err) {
		case "":
			ok++
		case coffer.ELIMITEXCEEDED:
		default:
			t.Fatalf("concurrent CreateDisclosureRequest: %v", err)
		}
	}
	if ok != 5 {
		t.Fatalf("%d concurrent requests by one requester stored; want exactly 5", ok)
	}
	if l, _ := s.DisclosureRequests(ctx, a.ID, true); len(l) != 5 {
		t.Fatalf("stored %d; want 5", len(l))
	}

	// One pending verification request, however many are sent at once.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &coffer.VerificationRequest{ID: fmt.Sprintf("vr-race-%d", i), MemberID: b.ID, State: coffer.VerificationPending, CreatedAt: base,
				Documents: []*coffer.Document{newDocument(fmt.Sprintf("doc-race-%d", i), base)}}
			errs[i] = s.CreateVerificationRequest(ctx, r, ev(coffer.AuditVerificationRequested, b.ID))
		}()
	}
	wg.Wait()
	ok = 0
	for _, err := range errs {
		switch coffer.ErrorCode(err) {
		case "":
			ok++
		case coffer.ECONFLICT:
		default:
			t.Fatalf("concurrent CreateVerificationRequest: %v", err)
		}
	}
	if l, _ := s.VerificationRequests(ctx, coffer.VerificationPending, b.ID, 0); ok != 1 || len(l) != 1 {
		t.Fatalf("%d concurrent verification requests stored (%d pending); want 1", ok, len(l))
	}

	// Of concurrent decisions on one request exactly one wins.
	l, _ := s.VerificationRequests(ctx, coffer.VerificationPending, b.ID, 0)
	wins := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state, level := coffer.VerificationApproved, coffer.LevelInitial
			if i%2 == 1 {
				state, level = coffer.VerificationRejected, ""
			}
			wins[i], errs[i] = s.DecideVerification(ctx, &coffer.VerificationRequest{ID: l[0].ID, State: state, Level: level, Reviewer: a.ID, DecidedAt: base}, nil)
		}()
	}
	wg.Wait()
	won := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent DecideVerification: %v", errs[i])
		}
		if wins[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent decisions won; want 1", won)
	}

	// Concurrent links that share a member make one person, with or
	// without an audit event (which orders them by itself).
	hub := member(t, s, "", "")
	spokes := make([]*coffer.Member, n)
	for i := range spokes {
		spokes[i] = member(t, s, "", "")
	}
	persons := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var e *coffer.AuditEvent
			if i%2 == 0 {
				e = ev(coffer.AuditMembersLinked, hub.ID)
			}
			persons[i], errs[i] = s.LinkMembers(ctx, []string{spokes[i].ID, hub.ID}, base, e)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || persons[i] != persons[0] {
			t.Fatalf("concurrent LinkMembers %d = %q, %v; want %q", i, persons[i], errs[i], persons[0])
		}
	}
	if got, err := s.LinkedMembers(ctx, hub.ID); err != nil || len(got) != n {
		t.Fatalf("LinkedMembers(hub) = %v, %v; want the %d linked concurrently", got, err, n)
	}
}
