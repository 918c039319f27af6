package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/jackc/pgx/v5"
)

// Documents of each accepted type, told apart by their first bytes.
var (
	pngDoc  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)
	jpegDoc = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{9}, 64)...)
	pdfDoc  = []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
)

// newLevelEnv is newEnv with the built-in verification levels and a
// documents key, as `cofferd serve` runs, on st (sq is st when it is the
// SQLite store, for the helpers that need it).
func newLevelEnv(t *testing.T, st coffer.Store, sq *sqlite.DB) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	metrics := httpapi.NewMetrics()
	levels, currencies := coffer.DefaultLevels(), app.NewCurrencies(st)
	engine := ledger.New(st, log, ledger.Config{Levels: levels, Currencies: currencies})
	go engine.Run()
	key := make([]byte, 32)
	rand.Read(key)
	clk := &clock{}
	svc := app.New(st, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Levels: levels, Currencies: currencies, DocumentKey: key,
		Uploads: app.UploadConfig{Dir: t.TempDir()}})
	srv := httptest.NewServer(httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
	})
	return &env{t: t, srv: srv, db: sq, clock: clk}
}

func newSQLiteLevelEnv(t *testing.T) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	e := newLevelEnv(t, db, db)
	t.Cleanup(func() { db.Close() }) // after the engine stops (cleanups run last first)
	return e, dir
}

// setLevel sets a member's level directly in the store, as the operator.
func setLevel(t *testing.T, st coffer.IdentityStore, member, level string) {
	t.Helper()
	if _, err := app.SetMemberLevel(context.Background(), st, coffer.DefaultLevels(), app.SetLevelInput{MemberID: member, Level: level, Reason: "test"}, time.Now()); err != nil {
		t.Fatalf("set level %s of %s: %v", level, member, err)
	}
}

// makeRegistrar grants the registrar role in the store.
func makeRegistrar(t *testing.T, st coffer.IdentityStore, member string, on bool) {
	t.Helper()
	ev := coffer.NewAuditEvent(time.Now(), coffer.AuditRoleChanged, member, map[string]any{"role": coffer.RoleRegistrar, "granted": on})
	if err := st.SetRole(context.Background(), member, coffer.RoleRegistrar, on, ev); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
}

// fillProfile enters the personal data that verification needs.
func fillProfile(t *testing.T, e *env, m *member, last string) {
	t.Helper()
	a := e.request(t, "PUT", "/v1/profile", m.token, map[string]any{"values": map[string]string{
		"first_name": "Ada", "last_name": last, "date_of_birth": "1990-04-01", "country": "GB"}})
	if a.Status != http.StatusOK && a.Status != http.StatusNoContent {
		t.Fatalf("PUT /v1/profile: got %s", a)
	}
}

// upload posts a document and returns its ID.
func upload(t *testing.T, e *env, m *member, doc []byte, hdr ...string) string {
	t.Helper()
	a := e.request(t, "POST", "/v1/verification/documents", m.token, doc, hdr...)
	wantStatus(t, a, http.StatusCreated)
	var out struct {
		DocumentID string `json:"document_id"`
	}
	a.decode(t, &out)
	return out.DocumentID
}

// submit uploads doc and creates a verification request with it.
func submit(t *testing.T, e *env, m *member, doc []byte) string {
	t.Helper()
	id := upload(t, e, m, doc)
	a := e.request(t, "POST", "/v1/verification", m.token, map[string]any{"documents": []string{id}, "level_requested": "initial"})
	wantStatus(t, a, http.StatusCreated)
	var out struct {
		RequestID string `json:"request_id"`
		State     string `json:"state"`
	}
	a.decode(t, &out)
	if out.State != coffer.VerificationPending {
		t.Fatalf("new request: got state %q, want pending", out.State)
	}
	return out.RequestID
}

// levelOf reads the member's own level.
func levelOf(t *testing.T, e *env, m *member) string {
	t.Helper()
	a := e.request(t, "GET", "/v1/verification", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var out struct {
		Level string `json:"level"`
	}
	a.decode(t, &out)
	return out.Level
}

func TestVerification_Upload(t *testing.T) {
	e, _ := newSQLiteLevelEnv(t)
	m := e.register(t, "")

	for _, tc := range []struct {
		name string
		body []byte
		ct   string // what the client claims
		want string // sniffed type
	}{
		{"png", pngDoc, "application/octet-stream", "image/png"},
		{"jpeg", jpegDoc, "text/plain", "image/jpeg"},
		{"pdf", pdfDoc, "image/png", "application/pdf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.request(t, "POST", "/v1/verification/documents", m.token, tc.body, "Content-Type", tc.ct)
			wantStatus(t, a, http.StatusCreated)
			var out struct {
				DocumentID  string `json:"document_id"`
				ContentType string `json:"content_type"`
				Size        int    `json:"size"`
			}
			a.decode(t, &out)
			if !strings.HasPrefix(out.DocumentID, "doc_") || out.ContentType != tc.want || out.Size != len(tc.body) {
				t.Errorf("got %s, want a doc_ ID, type %s, size %d", a, tc.want, len(tc.body))
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		other := e.register(t, "")
		for _, tc := range []struct {
			name   string
			body   []byte
			ct     string
			status int
			code   string
		}{
			{"text claiming png", []byte("hello, I am not an image at all"), "image/png", 415, "unsupported_media_type"},
			{"html", []byte("<html><script>alert(1)</script></html>"), "application/pdf", 415, "unsupported_media_type"},
			{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "image/gif", 415, "unsupported_media_type"},
			{"empty", nil, "image/png", 400, "invalid_request"},
			{"too large", append(slices.Clone(pngDoc), make([]byte, app.MaxDocumentBytes)...), "image/png", 413, "request_too_large"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := tc.body
				if body == nil {
					body = []byte{}
				}
				a := e.request(t, "POST", "/v1/verification/documents", other.token, body, "Content-Type", tc.ct)
				wantProblem(t, a, tc.status, tc.code)
			})
		}
		// Anonymous: 401.
		wantProblem(t, e.request(t, "POST", "/v1/verification/documents", "", pngDoc), 401, "unauthorized")
	})

	t.Run("at most five waiting", func(t *testing.T) {
		w := e.register(t, "")
		for range app.MaxDocumentsPerRequest {
			upload(t, e, w, pngDoc)
		}
		wantProblem(t, e.request(t, "POST", "/v1/verification/documents", w.token, pngDoc), 429, "rate_limited")
	})

	t.Run("submit needs own uploads and profile", func(t *testing.T) {
		a := e.register(t, "")
		b := e.register(t, "")
		docA := upload(t, e, a, pngDoc)
		// No personal data yet.
		wantProblem(t, e.request(t, "POST", "/v1/verification", a.token, map[string]any{"documents": []string{docA}}), 400, "invalid_request")
		fillProfile(t, e, b, "Byron")
		// b cannot submit a's upload.
		wantProblem(t, e.request(t, "POST", "/v1/verification", b.token, map[string]any{"documents": []string{docA}}), 404, "not_found")
		wantProblem(t, e.request(t, "POST", "/v1/verification", b.token, map[string]any{"documents": []string{}}), 400, "invalid_request")
		wantProblem(t, e.request(t, "POST", "/v1/verification", b.token, map[string]any{"documents": []string{"doc_x"}, "level_requested": "emperor"}), 400, "invalid_request")
	})
}

// registrarEvents returns the kinds of the member's security log.
func eventKinds(t *testing.T, e *env, m *member) []string {
	t.Helper()
	a := e.request(t, "GET", "/v1/security/events?limit=500", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var out struct {
		Events []struct {
			Kind   string          `json:"kind"`
			Detail json.RawMessage `json:"detail"`
		} `json:"events"`
	}
	a.decode(t, &out)
	var kinds []string
	for _, ev := range out.Events {
		kinds = append(kinds, ev.Kind)
	}
	return kinds
}

func TestVerification_Flow(t *testing.T) {
	e, _ := newSQLiteLevelEnv(t)
	db := e.db
	reg := e.register(t, "registrar@example.org")
	m := e.register(t, "")
	n := e.register(t, "")

	if got := levelOf(t, e, m); got != coffer.LevelPseudonymous {
		t.Fatalf("new member: got level %q, want pseudonymous", got)
	}
	// Entering name and date of birth raises to formal by itself.
	fillProfile(t, e, m, "Lovelace")
	if got := levelOf(t, e, m); got != coffer.LevelFormal {
		t.Fatalf("after entering personal data: got level %q, want formal", got)
	}
	if !slices.Contains(eventKinds(t, e, m), coffer.AuditLevelChanged) {
		t.Errorf("no %s event after the automatic raise", coffer.AuditLevelChanged)
	}

	reqID := submit(t, e, m, pdfDoc)
	// One pending request per member.
	doc2 := upload(t, e, m, pngDoc)
	wantProblem(t, e.request(t, "POST", "/v1/verification", m.token, map[string]any{"documents": []string{doc2}}), 409, "conflict")

	// Not yet a registrar: every registrar endpoint is 404, like a path that
	// does not exist, with the same body.
	unknown := e.request(t, "GET", "/v1/registrar/nothing-here", reg.token, nil)
	for _, p := range []struct{ method, path string }{
		{"GET", "/v1/registrar/requests"},
		{"GET", "/v1/registrar/requests/" + reqID},
		{"POST", "/v1/registrar/requests/" + reqID + "/approve"},
		{"POST", "/v1/registrar/requests/" + reqID + "/reject"},
		{"POST", "/v1/registrar/members/" + m.id + "/level"},
		{"POST", "/v1/registrar/persons"},
	} {
		var body any
		if p.method == "POST" {
			body = map[string]string{"level": "personal"}
		}
		a := e.request(t, p.method, p.path, reg.token, body)
		wantProblem(t, a, 404, "not_found")
		if !bytes.Equal(a.Body, unknown.Body) {
			t.Errorf("%s %s for a non-registrar: got %s, want the body of an unknown path %s", p.method, p.path, a.Body, unknown.Body)
		}
	}
	makeRegistrar(t, db, reg.id, true)

	// The queue, oldest first, without personal data.
	a := e.request(t, "GET", "/v1/registrar/requests", reg.token, nil)
	wantStatus(t, a, http.StatusOK)
	var queue struct {
		Requests []map[string]any `json:"requests"`
	}
	a.decode(t, &queue)
	if len(queue.Requests) != 1 || queue.Requests[0]["request_id"] != reqID || queue.Requests[0]["values"] != nil {
		t.Fatalf("queue: got %s, want only %s without values", a, reqID)
	}
	wantProblem(t, e.request(t, "GET", "/v1/registrar/requests?state=bogus", reg.token, nil), 400, "invalid_request")

	// The request with its values and documents.
	a = e.request(t, "GET", "/v1/registrar/requests/"+reqID, reg.token, nil)
	wantStatus(t, a, http.StatusOK)
	var detail struct {
		MemberID  string            `json:"member_id"`
		Values    map[string]string `json:"values"`
		Documents []struct {
			DocumentID  string `json:"document_id"`
			ContentType string `json:"content_type"`
		} `json:"documents"`
	}
	a.decode(t, &detail)
	if detail.MemberID != m.id || detail.Values["last_name"] != "Lovelace" || len(detail.Documents) != 1 || detail.Documents[0].ContentType != "application/pdf" {
		t.Fatalf("request: got %s", a)
	}
	wantProblem(t, e.request(t, "GET", "/v1/registrar/requests/ver_aaaaaaaaaaaaaaaaaaaaaaaaaa", reg.token, nil), 404, "not_found")

	// The document, decrypted, with its type; never cached.
	docID := detail.Documents[0].DocumentID
	a = e.request(t, "GET", "/v1/registrar/documents/"+docID, reg.token, nil)
	wantStatus(t, a, http.StatusOK)
	if !bytes.Equal(a.Body, pdfDoc) || a.Header.Get("Content-Type") != "application/pdf" || a.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("document: got %q (%s, Cache-Control %q), want the uploaded PDF, no-store", a.Body, a.Header.Get("Content-Type"), a.Header.Get("Cache-Control"))
	}
	// The member cannot download it (not a registrar), nor can anyone else.
	wantProblem(t, e.request(t, "GET", "/v1/registrar/documents/"+docID, m.token, nil), 404, "not_found")
	wantProblem(t, e.request(t, "GET", "/v1/registrar/documents/"+docID, n.token, nil), 404, "not_found")

	// Approval needs a known level; it sets the level at once.
	wantProblem(t, e.request(t, "POST", "/v1/registrar/requests/"+reqID+"/approve", reg.token, map[string]string{"level": "emperor"}), 400, "invalid_request")
	a = e.request(t, "POST", "/v1/registrar/requests/"+reqID+"/approve", reg.token, map[string]string{"level": "initial"})
	wantStatus(t, a, http.StatusOK)
	if got := levelOf(t, e, m); got != coffer.LevelInitial {
		t.Errorf("after approval: got level %q, want initial", got)
	}
	// Decided once only.
	wantProblem(t, e.request(t, "POST", "/v1/registrar/requests/"+reqID+"/approve", reg.token, map[string]string{"level": "personal"}), 409, "conflict")
	wantProblem(t, e.request(t, "POST", "/v1/registrar/requests/"+reqID+"/reject", reg.token, map[string]string{"reason": "late"}), 409, "conflict")
	if got := levelOf(t, e, m); got != coffer.LevelInitial {
		t.Errorf("after a refused second decision: got level %q, want initial", got)
	}
	// The member sees the decision and the audit trail of every reading.
	a = e.request(t, "GET", "/v1/verification", m.token, nil)
	var mine struct {
		Level    string           `json:"level"`
		Allows   map[string]any   `json:"allows"`
		Requests []map[string]any `json:"requests"`
	}
	a.decode(t, &mine)
	if len(mine.Requests) != 1 || mine.Requests[0]["state"] != "approved" || mine.Requests[0]["level"] != "initial" || mine.Allows["merchant"] != true {
		t.Errorf("own verification: got %s", a)
	}
	kinds := eventKinds(t, e, m)
	for _, k := range []string{coffer.AuditVerificationRequested, coffer.AuditVerificationApproved, app.AuditVerificationViewed, app.AuditDocumentViewed} {
		if !slices.Contains(kinds, k) {
			t.Errorf("member's log: got %v, want %s", kinds, k)
		}
	}

	// Rejection: a reason is required and shown to the member.
	fillProfile(t, e, n, "Byron")
	reqN := submit(t, e, n, jpegDoc)
	wantProblem(t, e.request(t, "POST", "/v1/registrar/requests/"+reqN+"/reject", reg.token, map[string]string{"reason": " "}), 400, "invalid_request")
	a = e.request(t, "POST", "/v1/registrar/requests/"+reqN+"/reject", reg.token, map[string]string{"reason": "The scan is unreadable."})
	wantStatus(t, a, http.StatusOK)
	if got := levelOf(t, e, n); got != coffer.LevelFormal {
		t.Errorf("after rejection: got level %q, want formal unchanged", got)
	}
	a = e.request(t, "GET", "/v1/verification", n.token, nil)
	if !strings.Contains(string(a.Body), "The scan is unreadable.") || !strings.Contains(string(a.Body), `"rejected"`) {
		t.Errorf("own verification after rejection: got %s", a)
	}
	if !slices.Contains(eventKinds(t, e, n), coffer.AuditVerificationRejected) {
		t.Errorf("no %s event", coffer.AuditVerificationRejected)
	}
	// After a rejection the member may submit again.
	submit(t, e, n, pngDoc)

	// The registrar lowers a level at once, with a reason.
	wantProblem(t, e.request(t, "POST", "/v1/registrar/members/"+m.id+"/level", reg.token, map[string]string{"level": "formal"}), 400, "invalid_request")
	wantStatus(t, e.request(t, "POST", "/v1/registrar/members/"+m.id+"/level", reg.token, map[string]string{"level": "formal", "reason": "document expired"}), http.StatusOK)
	if got := levelOf(t, e, m); got != coffer.LevelFormal {
		t.Errorf("after lowering: got %q, want formal", got)
	}
	wantProblem(t, e.request(t, "POST", "/v1/registrar/members/999999999999/level", reg.token, map[string]string{"level": "formal", "reason": "x"}), 404, "not_found")

	// Taking the role away holds at once.
	makeRegistrar(t, db, reg.id, false)
	wantProblem(t, e.request(t, "GET", "/v1/registrar/requests", reg.token, nil), 404, "not_found")
}

func TestVerification_RegistrarRestrictions(t *testing.T) {
	e, _ := newSQLiteLevelEnv(t)
	db := e.db
	r1 := e.register(t, "")
	r2 := e.register(t, "")
	alt := e.register(t, "") // another member ID of r1's person
	other := e.register(t, "")
	makeRegistrar(t, db, r1.id, true)
	makeRegistrar(t, db, r2.id, true)

	// A registrar's own request: they can neither read nor decide it.
	fillProfile(t, e, r1, "Self")
	own := submit(t, e, r1, pngDoc)
	for _, p := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/registrar/requests/" + own, nil},
		{"POST", "/v1/registrar/requests/" + own + "/approve", map[string]string{"level": "personal"}},
		{"POST", "/v1/registrar/requests/" + own + "/reject", map[string]string{"reason": "x"}},
		{"POST", "/v1/registrar/members/" + r1.id + "/level", map[string]string{"level": "personal", "reason": "x"}},
		{"POST", "/v1/registrar/persons", map[string]any{"member_ids": []string{r1.id, alt.id}}},
	} {
		wantProblem(t, e.request(t, p.method, p.path, r1.token, p.body), 403, "forbidden")
	}
	if got := levelOf(t, e, r1); got != coffer.LevelFormal {
		t.Errorf("registrar's own level: got %q, want formal unchanged", got)
	}

	// r2 links r1 and alt as one person; then r1 may not act on alt.
	a := e.request(t, "POST", "/v1/registrar/persons", r2.token, map[string]any{"member_ids": []string{r1.id, alt.id}})
	wantStatus(t, a, http.StatusOK)
	fillProfile(t, e, alt, "Alter")
	altReq := submit(t, e, alt, pngDoc)
	wantProblem(t, e.request(t, "POST", "/v1/registrar/requests/"+altReq+"/approve", r1.token, map[string]string{"level": "personal"}), 403, "forbidden")
	wantProblem(t, e.request(t, "POST", "/v1/registrar/members/"+alt.id+"/level", r1.token, map[string]string{"level": "personal", "reason": "x"}), 403, "forbidden")
	a = e.request(t, "GET", "/v1/registrar/requests/"+altReq, r1.token, nil)
	wantProblem(t, a, 403, "forbidden")
	// Linking alt to a third ID through r1 is acting on alt too.
	wantProblem(t, e.request(t, "POST", "/v1/registrar/persons", r1.token, map[string]any{"member_ids": []string{alt.id, other.id}}), 403, "forbidden")
	// r2 may decide both.
	wantStatus(t, e.request(t, "POST", "/v1/registrar/requests/"+own+"/approve", r2.token, map[string]string{"level": "initial"}), http.StatusOK)
	wantStatus(t, e.request(t, "POST", "/v1/registrar/requests/"+altReq+"/reject", r2.token, map[string]string{"reason": "blurred"}), http.StatusOK)
	// r1 may act on a stranger.
	wantStatus(t, e.request(t, "POST", "/v1/registrar/members/"+other.id+"/level", r1.token, map[string]string{"level": "formal", "reason": "checked by phone"}), http.StatusOK)
	// Bad link requests.
	wantProblem(t, e.request(t, "POST", "/v1/registrar/persons", r2.token, map[string]any{"member_ids": []string{other.id}}), 400, "invalid_request")
	wantProblem(t, e.request(t, "POST", "/v1/registrar/persons", r2.token, map[string]any{"member_ids": []string{other.id, "999999999999"}}), 404, "not_found")
}

// fundedMember is a member with a USD purse the issuer paid amount into.
func fundedMember(t *testing.T, e *env, iss *member, issPurse, amount string) (*member, string) {
	t.Helper()
	m := e.register(t, "")
	p := e.newPurse(t, m, "USD")
	e.send(t, iss, issPurse, p, amount)
	return m, p
}

func levelIssuer(t *testing.T, e *env) (*member, string) {
	t.Helper()
	iss, p := e.issuer(t, "USD", 100_000_000_00)
	setLevel(t, e.db, iss.id, coffer.LevelPersonal)
	return iss, p
}

func TestLevels_DailyLimit(t *testing.T) {
	e, _ := newSQLiteLevelEnv(t)
	iss, issPurse := levelIssuer(t, e)
	reg := e.register(t, "")
	makeRegistrar(t, e.db, reg.id, true)
	// The issuer, at the personal level, has no daily limit.
	m, p1 := fundedMember(t, e, iss, issPurse, "20000.00")
	p2 := e.newPurse(t, m, "USD")
	dest := e.newPurse(t, e.register(t, ""), "USD")
	refused := func(from, amount string) {
		t.Helper()
		before := e.snapshot(t)
		wantProblem(t, e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: e.nextID("t"), From: from, To: dest, Amount: amount}), 422, "limit_exceeded")
		wantUnchanged(t, before, e.snapshot(t))
	}

	// pseudonymous: 1,000.00 a day across all the member's USD purses,
	// moves between them included.
	e.send(t, m, p1, p2, "200.00")
	e.send(t, m, p1, dest, "700.00")
	refused(p2, "100.01")
	e.send(t, m, p2, dest, "100.00")
	refused(p1, "0.01")

	// A registrar raises the level: the next transfer may go further.
	wantStatus(t, e.request(t, "POST", "/v1/registrar/members/"+m.id+"/level", reg.token, map[string]string{"level": "initial", "reason": "passport checked"}), http.StatusOK)
	e.send(t, m, p1, dest, "5000.00")

	// Lowering holds at once: the very next transfer is refused.
	wantStatus(t, e.request(t, "POST", "/v1/registrar/members/"+m.id+"/level", reg.token, map[string]string{"level": "pseudonymous", "reason": "document forged"}), http.StatusOK)
	refused(p1, "0.01")
	refused(p2, "0.01")

	// The personal level has no limit.
	setLevel(t, e.db, m.id, coffer.LevelPersonal)
	e.send(t, m, p1, dest, "10000.00")
}

func TestLevels_MerchantGates(t *testing.T) {
	e, _ := newSQLiteLevelEnv(t)
	iss, issPurse := levelIssuer(t, e)
	owner, ownerPurse := fundedMember(t, e, iss, issPurse, "100.00")
	shop := e.register(t, "")
	shopPurse := e.newPurse(t, shop, "USD")
	invoice := func() answer {
		return e.request(t, "POST", "/v1/invoices", shop.token, map[string]any{"payer": owner.id, "purse": shopPurse,
			"amount": "5.00", "order_number": e.nextID("order")})
	}
	trust := func() answer {
		return e.request(t, "POST", "/v1/trusts", owner.token, map[string]string{"merchant": shop.id, "purse": ownerPurse, "per_transfer": "10.00"})
	}

	// Below a merchant level: no invoices, no trusts.
	for _, lv := range []string{coffer.LevelPseudonymous, coffer.LevelFormal} {
		setLevel(t, e.db, shop.id, lv)
		wantProblem(t, invoice(), 403, "level_too_low")
		wantProblem(t, trust(), 403, "level_too_low")
	}

	// At initial: both.
	setLevel(t, e.db, shop.id, coffer.LevelInitial)
	wantStatus(t, invoice(), http.StatusCreated)
	a := trust()
	wantStatus(t, a, http.StatusCreated)
	var tr struct {
		TrustID string `json:"trust_id"`
	}
	a.decode(t, &tr)
	debit := func() answer {
		return e.request(t, "POST", "/v1/transfers", shop.token, map[string]string{"transfer_id": e.nextID("debit"),
			"from": ownerPurse, "to": shopPurse, "amount": "1.00", "trust_id": tr.TrustID})
	}
	wantStatus(t, debit(), http.StatusCreated)

	// The merchant loses the level: debits under the trust stop at once.
	setLevel(t, e.db, shop.id, coffer.LevelFormal)
	before := e.snapshot(t)
	wantProblem(t, debit(), 403, "level_too_low")
	wantUnchanged(t, before, e.snapshot(t))
	wantProblem(t, invoice(), 403, "level_too_low")
}

// marker is text a test document carries, to look for in the raw store.
const marker = "PASSPORT-NO-X7Q4-LOVELACE-ADA-1815"

func secretDoc() []byte {
	return append(slices.Clone(pdfDoc), []byte(strings.Repeat(marker+"\n", 20))...)
}

// wantNoPlaintext fails when raw holds the marker in any form a store
// might write it: as bytes, as hex (PostgreSQL's bytea text) or base64.
func wantNoPlaintext(t *testing.T, where string, raw []byte) {
	t.Helper()
	low := bytes.ToLower(raw)
	for _, form := range [][]byte{[]byte(marker), []byte(strings.ToLower(hexOf(marker)))} {
		if bytes.Contains(low, bytes.ToLower(form)) {
			t.Errorf("%s holds the document's plaintext (%q)", where, form)
		}
	}
	if bytes.Contains(raw, []byte(base64Of(marker)[:20])) {
		t.Errorf("%s holds the document's plaintext in base64", where)
	}
}

func TestVerification_EncryptedAtRestSQLite(t *testing.T) {
	e, dir := newSQLiteLevelEnv(t)
	reg := e.register(t, "")
	makeRegistrar(t, e.db, reg.id, true)
	m := e.register(t, "")
	fillProfile(t, e, m, "Lovelace")
	reqID := submit(t, e, m, secretDoc())

	// Every value of every table, read through database/sql.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tables, err := raw.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	if !slices.Contains(names, "documents") {
		t.Fatalf("tables %v: no documents table", names)
	}
	var all bytes.Buffer
	for _, n := range names {
		rows, err := raw.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatalf("read %s: %v", n, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					all.Write(x)
				case string:
					all.WriteString(x)
				}
				all.WriteByte(0)
			}
		}
		rows.Close()
	}
	var sealedLen int
	if err := raw.QueryRow(`SELECT length(sealed) FROM documents`).Scan(&sealedLen); err != nil || sealedLen <= len(secretDoc()) {
		t.Errorf("documents.sealed: got length %d (%v), want the sealed document", sealedLen, err)
	}
	wantNoPlaintext(t, "the SQLite tables", all.Bytes())
	// And the files themselves, write-ahead log included.
	files, _ := filepath.Glob(filepath.Join(dir, sqlite.FileName+"*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		wantNoPlaintext(t, f, b)
	}

	// Only a registrar's download decrypts it.
	a := e.request(t, "GET", "/v1/registrar/requests/"+reqID, reg.token, nil)
	var detail struct {
		Documents []struct {
			DocumentID string `json:"document_id"`
		} `json:"documents"`
	}
	a.decode(t, &detail)
	a = e.request(t, "GET", "/v1/registrar/documents/"+detail.Documents[0].DocumentID, reg.token, nil)
	wantStatus(t, a, http.StatusOK)
	if !bytes.Equal(a.Body, secretDoc()) {
		t.Errorf("download: got %d bytes, want the uploaded document", len(a.Body))
	}
}

func TestVerification_EncryptedAtRestPostgres(t *testing.T) {
	u := pgtest.URL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, u, postgres.Options{})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	e := newLevelEnv(t, db, nil)
	t.Cleanup(func() { db.Close() })
	m := e.register(t, "")
	fillProfile(t, e, m, "Lovelace")
	submit(t, e, m, secretDoc())

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if !slices.Contains(names, "documents") {
		t.Fatalf("tables %v: no documents table", names)
	}
	var all bytes.Buffer
	for _, n := range names {
		// Each row as text: bytea appears as hex, which wantNoPlaintext
		// looks for too.
		rows, err := conn.Query(ctx, `SELECT t::text FROM "`+n+`" t`)
		if err != nil {
			t.Fatalf("read %s: %v", n, err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			all.WriteString(s)
			all.WriteByte(0)
		}
		rows.Close()
	}
	var sealed []byte
	if err := conn.QueryRow(ctx, `SELECT sealed FROM documents`).Scan(&sealed); err != nil || len(sealed) <= len(secretDoc()) {
		t.Errorf("documents.sealed: got %d bytes (%v), want the sealed document", len(sealed), err)
	}
	wantNoPlaintext(t, "the PostgreSQL tables", all.Bytes())
	wantNoPlaintext(t, "documents.sealed", sealed)
}

func hexOf(s string) string    { return hex.EncodeToString([]byte(s)) }
func base64Of(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
