package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a small in-memory stand-in for cofferd's /v1 API: enough
// of it to drive the keeper end to end. Amounts are cents; every currency
// has two decimals.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux // tests may add routes

	mu        sync.Mutex
	seq       int
	members   map[string]*fakeMember   // by member ID
	logins    map[string]string        // e-mail or phone → member ID
	sessions  map[string]*fakeSession  // by token
	purses    map[string]*fakePurse    // by purse number
	transfers map[string]*fakeTransfer // by sender member ID + "/" + transfer ID
	// failNext makes the next transfer requests fail with these statuses.
	failNext []int
	// transferRequests records every POST /v1/transfers body.
	transferRequests []map[string]string
}

type fakeMember struct{ id, password string }

type fakeSession struct {
	id, token, member string
	expires           time.Time
}

type fakePurse struct {
	number, owner, currency string
	balance                 int64
	history                 []map[string]any // oldest first
}

type fakeTransfer struct {
	body   map[string]string
	answer map[string]any
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{
		t: t, members: map[string]*fakeMember{}, logins: map[string]string{},
		sessions: map[string]*fakeSession{}, purses: map[string]*fakePurse{}, transfers: map[string]*fakeTransfer{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/members", f.register)
	mux.HandleFunc("POST /v1/sessions", f.login)
	mux.HandleFunc("GET /v1/sessions", f.auth(f.listSessions))
	mux.HandleFunc("DELETE /v1/sessions/{id}", f.auth(f.deleteSession))
	mux.HandleFunc("GET /v1/currencies", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"currencies": []map[string]any{
			{"code": "USD", "letter": "Z", "decimals": 2}, {"code": "EUR", "letter": "E", "decimals": 2},
		}})
	})
	mux.HandleFunc("GET /v1/purses", f.auth(f.listPurses))
	mux.HandleFunc("POST /v1/purses", f.auth(f.createPurse))
	mux.HandleFunc("GET /v1/purses/{purse}", f.auth(f.getPurse))
	mux.HandleFunc("GET /v1/purses/{purse}/history", f.auth(f.history))
	mux.HandleFunc("GET /v1/purses/{purse}/owner", f.auth(f.owner))
	mux.HandleFunc("POST /v1/transfers", f.auth(f.transfer))
	mux.HandleFunc("GET /v1/transfers/{id}", f.auth(f.getTransfer))
	f.mux = mux
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) URL() string { return f.srv.URL }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	// Like cofferd: the title is the status text, the detail a sentence.
	json.NewEncoder(w).Encode(map[string]any{"type": "urn:coffer:problem:" + code, "title": http.StatusText(status),
		"status": status, "detail": detail, "code": code})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		problem(w, 400, "invalid_request", "The request body is not a valid JSON object.")
		return false
	}
	return true
}

// next returns a new 12-digit number; the real server draws them at random.
func (f *fakeServer) next() string {
	f.seq++
	return fmt.Sprintf("%012d", 100000000000+f.seq)
}

type authed func(w http.ResponseWriter, r *http.Request, s *fakeSession)

func (f *fakeServer) auth(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s := f.sessions[tok]
		if !ok || s == nil {
			problem(w, 401, "unauthorized", "The session is missing, expired or revoked; log in again.")
			return
		}
		h(w, r, s)
	}
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	var req struct{ Password, Email, Phone string }
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(req.Password) < 8 {
		problem(w, 400, "weak_password", "The password needs at least 8 characters.")
		return
	}
	id := f.next()
	f.members[id] = &fakeMember{id: id, password: req.Password}
	for _, l := range []string{req.Email, req.Phone} {
		if l != "" {
			f.logins[l] = id
		}
	}
	writeJSON(w, 201, map[string]string{"member_id": id})
}

func (f *fakeServer) login(w http.ResponseWriter, r *http.Request) {
	var req struct{ Login, Password string }
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.Login
	if other, ok := f.logins[id]; ok {
		id = other
	}
	m := f.members[id]
	if m == nil || m.password != req.Password {
		problem(w, 401, "unauthorized", "The login or password is wrong.")
		return
	}
	s := &fakeSession{id: "s" + f.next(), token: "tok-" + f.next(), member: id, expires: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)}
	f.sessions[s.token] = s
	writeJSON(w, 201, map[string]any{"token": s.token, "member_id": id, "expires_at": s.expires})
}

func (f *fakeServer) listSessions(w http.ResponseWriter, r *http.Request, cur *fakeSession) {
	var list []map[string]any
	for _, s := range f.sessions {
		if s.member == cur.member {
			list = append(list, map[string]any{
				"session_id": s.id, "ip": "127.0.0.1", "user_agent": r.UserAgent(), "created_at": s.expires.Add(-24 * time.Hour),
				"last_used_at": s.expires.Add(-time.Hour), "expires_at": s.expires, "current": s == cur,
			})
		}
	}
	writeJSON(w, 200, map[string]any{"sessions": list})
}

func (f *fakeServer) deleteSession(w http.ResponseWriter, r *http.Request, cur *fakeSession) {
	id := r.PathValue("id")
	for tok, s := range f.sessions {
		if s.member == cur.member && (s.id == id || id == "current" && s == cur) {
			delete(f.sessions, tok)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	problem(w, 404, "not_found", "You have no such session.")
}

func (f *fakeServer) purseJSON(p *fakePurse) map[string]any {
	return map[string]any{"purse": p.number, "currency": p.currency, "balance": cents(p.balance)}
}

func (f *fakeServer) listPurses(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	list := []map[string]any{}
	for _, p := range f.purses {
		if p.owner == s.member {
			list = append(list, f.purseJSON(p))
		}
	}
	writeJSON(w, 200, map[string]any{"purses": list})
}

func (f *fakeServer) createPurse(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	var req struct{ Currency string }
	if !decode(w, r, &req) {
		return
	}
	letter := map[string]string{"USD": "Z", "EUR": "E"}[req.Currency]
	if letter == "" {
		problem(w, 400, "currency_not_found", "There is no currency "+strconv.Quote(req.Currency)+".")
		return
	}
	p := &fakePurse{number: letter + f.next(), owner: s.member, currency: req.Currency}
	f.purses[p.number] = p
	writeJSON(w, 201, f.purseJSON(p))
}

// ownPurse finds a purse of the session's member; others' purses do not
// exist as far as the caller can tell.
func (f *fakeServer) ownPurse(w http.ResponseWriter, number string, s *fakeSession) *fakePurse {
	p := f.purses[number]
	if p == nil || p.owner != s.member {
		problem(w, 404, "purse_not_found", "Purse "+number+" does not exist.")
		return nil
	}
	return p
}

func (f *fakeServer) getPurse(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	if p := f.ownPurse(w, r.PathValue("purse"), s); p != nil {
		writeJSON(w, 200, f.purseJSON(p))
	}
}

func (f *fakeServer) history(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	p := f.ownPurse(w, r.PathValue("purse"), s)
	if p == nil {
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	var newest []map[string]any
	for i := len(p.history) - 1; i >= 0; i-- {
		newest = append(newest, p.history[i])
	}
	end := min(start+limit, len(newest))
	next := ""
	if end < len(newest) {
		next = strconv.Itoa(end)
	}
	entries := []map[string]any{}
	if start < len(newest) {
		entries = newest[start:end]
	}
	writeJSON(w, 200, map[string]any{"entries": entries, "next_cursor": next})
}

func (f *fakeServer) owner(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	p := f.purses[r.PathValue("purse")]
	if p == nil {
		problem(w, 404, "purse_not_found", "Purse "+r.PathValue("purse")+" does not exist.")
		return
	}
	writeJSON(w, 200, map[string]string{"member_id": p.owner})
}

func (f *fakeServer) transfer(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	var body map[string]string
	if !decode(w, r, &body) {
		return
	}
	f.transferRequests = append(f.transferRequests, body)
	if len(f.failNext) > 0 {
		status := f.failNext[0]
		f.failNext = f.failNext[1:]
		problem(w, status, "internal", "An internal error occurred.")
		return
	}
	key := s.member + "/" + body["transfer_id"]
	if prev := f.transfers[key]; prev != nil {
		if fmt.Sprint(prev.body) != fmt.Sprint(body) {
			problem(w, 409, "idempotency_conflict", "Transfer ID "+body["transfer_id"]+" was already used for a different transfer.")
			return
		}
		writeJSON(w, 200, prev.answer)
		return
	}
	from := f.ownPurse(w, body["from"], s)
	if from == nil {
		return
	}
	to := f.purses[body["to"]]
	if to == nil {
		problem(w, 404, "purse_not_found", "Purse "+body["to"]+" does not exist.")
		return
	}
	if to.currency != from.currency {
		problem(w, 422, "currency_mismatch", "Purse "+from.number+" holds "+from.currency+" and purse "+to.number+" holds "+to.currency+".")
		return
	}
	amount, ok := parseCents(body["amount"])
	if !ok || amount <= 0 {
		problem(w, 400, "invalid_amount", "The amount must be greater than zero, with at most 2 decimals.")
		return
	}
	if from.balance < amount {
		problem(w, 422, "insufficient_funds", "Purse "+from.number+" holds less than the amount.")
		return
	}
	now := time.Now().UTC().Truncate(time.Second)
	from.balance -= amount
	to.balance += amount
	from.history = append(from.history, map[string]any{"transfer_id": body["transfer_id"], "counterparty": to.number,
		"amount": "-" + cents(amount), "balance_after": cents(from.balance), "description": body["description"], "created_at": now})
	to.history = append(to.history, map[string]any{"transfer_id": body["transfer_id"], "counterparty": from.number,
		"amount": cents(amount), "balance_after": cents(to.balance), "description": body["description"], "created_at": now})
	answer := map[string]any{"transfer_id": body["transfer_id"], "from": from.number, "to": to.number, "amount": cents(amount),
		"currency": from.currency, "description": body["description"], "status": "applied", "created_at": now}
	f.transfers[key] = &fakeTransfer{body: body, answer: answer}
	writeJSON(w, 201, answer)
}

func (f *fakeServer) getTransfer(w http.ResponseWriter, r *http.Request, s *fakeSession) {
	for _, t := range f.transfers {
		if t.answer["transfer_id"] != r.PathValue("id") {
			continue
		}
		from, to := f.purses[t.answer["from"].(string)], f.purses[t.answer["to"].(string)]
		if from.owner == s.member || to.owner == s.member {
			writeJSON(w, 200, t.answer)
			return
		}
	}
	problem(w, 404, "not_found", "No such transfer.")
}

// fund puts money into a purse from outside, as an issuer would.
func (f *fakeServer) fund(purse string, amount int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.purses[purse]
	if p == nil {
		f.t.Fatalf("fund: no purse %s", purse)
	}
	p.balance += amount
	p.history = append(p.history, map[string]any{"transfer_id": "issue-" + f.next(), "counterparty": "Z000000000000",
		"amount": cents(amount), "balance_after": cents(p.balance), "created_at": time.Now().UTC().Truncate(time.Second)})
}

func (f *fakeServer) balance(purse string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.purses[purse].balance
}

func cents(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

func parseCents(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 || whole == "" {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err1 := strconv.ParseInt(whole, 10, 64)
	c, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, false
	}
	return w*100 + c, true
}

// requests returns the transfer requests received so far.
func (f *fakeServer) requests() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.transferRequests...)
}

// failWith makes the next transfer requests fail with these statuses.
func (f *fakeServer) failWith(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, statuses...)
}
