package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer/mail"
)

// mailRecorder keeps the e-mails the server sends.
type mailRecorder struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (r *mailRecorder) Enqueue(m mail.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return true
}

func (r *mailRecorder) find(to, subject string) *mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].To == to && strings.Contains(r.msgs[i].Subject, subject) {
			return &r.msgs[i]
		}
	}
	return nil
}

// retryAfter is an answer's Retry-After in seconds; it fails the test when
// the header is missing.
func retryAfter(t *testing.T, a answer) int {
	t.Helper()
	secs, err := strconv.Atoi(a.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		t.Fatalf("got %s with Retry-After %q, want a positive number of seconds", a, a.Header.Get("Retry-After"))
	}
	return secs
}

// TestCodeBudget_GuessesAcrossFreshConfirmations is the thief with a stolen
// session: every confirmation allows a few wrong codes, so they ask for a
// fresh one after each guess. The member's budget stops them after 10
// wrong codes whatever the confirmation, the right code is refused until
// the lock ends, the lock is in the security log and mailed, and a second
// lock lasts twice as long.
func TestCodeBudget_GuessesAcrossFreshConfirmations(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "thief-target@example.org")
	seed, _ := e.enrolTOTP(t, m)
	never := map[string]any{"login": "password", "transfers": "never"}
	stepUp := func() answer { return e.request(t, "PUT", "/v1/security/confirmation", m.token, never) }
	confirmationID := func(a answer) string {
		var pr struct {
			ConfirmationID string `json:"confirmation_id"`
		}
		a.decode(t, &pr)
		return pr.ConfirmationID
	}
	// A confirmation asked for before the guessing, to try the right code
	// on during the lock.
	a := e.request(t, "POST", "/v1/security/recovery-codes", m.token, nil)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	kept := confirmationID(a)

	compared, locked := 0, 0
	for i := range 1000 {
		a := stepUp()
		if a.Status == http.StatusTooManyRequests {
			wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
			retryAfter(t, a)
			locked++
			continue
		}
		wantProblem(t, a, http.StatusForbidden, "confirmation_required")
		guess := fmt.Sprintf("%06d", (i*7919)%1000000)
		if guess == e.totp(seed) {
			guess = "abcdef"
		}
		a = e.request(t, "PUT", "/v1/security/confirmation", m.token, never, "Coffer-Confirmation", confirmationID(a)+":"+guess)
		switch a.Status {
		case http.StatusOK:
			t.Fatalf("guess %d changed the policy: %s", i, a)
		case http.StatusUnauthorized:
			compared++
		case http.StatusTooManyRequests:
			compared++
			retryAfter(t, a)
		default:
			t.Fatalf("guess %d: got %s, want 401 or 429", i, a)
		}
	}
	if compared != 10 || locked != 1000-10 {
		t.Fatalf("got %d codes compared and %d requests locked out, want 10 and 990", compared, locked)
	}

	// The right code, on a live confirmation, is refused during the lock.
	e.clock.Advance(time.Minute)
	a = e.request(t, "POST", "/v1/security/recovery-codes", m.token, nil, "Coffer-Confirmation", kept+":"+e.totp(seed))
	wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
	if secs := retryAfter(t, a); secs > 15*60 || secs < 13*60 {
		t.Errorf("got Retry-After %d s one minute into the first lock, want about 14 minutes", secs)
	}
	// So is a login: its challenge could not be answered.
	wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}),
		http.StatusTooManyRequests, "rate_limited")
	a = e.request(t, "GET", "/v1/security/confirmation", m.token, nil)
	if !strings.Contains(string(a.Body), `"transfers":"always"`) {
		t.Fatalf("policy after the guesses: %s, want it unchanged", a)
	}
	ev := e.request(t, "GET", "/v1/security/events", m.token, nil)
	if !strings.Contains(string(ev.Body), "codes.locked") {
		t.Fatalf("security log lacks codes.locked: %s", ev)
	}
	if e.mail.find("thief-target@example.org", "locked") == nil {
		t.Fatal("no e-mail told the member that code entry was locked")
	}

	// After the lock the member gets in with the right code.
	e.clock.Advance(15 * time.Minute)
	a = stepUp()
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, never, "Coffer-Confirmation", confirmationID(a)+":"+e.totp(seed))
	wantStatus(t, a, http.StatusOK)

	// A second lock within a day lasts twice as long.
	e.clock.Advance(30 * time.Second)
	back := map[string]any{"login": "second_factor", "transfers": "always"}
	for i := range 10 {
		a := e.request(t, "PUT", "/v1/security/confirmation", m.token, back)
		wantProblem(t, a, http.StatusForbidden, "confirmation_required")
		a = e.request(t, "PUT", "/v1/security/confirmation", m.token, back, "Coffer-Confirmation", confirmationID(a)+":abcdef")
		if i < 9 {
			wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
			continue
		}
		wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
		if secs := retryAfter(t, a); secs < 29*60 || secs > 31*60 {
			t.Errorf("second lock: got Retry-After %d s, want about 30 minutes", secs)
		}
	}
}

// TestCodeBudget_LoginChallenges: each password login makes a fresh
// challenge with its own tries, but wrong codes across challenges share the
// member's budget, and a correct password does not refill it. Wrong codes
// also count in the member's login throttle, so the guesser waits between
// logins as well.
func TestCodeBudget_LoginChallenges(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	seed, _ := e.enrolTOTP(t, m)
	login := func() pendingJSON {
		t.Helper()
		// Past the login throttle's short lock that the wrong codes set.
		e.clock.Advance(70 * time.Second)
		a := e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword})
		wantStatus(t, a, http.StatusAccepted)
		var p pendingJSON
		a.decode(t, &p)
		return p
	}
	var kept pendingJSON
	for i := range 10 {
		p := login()
		if i == 9 {
			kept = login() // live when the lock falls
		}
		a := e.request(t, "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": "abc-def"})
		if i < 9 {
			wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
		} else {
			wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
		}
	}
	a := e.request(t, "POST", "/v1/sessions/"+kept.ChallengeID+"/confirm", "", map[string]string{"code": e.totp(seed)})
	wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
	e.clock.Advance(2 * time.Minute)
	wantProblem(t, e.request(t, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": testPassword}),
		http.StatusTooManyRequests, "rate_limited")

	e.clock.Advance(16 * time.Minute)
	m.token = e.loginTOTP(t, m, seed)
}

// TestCodeBudget_ConfirmationsRateLimited: asking for confirmations
// without answering them (each may send an SMS) is limited per member.
func TestCodeBudget_ConfirmationsRateLimited(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	e.enrolTOTP(t, m)
	never := map[string]any{"login": "password", "transfers": "never"}
	limited := 0
	for range 40 {
		a := e.request(t, "PUT", "/v1/security/confirmation", m.token, never)
		if a.Status == http.StatusTooManyRequests {
			retryAfter(t, a)
			limited++
			continue
		}
		wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	}
	if limited == 0 || limited > 15 {
		t.Fatalf("got %d of 40 confirmations refused, want the ones past the budget (about 11)", limited)
	}
}

// TestStepUp_BoundToChange: a step-up code confirms the change it was
// asked for, named in the SMS, and nothing else.
func TestStepUp_BoundToChange(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	a := e.request(t, "POST", "/v1/security/phone", m.token, map[string]string{"phone": "+14155550123"})
	wantStatus(t, a, http.StatusAccepted)
	wantStatus(t, e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": smsCode(t, e.lastSMS(t))}), http.StatusOK)

	payees := map[string]any{"login": "second_factor", "transfers": "new_payee"}
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, payees)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	var pr struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	a.decode(t, &pr)
	msg := e.lastSMS(t)
	if !strings.Contains(msg.Text, "transfers new_payee") {
		t.Fatalf("got SMS %q, want it to name the change (transfers new_payee)", msg.Text)
	}
	code := smsCode(t, msg)

	// The thief swaps in another change under the member's code.
	never := map[string]any{"login": "password", "transfers": "never"}
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, never, "Coffer-Confirmation", pr.ConfirmationID+":"+code)
	wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
	a = e.request(t, "GET", "/v1/security/confirmation", m.token, nil)
	if !strings.Contains(string(a.Body), `"transfers":"always"`) {
		t.Fatalf("policy after a swapped change: %s, want it unchanged", a)
	}
	// The code still confirms the change it was given for.
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, payees, "Coffer-Confirmation", pr.ConfirmationID+":"+code)
	wantStatus(t, a, http.StatusOK)
}

// TestConfirm_RefusedBeforeAnyCode: a transfer the ledger would refuse is
// refused before a confirmation is made or an SMS is sent.
func TestConfirm_RefusedBeforeAnyCode(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	a := e.request(t, "POST", "/v1/security/phone", m.token, map[string]string{"phone": "+14155550124"})
	wantStatus(t, a, http.StatusAccepted)
	wantStatus(t, e.request(t, "POST", "/v1/security/phone/verify", m.token, map[string]string{"code": smsCode(t, e.lastSMS(t))}), http.StatusOK)
	sent := e.lastSMS(t)

	wantProblem(t, e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "big-1", From: from, To: e.issUSD, Amount: "100.01"}),
		http.StatusUnprocessableEntity, "insufficient_funds")
	wantStatus(t, e.request(t, "PUT", "/v1/purses/"+from+"/limits", m.token, map[string]string{"per_transfer": "10.00"}), http.StatusOK)
	wantProblem(t, e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "big-2", From: from, To: e.issUSD, Amount: "10.01"}),
		http.StatusUnprocessableEntity, "limit_exceeded")
	if last := e.lastSMS(t); *last != *sent {
		t.Fatalf("an SMS was sent for a refused transfer: %+v", last)
	}
	// Within the limit it waits for the code as before.
	wantStatus(t, e.request(t, "POST", "/v1/transfers", m.token, transferBody{TransferID: "ok-1", From: from, To: e.issUSD, Amount: "10.00"}),
		http.StatusAccepted)
}

// TestConfirm_RefusedByLedgerNeedsNewConfirmation: a confirmed transfer the
// ledger then refused must be confirmed again once the cause is gone; the
// old code must not carry it through later.
func TestConfirm_RefusedByLedgerNeedsNewConfirmation(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	sg := e.addKey(t, m, "shop") // signed transfers need no confirmation
	seed, _ := e.enrolTOTP(t, m)
	body := transferBody{TransferID: "late-1", From: from, To: e.issUSD, Amount: "60.00"}
	a := e.request(t, "POST", "/v1/transfers", m.token, body)
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	// Meanwhile the money goes elsewhere.
	wantStatus(t, e.signedRequest(t, sg, "POST", "/v1/transfers", transferBody{TransferID: "drain", From: from, To: e.issUSD, Amount: "50.00"}, signOpts{}),
		http.StatusCreated)
	a = e.request(t, "POST", "/v1/transfers/late-1/confirm", m.token, map[string]string{"code": ocra(t, seed, p.Challenge)})
	wantProblem(t, a, http.StatusUnprocessableEntity, "insufficient_funds")

	e.send(t, e.iss, e.issUSD, from, "100.00")
	before := e.snapshot(t)
	a = e.request(t, "POST", "/v1/transfers", m.token, body)
	wantStatus(t, a, http.StatusAccepted)
	a = e.request(t, "POST", "/v1/transfers/late-1/confirm", m.token, map[string]string{"code": ocra(t, seed, p.Challenge)})
	wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
	wantUnchanged(t, before, e.snapshot(t))
}

// TestCodeBudget_ReleaseCodes: a payee guessing protection codes gets 8
// tries per transfer, but across many held transfers the payee's budget
// locks them out, right code included.
func TestCodeBudget_ReleaseCodes(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "100.00")
	b, bUSD := e.funded(t, "0.01")
	for _, id := range []string{"h1", "h2"} {
		wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody(id, aUSD, bUSD, "10.00", "right-"+id, 5)), http.StatusCreated)
	}
	for i := range 8 {
		wantProblem(t, e.request(t, "POST", "/v1/transfers/h1/release", b.token, map[string]string{"from": aUSD, "code": fmt.Sprintf("guess%d", i)}),
			http.StatusUnprocessableEntity, "wrong_protection_code")
	}
	wantProblem(t, e.request(t, "POST", "/v1/transfers/h2/release", b.token, map[string]string{"from": aUSD, "code": "guess8"}),
		http.StatusUnprocessableEntity, "wrong_protection_code")
	a10 := e.request(t, "POST", "/v1/transfers/h2/release", b.token, map[string]string{"from": aUSD, "code": "guess9"})
	wantProblem(t, a10, http.StatusTooManyRequests, "rate_limited")
	retryAfter(t, a10)
	wantProblem(t, e.request(t, "POST", "/v1/transfers/h2/release", b.token, map[string]string{"from": aUSD, "code": "right-h2"}),
		http.StatusTooManyRequests, "rate_limited")
	wantMoney(t, e, b, bUSD, "0.01", "10.00")
	e.clock.Advance(16 * time.Minute)
	wantStatus(t, e.request(t, "POST", "/v1/transfers/h2/release", b.token, map[string]string{"from": aUSD, "code": "right-h2"}), http.StatusOK)
	wantMoney(t, e, b, bUSD, "10.01", "0.00")
}

// TestConfirm_TrustDebitNoBalanceOracle: a merchant whose own transfers
// need a code must not learn the owner's balance from the early refusal of
// trust debits (202 for what the balance covers, 422 above it).
func TestConfirm_TrustDebitNoBalanceOracle(t *testing.T) {
	e := newConfirmEnv(t)
	owner := e.register(t, "")
	ownerUSD := e.newPurse(t, owner, "USD")
	e.send(t, e.iss, e.issUSD, ownerUSD, "43.21")
	merchant := e.register(t, "")
	shop := e.newPurse(t, merchant, "USD")
	a := e.request(t, "POST", "/v1/trusts", owner.token, map[string]string{"merchant": merchant.id, "purse": ownerUSD})
	wantStatus(t, a, http.StatusCreated)
	id, _ := obj(t, a)["trust_id"].(string)
	e.enrolTOTP(t, merchant)
	before := e.snapshot(t)
	for i, amount := range []string{"1.00", "43.21", "43.22", "9999.00"} {
		a := e.request(t, "POST", "/v1/transfers", merchant.token, map[string]string{"transfer_id": fmt.Sprintf("probe-%d", i),
			"from": ownerUSD, "to": shop, "amount": amount, "trust_id": id})
		wantStatus(t, a, http.StatusAccepted)
	}
	wantUnchanged(t, before, e.snapshot(t))
}

// TestCodeBudget_ParallelBurst: a thief with a stolen session sends
// everything at once. Each code takes its place in the budget before it
// is compared, and each confirmation before it is made, so a burst gets
// no further than the same requests one after another.
func TestCodeBudget_ParallelBurst(t *testing.T) {
	e := newConfirmEnv(t)
	m, from := e.funded(t)
	e.enrolTOTP(t, m)
	var mu sync.Mutex
	var wg sync.WaitGroup
	created := 0
	for i := range 80 {
		wg.Go(func() {
			a, err := e.tryRequest("POST", "/v1/transfers", m.token, transferBody{TransferID: fmt.Sprintf("g-%d", i), From: from, To: e.issUSD, Amount: "1.00"})
			if err == nil && a.Status == http.StatusAccepted {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created > 30 {
		t.Errorf("%d confirmations made by 80 parallel requests, want at most 30", created)
	}
	answers := map[int]int{}
	for i := range 80 {
		for j := range 5 {
			wg.Go(func() {
				a, err := e.tryRequest("POST", fmt.Sprintf("/v1/transfers/g-%d/confirm", i), m.token, map[string]string{"code": fmt.Sprintf("%08d", i*10+j)})
				if err != nil {
					return
				}
				mu.Lock()
				answers[a.Status]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	// 401 and 410 are codes that were compared; the one that spends the
	// budget answers 429 like the refused ones.
	if compared := answers[http.StatusUnauthorized] + answers[http.StatusGone]; compared > 9 {
		t.Errorf("answers %v: %d wrong codes compared before the lock, want at most 9 (and the 10th locks)", answers, compared)
	}
	if answers[http.StatusCreated] != 0 || answers[http.StatusOK] != 0 {
		t.Fatalf("answers %v: a guess confirmed a transfer", answers)
	}
	ev := e.request(t, "GET", "/v1/security/events", m.token, nil)
	if n := strings.Count(string(ev.Body), `"codes.locked"`); n != 1 {
		t.Errorf("security log has %d codes.locked events after one burst, want 1", n)
	}
}

// TestCodeBudget_ThiefElsewhereOwnerAtHome: codes typed from addresses the
// member never logged in from spend a budget of their own, so a thief with
// a stolen session who locks it does not lock the owner out at home.
func TestCodeBudget_ThiefElsewhereOwnerAtHome(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	seed, _ := e.enrolTOTP(t, m)
	m.token = e.loginTOTP(t, m, seed) // 127.0.0.1 is known from now on
	never := map[string]any{"login": "password", "transfers": "never"}
	const thief = "127.0.0.9"
	confirmationID := func(a answer) string {
		var pr struct {
			ConfirmationID string `json:"confirmation_id"`
		}
		a.decode(t, &pr)
		return pr.ConfirmationID
	}
	for i := range 10 {
		a := e.requestFrom(t, thief, "PUT", "/v1/security/confirmation", m.token, never)
		wantProblem(t, a, http.StatusForbidden, "confirmation_required")
		id := confirmationID(a)
		a = e.requestFrom(t, thief, "PUT", "/v1/security/confirmation", m.token, never, "Coffer-Confirmation", id+":000000")
		if i < 9 {
			wantProblem(t, a, http.StatusUnauthorized, "confirmation_failed")
		} else {
			wantProblem(t, a, http.StatusTooManyRequests, "rate_limited")
		}
	}
	wantProblem(t, e.requestFrom(t, thief, "PUT", "/v1/security/confirmation", m.token, never), http.StatusTooManyRequests, "rate_limited")

	// The owner, at the address they log in from, confirms with the right code.
	e.clock.Advance(30 * time.Second)
	back := map[string]any{"login": "second_factor", "transfers": "new_payee"}
	a := e.request(t, "PUT", "/v1/security/confirmation", m.token, back)
	wantProblem(t, a, http.StatusForbidden, "confirmation_required")
	a = e.request(t, "PUT", "/v1/security/confirmation", m.token, back, "Coffer-Confirmation", confirmationID(a)+":"+e.totp(seed))
	wantStatus(t, a, http.StatusOK)
}

// TestLogin_SecondFactorPassesStrangersFailures: a stranger who keeps the
// budget across addresses spent (a guess now and then from ever new
// addresses) does not keep a member with a second factor out: from a new
// address the right password goes on to the second factor. A wrong one
// gets a challenge too, which no code answers, so the answer says nothing
// about the password and spends none of the member's code budget.
func TestLogin_SecondFactorPassesStrangersFailures(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	seed, _ := e.enrolTOTP(t, m)
	login := func(ip, password string) answer {
		return e.requestFrom(t, ip, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": password})
	}
	for i := range 25 {
		a := login(fmt.Sprintf("127.0.2.%d", i+1), fmt.Sprintf("guess %d", i))
		if a.Status != http.StatusUnauthorized && a.Status != http.StatusAccepted {
			t.Fatalf("guess %d: %s", i, a)
		}
	}
	// A wrong password now: a challenge that looks like any other.
	decoy := login("127.0.3.1", "one more guess")
	wantStatus(t, decoy, http.StatusAccepted)
	var dp pendingJSON
	decoy.decode(t, &dp)
	for range 12 {
		e.requestFrom(t, "127.0.3.1", "POST", "/v1/sessions/"+dp.ChallengeID+"/confirm", "", map[string]string{"code": e.totp(seed)})
	}
	// The right password from a new address: the second factor, then in.
	a := login("127.0.3.2", testPassword)
	wantStatus(t, a, http.StatusAccepted)
	var p pendingJSON
	a.decode(t, &p)
	if p.Method != dp.Method || len(p.Methods) != len(dp.Methods) {
		t.Fatalf("real challenge %+v and decoy %+v differ", p, dp)
	}
	e.clock.Advance(30 * time.Second)
	a = e.requestFrom(t, "127.0.3.2", "POST", "/v1/sessions/"+p.ChallengeID+"/confirm", "", map[string]string{"code": e.totp(seed)})
	wantStatus(t, a, http.StatusCreated)
}

// TestLogin_HeldAnswersAlike: while the member is held across addresses,
// the right password and a wrong one from a fresh address are answered
// and counted alike, so the address's lock does not tell them apart.
func TestLogin_HeldAnswersAlike(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	e.enrolTOTP(t, m)
	login := func(ip, password string) int {
		return e.requestFrom(t, ip, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": password}).Status
	}
	for i := range 25 {
		login(fmt.Sprintf("127.0.4.%d", i+1), fmt.Sprintf("guess %d", i))
	}
	var right, wrong []int
	for range 7 {
		right = append(right, login("127.0.5.1", testPassword))
		wrong = append(wrong, login("127.0.5.2", "not the password"))
	}
	if fmt.Sprint(right) != fmt.Sprint(wrong) {
		t.Fatalf("right password answered %v, a wrong one %v: want the same", right, wrong)
	}
}

// TestCodeBudget_ReleaseCodesEveryAddress: protection codes are typed by
// the payee for themselves, so logging in from more addresses buys the
// payee no more guesses.
func TestCodeBudget_ReleaseCodesEveryAddress(t *testing.T) {
	e := newPayEnv(t, 0)
	a, aUSD := e.funded(t, "100.00")
	b, bUSD := e.funded(t, "0.01")
	wantStatus(t, e.requestFrom(t, "127.0.0.5", "POST", "/v1/sessions", "", map[string]string{"login": b.id, "password": testPassword}), http.StatusCreated)
	for _, id := range []string{"h1", "h2", "h3"} {
		wantStatus(t, e.request(t, "POST", "/v1/transfers", a.token, protectBody(id, aUSD, bUSD, "1.00", "right-"+id, 5)), http.StatusCreated)
	}
	compared := 0
	for i := range 24 {
		ip := []string{"127.0.0.1", "127.0.0.5"}[i%2]
		a := e.requestFrom(t, ip, "POST", "/v1/transfers/"+[]string{"h1", "h2", "h3"}[i/8]+"/release", b.token,
			map[string]string{"from": aUSD, "code": fmt.Sprintf("guess%d", i)})
		if a.Status == http.StatusUnprocessableEntity {
			compared++
		}
	}
	if compared > 9 {
		t.Fatalf("%d release codes compared from two addresses, want at most 9 before the lock", compared)
	}
}
