package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sms"
	"github.com/coffer-money/coffer/sqlite"
	"net/http/httptest"
)

// newSMSEnv is newConfirmEnv with the given SMS limits and the SMS
// outcomes counted in the server's metrics, as cofferd serve wires them.
func newSMSEnv(t *testing.T, limits app.SMSLimits) *confirmEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	metrics := httpapi.NewMetrics()
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	outbox := filepath.Join(dir, sms.OutboxFile)
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now,
		Factors: app.FactorConfig{SMS: &sms.Outbox{Path: outbox}, SMSLimits: limits, SMSObserver: metrics.SMS}})
	srv := httptest.NewServer(httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true}))
	scrape := httptest.NewServer(metrics.Handler()) // the metrics listener of cofferd serve
	t.Cleanup(func() {
		scrape.Close()
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &confirmEnv{env: &env{t: t, srv: srv, db: db, clock: clk}, outbox: outbox, scrape: scrape.URL}
}

// smsCount is the coffer_sms_total of outcome in the server's metrics.
func (e *confirmEnv) smsCount(t *testing.T, outcome string) int {
	t.Helper()
	resp, err := e.srv.Client().Get(e.scrape + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^coffer_sms_total\{outcome="` + regexp.QuoteMeta(outcome) + `"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// wantSMSLimited checks a 429 rate_limited answer with a Retry-After of
// at most max.
func wantSMSLimited(t *testing.T, a answer, max time.Duration) {
	t.Helper()
	wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
	secs, err := strconv.Atoi(a.Header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > max+time.Second {
		t.Errorf("got Retry-After %q, want 1s to %v", a.Header.Get("Retry-After"), max)
	}
}

// idle lets d pass while m's session stays in use.
func (e *confirmEnv) idle(t *testing.T, m *member, d time.Duration) {
	t.Helper()
	for ; d > 0; d -= 10 * time.Minute {
		e.clock.Advance(min(d, 10*time.Minute))
		wantStatus(t, e.request(t, "GET", "/v1/purses", m.token, nil), http.StatusOK)
	}
}

func addPhone(e *confirmEnv, t *testing.T, m *member, phone string) answer {
	t.Helper()
	return e.request(t, "POST", "/v1/security/phone", m.token, map[string]string{"phone": phone})
}

// TestSMS_PerMemberLimit: a member may not make the server text numbers
// without end. Ten enrolment SMS to ten numbers in an hour go out; the
// eleventh is refused with 429 and Retry-After, sends nothing, and is
// counted as refused; an hour later the member may again.
func TestSMS_PerMemberLimit(t *testing.T) {
	e := newSMSEnv(t, app.SMSLimits{})
	m := e.register(t, "")
	for i := range 10 {
		wantStatus(t, addPhone(e, t, m, fmt.Sprintf("+1415555%04d", 100+i)), http.StatusAccepted)
		e.clock.Advance(time.Minute)
	}
	last := e.lastSMS(t)
	wantSMSLimited(t, addPhone(e, t, m, "+14155550999"), time.Hour)
	if got := e.lastSMS(t); got.To != last.To || got.Text != last.Text {
		t.Fatalf("a refused request sent an SMS to %s", got.To)
	}
	if n := e.smsCount(t, app.SMSSent); n != 10 {
		t.Errorf("coffer_sms_total{outcome=sent} = %d, want 10", n)
	}
	if n := e.smsCount(t, app.SMSLimitMember); n != 1 {
		t.Errorf("coffer_sms_total{outcome=limit_member} = %d, want 1", n)
	}
	// The window slides: once the first SMS is an hour old, one more.
	e.idle(t, m, 50*time.Minute)
	wantStatus(t, addPhone(e, t, m, "+14155550999"), http.StatusAccepted)
	wantSMSLimited(t, addPhone(e, t, m, "+14155550998"), time.Hour)
}

// TestSMS_PerNumberLimit: one number receives at most five enrolment SMS
// an hour, however many members ask for them; and strangers enrolling the
// number of a member who verified it do not stop that member's own codes.
func TestSMS_PerNumberLimit(t *testing.T) {
	e := newSMSEnv(t, app.SMSLimits{})
	e.iss, e.issUSD = e.issuer(t, "USD", 1_000_000_00)
	owner, from := e.funded(t)
	const number = "+14155550123"
	wantStatus(t, addPhone(e, t, owner, number), http.StatusAccepted)
	wantStatus(t, e.request(t, "POST", "/v1/security/phone/verify", owner.token, map[string]string{"code": smsCode(t, e.lastSMS(t))}), http.StatusOK)
	a, b := e.register(t, ""), e.register(t, "")
	for range 3 {
		wantStatus(t, addPhone(e, t, a, number), http.StatusAccepted)
	}
	wantStatus(t, addPhone(e, t, b, number), http.StatusAccepted)
	wantSMSLimited(t, addPhone(e, t, b, number), time.Hour)
	wantSMSLimited(t, addPhone(e, t, a, "+1 (415) 555-0123"), time.Hour) // the same number, spelt otherwise
	// Other numbers are not held by it.
	wantStatus(t, addPhone(e, t, b, "+14155550124"), http.StatusAccepted)
	if n := e.smsCount(t, app.SMSLimitNumber); n != 2 {
		t.Errorf("coffer_sms_total{outcome=limit_number} = %d, want 2", n)
	}
	// The owner's transfer codes still reach the number.
	for i := range 3 {
		body := transferBody{TransferID: fmt.Sprint("own-", i), From: from, To: e.issUSD, Amount: "1.00"}
		wantStatus(t, e.request(t, "POST", "/v1/transfers", owner.token, body), http.StatusAccepted)
		if got := e.lastSMS(t); got.To != number || smsCode(t, got) == "" {
			t.Fatalf("transfer %d: last SMS %+v, want a code to the owner's phone", i, got)
		}
	}
}

// TestSMS_PerAddressLimit: members registered in bulk from one address
// share that address's budget.
func TestSMS_PerAddressLimit(t *testing.T) {
	e := newSMSEnv(t, app.SMSLimits{PerIPHour: 4})
	for i := range 4 {
		m := e.register(t, "")
		wantStatus(t, addPhone(e, t, m, fmt.Sprintf("+1415555%04d", 200+i)), http.StatusAccepted)
	}
	m := e.register(t, "")
	wantSMSLimited(t, addPhone(e, t, m, "+14155550300"), time.Hour)
	// The same member from another address is not held by it.
	wantStatus(t, e.requestFrom(t, "127.0.0.5", "POST", "/v1/security/phone", m.token, map[string]string{"phone": "+14155550300"}), http.StatusAccepted)
	if n := e.smsCount(t, app.SMSLimitAddress); n != 1 {
		t.Errorf("coffer_sms_total{outcome=limit_address} = %d, want 1", n)
	}
}

// TestSMS_DailyCap: the server sends at most PerDay SMS in any 24 hours,
// whoever asks, resends of a transfer's code included; enrolments, which
// anyone may ask for, take at most half of it, so that members' codes to
// their verified phones still go out.
func TestSMS_DailyCap(t *testing.T) {
	e := newSMSEnv(t, app.SMSLimits{PerDay: 6, YoungPhone: time.Nanosecond}) // see TestSMS_YoungPhones
	e.iss, e.issUSD = e.issuer(t, "USD", 1_000_000_00)
	m, from := e.funded(t)
	wantStatus(t, addPhone(e, t, m, "+14155550111"), http.StatusAccepted) // SMS 1, enrolment 1
	wantStatus(t, e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": smsCode(t, e.lastSMS(t))}), http.StatusOK)
	for i := range 2 {
		wantStatus(t, addPhone(e, t, e.register(t, ""), fmt.Sprintf("+1415555%04d", 200+i)), http.StatusAccepted) // enrolments 2 and 3
	}
	late := e.register(t, "")
	wantSMSLimited(t, addPhone(e, t, late, "+14155550333"), 24*time.Hour) // enrolments are at half the cap
	body := transferBody{TransferID: "cap-1", From: from, To: e.issUSD, Amount: "2.00"}
	wantStatus(t, e.request(t, "POST", "/v1/transfers", m.token, body), http.StatusAccepted)             // SMS 4
	wantStatus(t, e.request(t, "POST", "/v1/transfers?resend=true", m.token, body), http.StatusAccepted) // SMS 5
	e.idle(t, m, 2*time.Hour)                                                                            // past every hourly limit
	wantStatus(t, e.request(t, "POST", "/v1/transfers?resend=true", m.token, body), http.StatusAccepted) // SMS 6
	wantSMSLimited(t, e.request(t, "POST", "/v1/transfers?resend=true", m.token, body), 24*time.Hour)
	if n := e.smsCount(t, app.SMSLimitPerDay); n != 2 {
		t.Errorf("coffer_sms_total{outcome=limit_day} = %d, want 2", n)
	}
	if n := e.smsCount(t, app.SMSSent); n != 6 {
		t.Errorf("coffer_sms_total{outcome=sent} = %d, want 6", n)
	}
	e.clock.Advance(22 * time.Hour)
	late.token = e.login(t, late.id, testPassword)
	wantStatus(t, addPhone(e, t, late, "+14155550333"), http.StatusAccepted)
}

// TestSMS_YoungPhones: codes to a phone verified in the last week share the
// half of the daily cap that enrolments have, so throwaway accounts that
// verify numbers of their own cannot spend the whole day's SMS; a member
// whose phone is older still gets codes.
func TestSMS_YoungPhones(t *testing.T) {
	e := newSMSEnv(t, app.SMSLimits{PerDay: 10, PerMemberHour: 100, PerNumberHour: 100, PerIPHour: 100})
	verified := func(m *member, phone string) {
		t.Helper()
		wantStatus(t, addPhone(e, t, m, phone), http.StatusAccepted)
		wantStatus(t, e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": smsCode(t, e.lastSMS(t))}), http.StatusOK)
	}
	stepUp := func(m *member, i int) answer {
		return e.request(t, "PUT", "/v1/security/confirmation", m.token, map[string]any{"login": "second_factor", "transfers": "above", "threshold": fmt.Sprintf("%d.00", i+1)})
	}
	old := e.register(t, "")
	verified(old, "+14155550401")
	// The phone is old now, and the day's count empty; the login sends SMS 1.
	e.clock.Advance(8 * 24 * time.Hour)
	a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": old.id, "password": testPassword})
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	a = e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": smsCode(t, e.lastSMS(t))})
	wantStatus(t, a, http.StatusCreated)
	var sess struct {
		Token string `json:"token"`
	}
	a.decode(t, &sess)
	old.token = sess.Token

	young := e.register(t, "")
	verified(young, "+14155550402") // SMS 2, the first of the enrolments' half (5)
	for i := range 4 {
		wantProblem(t, stepUp(young, i), http.StatusForbidden, "confirmation_required") // SMS 3 to 6
	}
	wantSMSLimited(t, stepUp(young, 9), 24*time.Hour)
	for i := range 4 {
		wantProblem(t, stepUp(old, i), http.StatusForbidden, "confirmation_required") // SMS 7 to 10
	}
	wantSMSLimited(t, stepUp(old, 9), 24*time.Hour)
}
