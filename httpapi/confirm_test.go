package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/otp"
	"github.com/coffer-money/coffer/sms"
	"github.com/coffer-money/coffer/sqlite"
)

// confirmEnv is an env whose server sends SMS into an outbox file.
type confirmEnv struct {
	*env
	outbox string
	mail   *mailRecorder
	scrape string // the metrics listener's URL, where there is one
	iss    *member
	issUSD string
}

func newConfirmEnv(t *testing.T) *confirmEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	metrics := httpapi.NewMetrics()
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	outbox := filepath.Join(dir, sms.OutboxFile)
	mails := &mailRecorder{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Mail: mails,
		Factors: app.FactorConfig{SMS: &sms.Outbox{Path: outbox}}})
	srv := httptest.NewServer(httpapi.New(svc, log, metrics, httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	e := &confirmEnv{env: &env{t: t, srv: srv, db: db, clock: clk}, outbox: outbox, mail: mails}
	e.iss, e.issUSD = e.issuer(t, "USD", 1_000_000_00)
	return e
}

// funded registers a member with a USD purse holding 100.00.
func (e *confirmEnv) funded(t *testing.T) (*member, string) {
	t.Helper()
	m := e.register(t, "")
	p := e.newPurse(t, m, "USD")
	e.send(t, e.iss, e.issUSD, p, "100.00")
	return m, p
}

type pendingJSON struct {
	Status         string   `json:"status"`
	TransferID     string   `json:"transfer_id"`
	ConfirmationID string   `json:"confirmation_id"`
	ChallengeID    string   `json:"challenge_id"`
	Method         string   `json:"method"`
	Methods        []string `json:"methods"`
	Challenge      string   `json:"challenge"`
	ExpiresAt      string   `json:"expires_at"`
}

// enrolTOTP enrols and activates a generator for m and returns its seed
// and the recovery codes.
func (e *confirmEnv) enrolTOTP(t *testing.T, m *member, hdr ...string) ([]byte, []string) {
	t.Helper()
	a := e.request(t, "POST", "/v1/security/totp", m.token, nil, hdr...)
	wantStatus(t, a, http.StatusCreated)
	var en struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
		QR     string `json:"qr_png"`
	}
	a.decode(t, &en)
	if !strings.HasPrefix(en.URI, "otpauth://totp/") || en.QR == "" {
		t.Fatalf("got enrolment %s, want an otpauth URI and a QR code", a)
	}
	seed, err := otp.DecodeSecret(en.Secret)
	if err != nil {
		t.Fatal(err)
	}
	a = e.request(t, "POST", "/v1/security/totp/verify", m.token, map[string]string{"code": e.totp(seed)})
	wantStatus(t, a, http.StatusOK)
	var v struct {
		Codes []string `json:"recovery_codes"`
	}
	a.decode(t, &v)
	e.clock.Advance(30 * time.Second) // the step used to verify is spent
	return seed, v.Codes
}

func (e *confirmEnv) totp(seed []byte) string {
	c, _ := otp.TOTP(otp.SHA1, seed, e.clock.Now(), 6)
	return c
}

func ocra(t *testing.T, seed []byte, challenge string) string {
	t.Helper()
	su, err := otp.ParseSuite(app.OCRASuite)
	if err != nil {
		t.Fatal(err)
	}
	a, err := su.Answer(seed, otp.Inputs{Question: challenge})
	if err != nil {
		t.Fatalf("OCRA answer to %q: %v", challenge, err)
	}
	return a
}

func (e *confirmEnv) lastSMS(t *testing.T) *sms.Message {
	t.Helper()
	m, err := sms.Last(e.outbox, "")
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return m
}

func smsCode(t *testing.T, m *sms.Message) string {
	t.Helper()
	for _, w := range strings.Fields(m.Text) {
		w = strings.TrimRight(w, ".,")
		if len(w) == 6 && strings.Trim(w, "0123456789") == "" {
			return w
		}
	}
	t.Fatalf("no code in SMS %q", m.Text)
	return ""
}

func TestConfirm_Bootstrap(t *testing.T) {
	e := newConfirmEnv(t)
	m, p := e.funded(t)
	a := e.request(t, "GET", "/v1/security/factors", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	if !strings.Contains(string(a.Body), `"bootstrap":true`) {
		t.Fatalf("got %s, want bootstrap true", a)
	}
	e.send(t, m, p, e.issUSD, "1.00") // no confirmation without a factor
}

func TestConfirm_TOTPLogin(t *testing.T) {
	e := newConfirmEnv(t)
	m, _ := e.funded(t)
	seed, codes := e.enrolTOTP(t, m)
	if len(codes) != 10 {
		t.Fatalf("got %d recovery codes, want 10", len(codes))
	}
	login := func() pendingJSON {
		a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword})
		wantStatus(t, a, http.StatusAccepted)
		var p pendingJSON
		a.decode(t, &p)
		if p.ChallengeID == "" || len(p.Methods) == 0 {
			t.Fatalf("got %s, want challenge_id and methods", a)
		}
		return p
	}
	p := login()
	code := e.totp(seed)
	a := e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": code})
	wantStatus(t, a, http.StatusCreated)

	t.Run("replay refused", func(t *testing.T) {
		p := login()
		a := e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": code})
		wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
	})
	t.Run("recovery code single use", func(t *testing.T) {
		p := login()
		a := e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": strings.ToUpper(codes[0])})
		wantStatus(t, a, http.StatusCreated)
		p = login()
		a = e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": codes[0]})
		wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
	})
}

func TestConfirm_TransferOCRA(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	_, to := e.funded(t)
	body := transferBody{TransferID: "pay-1", From: from, To: to, Amount: "12.50"}
	before := e.snapshot(t)
	a := e.request(t, "POST", "/v1/transfers", m.token, body)
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	if p.Status != "pending_confirmation" || p.Method != "ocra" || p.TransferID != "pay-1" || !strings.HasPrefix(p.Challenge, to+"/12.50USD/") {
		t.Fatalf("got %s, want a pending transfer with an OCRA challenge naming payee and amount", a)
	}
	a = e.request(t, "POST", "/v1/transfers", m.token, body)
	var again pendingJSON
	a.decode(t, &again)
	if a.Status != http.StatusAccepted || again.ConfirmationID != p.ConfirmationID {
		t.Fatalf("repeated POST: got %s, want the same 202", a)
	}
	other := body
	other.Amount = "99.00"
	wantProblem(t, e.request(t, "POST", "/v1/transfers", m.token, other), http.StatusConflict, "idempotency_conflict")

	// An answer for another amount or payee is worthless.
	for _, ch := range []string{strings.Replace(p.Challenge, "12.50", "99.00", 1), strings.Replace(p.Challenge, to, e.issUSD, 1)} {
		a = e.request(t, "POST", "/v1/transfers/pay-1/confirm", m.token, map[string]string{"code": ocra(t, seed, ch)})
		wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
	}
	// A TOTP code does not confirm a payment.
	wantProblem(t, e.request(t, "POST", "/v1/transfers/pay-1/confirm", m.token, map[string]string{"code": e.totp(seed)}),
		http.StatusUnauthorized, "confirmation_failed")
	wantUnchanged(t, before, e.snapshot(t))

	a = e.request(t, "POST", "/v1/transfers/pay-1/confirm", m.token, map[string]string{"code": ocra(t, seed, p.Challenge)})
	wantStatus(t, a, http.StatusCreated)
	a = e.request(t, "POST", "/v1/transfers/pay-1/confirm", m.token, map[string]string{"code": "whatever"})
	wantStatus(t, a, http.StatusOK)
	wantStatus(t, e.request(t, "POST", "/v1/transfers", m.token, body), http.StatusOK)
	if got := e.balance(t, m, from); got != "87.50" {
		t.Fatalf("got balance %s, want 87.50 (paid once)", got)
	}
}

func TestConfirm_SMS(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	a := e.request(t, "POST", "/v1/security/phone", m.token, map[string]string{"phone": "+14155550100"})
	wantStatus(t, a, http.StatusAccepted)
	a = e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": smsCode(t, e.lastSMS(t))})
	wantStatus(t, a, http.StatusOK)

	a = e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "sms-1", From: from, To: e.issUSD, Amount: "3.25"})
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	msg := e.lastSMS(t)
	if p.Method != "sms" || !strings.Contains(msg.Text, "3.25 USD") || !strings.Contains(msg.Text, e.issUSD) || msg.To != "+14155550100" {
		t.Fatalf("got %s and SMS %+v, want an SMS naming amount and payee", a, msg)
	}
	a = e.request(t, "POST", "/v1/transfers/sms-1/confirm", m.token, map[string]string{"code": smsCode(t, msg)})
	wantStatus(t, a, http.StatusCreated)
	if got := e.balance(t, m, from); got != "96.75" {
		t.Fatalf("got balance %s, want 96.75", got)
	}
}

func TestConfirm_Lockout(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	a := e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "lock-1", From: from, To: e.issUSD, Amount: "1.00"})
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	before := e.snapshot(t)
	// Wrong codes shaped like each factor's codes get the same answer.
	wrong := []string{"123456", "12345678", "abcde-fghij", "000000", "99999999"}
	var details []string
	for i, code := range wrong {
		a := e.request(t, "POST", "/v1/transfers/lock-1/confirm", m.token, map[string]string{"code": code})
		if i < len(wrong)-1 {
			pr := wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
			details = append(details, pr.Detail)
		} else {
			wantProblem(t, a, http.StatusGone, "confirmation_void")
		}
	}
	for i, d := range details {
		if want := strings.Replace(details[0], "4 attempts", "", 1); strings.Replace(d, []string{"4", "3", "2", "1"}[i]+" attempts", "", 1) != want {
			t.Errorf("wrong code %d: got detail %q, want the same as %q but for the count", i, d, details[0])
		}
	}
	a = e.request(t, "POST", "/v1/transfers/lock-1/confirm", m.token, map[string]string{"code": ocra(t, seed, p.Challenge)})
	wantProblem(t, a, http.StatusGone, "confirmation_void")
	wantUnchanged(t, before, e.snapshot(t))
	ev := e.request(t, "GET", "/v1/security/events", m.token, nil)
	if !strings.Contains(string(ev.Body), "confirmation.void") {
		t.Fatalf("security log lacks confirmation.void: %s", ev)
	}
}

func TestConfirm_Expiry(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	a := e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "exp-1", From: from, To: e.issUSD, Amount: "1.00"})
	var p pendingJSON
	a.decode(t, &p)
	before := e.snapshot(t)
	e.clock.Advance(6 * time.Minute)
	m.token = e.loginTOTP(t, m, seed)
	a = e.request(t, "POST", "/v1/transfers/exp-1/confirm", m.token, map[string]string{"code": ocra(t, seed, p.Challenge)})
	wantProblem(t, a, http.StatusGone, "confirmation_void")
	wantUnchanged(t, before, e.snapshot(t))
}

// loginTOTP logs in with password and a TOTP code of the next step.
func (e *confirmEnv) loginTOTP(t *testing.T, m *member, seed []byte) string {
	t.Helper()
	e.clock.Advance(30 * time.Second)
	a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword})
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	a = e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": e.totp(seed)})
	wantStatus(t, a, http.StatusCreated)
	var s struct {
		Token string `json:"token"`
	}
	a.decode(t, &s)
	return s.Token
}

func TestConfirm_ParallelConfirms(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	a := e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "par-1", From: from, To: e.issUSD, Amount: "10.00"})
	var p pendingJSON
	a.decode(t, &p)
	before := e.snapshot(t)
	answer := ocra(t, seed, p.Challenge)
	var wg sync.WaitGroup
	statuses := make([]int, 12)
	for i := range statuses {
		wg.Go(func() {
			a, err := e.tryRequest("POST", "/v1/transfers/par-1/confirm", m.token, map[string]string{"code": answer})
			if err != nil {
				t.Error(err)
			}
			statuses[i] = a.Status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("got status %d, want 201 or 200", s)
		}
	}
	after := e.snapshot(t)
	if created != 1 || after.Transfers != before.Transfers+1 {
		t.Fatalf("got %d created answers and %d new transfers, want exactly 1 each", created, after.Transfers-before.Transfers)
	}
	if got := e.balance(t, m, from); got != "90.00" {
		t.Fatalf("got balance %s, want 90.00", got)
	}
}

func TestConfirm_StepUp(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	never := map[string]any{"login": "password", "transfers": "never"}
	a := e.request(t, "PUT", "/v1/security/confirmation", m.token, never)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	var pr struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	a.decode(t, &pr)
	if pr.ConfirmationID == "" {
		t.Fatalf("got %s, want a confirmation_id", a)
	}
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, never, "Coffer-Confirmation", pr.ConfirmationID+":000000")
	wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, never, "Coffer-Confirmation", pr.ConfirmationID+":"+e.totp(seed))
	wantStatus(t, a, http.StatusOK)
	e.send(t, m, from, e.issUSD, "1.00") // confirmation is off now
	wantStatus(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}), http.StatusCreated)

	// Enrolling another generator needs a step-up too.
	wantProblem(t, e.request(t, "POST", "/v1/security/totp", m.token, nil), http.StatusForbidden, "confirmation_required")
}

func TestConfirm_OathtoolEnrol(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		missingTool(t, "oathtool is not installed; skipping the cross-check with an independent generator")
	}
	e := newConfirmEnv(t)
	m, _ := e.funded(t)
	a := e.request(t, "POST", "/v1/security/totp", m.token, nil)
	wantStatus(t, a, http.StatusCreated)
	var en struct {
		Secret string `json:"secret"`
	}
	a.decode(t, &en)
	out, err := exec.Command("oathtool", "--totp", "-b", en.Secret).Output()
	if err != nil {
		t.Fatal(err)
	}
	a = e.request(t, "POST", "/v1/security/totp/verify", m.token, map[string]string{"code": strings.TrimSpace(string(out))})
	wantStatus(t, a, http.StatusOK)
}

func TestConfirm_PendingValidates(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	e.enrolTOTP(t, m)
	other, otherPurse := e.funded(t)
	_ = other
	eur := e.newPurse(t, m, "EUR")
	for _, c := range []struct {
		body   transferBody
		status int
		code   string
	}{
		{transferBody{TransferID: "v1", From: otherPurse, To: from, Amount: "1.00"}, http.StatusForbidden, "forbidden"},
		{transferBody{TransferID: "v2", From: from, To: "Z000000000001", Amount: "1.00"}, http.StatusNotFound, "purse_not_found"},
		{transferBody{TransferID: "v3", From: from, To: eur, Amount: "1.00"}, http.StatusUnprocessableEntity, "currency_mismatch"},
		{transferBody{TransferID: "v4", From: from, To: from, Amount: "1.00"}, http.StatusBadRequest, "same_purse"},
		{transferBody{TransferID: "v5", From: from, To: otherPurse, Amount: "-1.00"}, http.StatusBadRequest, "invalid_amount"},
	} {
		wantProblem(t, e.request(t, "POST", "/v1/transfers", m.token, c.body), c.status, c.code)
	}
}

func TestConfirm_SignedTransfersExempt(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	sg := e.addKey(t, m, "shop") // bootstrap: no confirmation needed yet
	seed, _ := e.enrolTOTP(t, m)
	a := e.signedRequest(t, sg, "POST", "/v1/transfers", transferBody{TransferID: "signed-1", From: from, To: e.issUSD, Amount: "1.00"}, signOpts{})
	wantStatus(t, a, http.StatusCreated)
	a = e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "session-1", From: from, To: e.issUSD, Amount: "1.00"})
	wantStatus(t, a, http.StatusAccepted)

	// Adding another key now needs a step-up.
	second := map[string]string{"name": "second", "public_key": freshKey()}
	a = e.request(t, "POST", "/v1/keys", m.token, second)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	var pr struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	a.decode(t, &pr)
	a = e.request(t, "POST", "/v1/keys", m.token, second, "Coffer-Confirmation", pr.ConfirmationID+":"+e.totp(seed))
	wantStatus(t, a, http.StatusCreated)

	// A member may ask for confirmation of signed transfers too.
	e.clock.Advance(30 * time.Second)
	pol := map[string]any{"login": "second_factor", "transfers": "always", "confirm_signed": true}
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, pol)
	a.decode(t, &pr)
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, pol, "Coffer-Confirmation", pr.ConfirmationID+":"+e.totp(seed))
	wantStatus(t, a, http.StatusOK)
	a = e.signedRequest(t, sg, "POST", "/v1/transfers", transferBody{TransferID: "signed-2", From: from, To: e.issUSD, Amount: "1.00"}, signOpts{})
	wantStatus(t, a, http.StatusAccepted)
}

// TestConfirm_SMSLoginAndResend covers the SMS factor end to end: login
// challenge, a resent transfer code, and wrong-code answers that read the
// same as those of a generator member.
func TestConfirm_SMSLoginAndResend(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	wantStatus(t, e.request(t, "POST", "/v1/security/phone", m.token, map[string]string{"phone": "+14155550111"}), http.StatusAccepted)
	wantProblem(t, e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": "000000"}), http.StatusUnauthorized, "confirmation_failed")
	wantStatus(t, e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": smsCode(t, e.lastSMS(t))}), http.StatusOK)

	a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword})
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	if p.Method != "sms" {
		t.Fatalf("got %s, want method sms", a)
	}
	code := smsCode(t, e.lastSMS(t))
	wantStatus(t, e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": code}), http.StatusCreated)
	wantProblem(t, e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": code}), http.StatusGone, "confirmation_void")

	body := transferBody{TransferID: "resend-1", From: from, To: e.issUSD, Amount: "2.00"}
	wantStatus(t, e.request(t, "POST", "/v1/transfers", m.token, body), http.StatusAccepted)
	first := smsCode(t, e.lastSMS(t))
	wantStatus(t, e.request(t, "POST", "/v1/transfers", m.token, body), http.StatusAccepted)
	if got := smsCode(t, e.lastSMS(t)); got != first {
		t.Fatal("a repeated POST sent a new SMS")
	}
	wantStatus(t, e.request(t, "POST", "/v1/transfers?resend=true", m.token, body), http.StatusAccepted)
	second := smsCode(t, e.lastSMS(t))
	pr := wantProblem(t, e.request(t, "POST", "/v1/transfers/resend-1/confirm", m.token, map[string]string{"code": "12345678"}), http.StatusUnauthorized, "confirmation_failed")
	if first != second {
		wantProblem(t, e.request(t, "POST", "/v1/transfers/resend-1/confirm", m.token, map[string]string{"code": first}), http.StatusUnauthorized, "confirmation_failed")
	}
	wantStatus(t, e.request(t, "POST", "/v1/transfers/resend-1/confirm", m.token, map[string]string{"code": second}), http.StatusCreated)

	// A generator member's first wrong code reads exactly the same.
	g, gFrom := e.funded(t)
	e.enrolTOTP(t, g)
	wantStatus(t, e.request(t, "POST", "/v1/transfers", g.token, transferBody{TransferID: "g-1", From: gFrom, To: e.issUSD, Amount: "2.00"}), http.StatusAccepted)
	gp := wantProblem(t, e.request(t, "POST", "/v1/transfers/g-1/confirm", g.token, map[string]string{"code": "123456"}), http.StatusUnauthorized, "confirmation_failed")
	if gp != pr {
		t.Fatalf("wrong code answers differ by factor: %+v vs %+v", gp, pr)
	}
}

func TestConfirm_ExpiredThenNew(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	seed, _ := e.enrolTOTP(t, m)
	body := transferBody{TransferID: "again-1", From: from, To: e.issUSD, Amount: "5.00"}
	var p1, p2 pendingJSON
	e.request(t, "POST", "/v1/transfers", m.token, body).decode(t, &p1)
	e.clock.Advance(6 * time.Minute)
	m.token = e.loginTOTP(t, m, seed)
	a := e.request(t, "POST", "/v1/transfers", m.token, body)
	wantStatus(t, a, http.StatusAccepted)
	a.decode(t, &p2)
	if p1.ConfirmationID == p2.ConfirmationID || p1.Challenge == p2.Challenge {
		t.Fatalf("after expiry: got the same confirmation %s again", p2.ConfirmationID)
	}
	wantStatus(t, e.request(t, "POST", "/v1/transfers/again-1/confirm", m.token, map[string]string{"code": ocra(t, seed, p2.Challenge)}), http.StatusCreated)
	if got := e.balance(t, m, from); got != "95.00" {
		t.Fatalf("got balance %s, want 95.00", got)
	}
}

func TestConfirm_StepUpRemove(t *testing.T) {
	e := newConfirmEnv(t)
	m, _ := e.funded(t)
	_, codes := e.enrolTOTP(t, m)
	a := e.request(t, "DELETE", "/v1/security/totp", m.token, nil)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	var pr struct {
		ConfirmationID string   `json:"confirmation_id"`
		Methods        []string `json:"methods"`
	}
	a.decode(t, &pr)
	a = e.request(t, "DELETE", "/v1/security/totp", m.token, nil, "Coffer-Confirmation", pr.ConfirmationID+":"+codes[1])
	wantStatus(t, a, http.StatusNoContent)
	a = e.request(t, "GET", "/v1/security/factors", m.token, nil)
	if !strings.Contains(string(a.Body), `"bootstrap":true`) || !strings.Contains(string(a.Body), `"recovery_codes_left":9`) {
		t.Fatalf("got %s, want bootstrap again with 9 recovery codes left", a)
	}
}
