package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// requestFrom is request from another loopback address (127.0.0.2 and
// on, which the kernel routes to the test server as well), so that a test
// can play clients at several addresses.
func (e *env) requestFrom(t *testing.T, ip, method, path, token string, body any, hdr ...string) answer {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}}
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, path, ip, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// TestServer_StrangerCannotLockOwnerOut: a stranger who knows a member ID
// guesses passwords by the hundred from one address. That address is
// locked (for the right password too), but the owner logs in from another
// address at once. A guesser spread over many addresses then spends the
// member's budget across addresses: a new address waits a short while,
// the address the owner used before does not.
func TestServer_StrangerCannotLockOwnerOut(t *testing.T) {
	e := newEnv(t)
	m := e.register(t, "erin@example.org")
	const stranger = "127.0.0.3"
	session := func(ip, login, pw string) answer {
		t.Helper()
		return e.requestFrom(t, ip, "POST", "/v1/sessions", "", map[string]string{"login": login, "password": pw})
	}
	limited := 0
	for i := range 300 {
		a := session(stranger, m.id, "guess number "+strconv.Itoa(i))
		switch a.Status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("guess %d: %s", i, a)
		}
		e.clock.Advance(5 * time.Second)
	}
	if limited < 250 {
		t.Fatalf("%d of 300 guesses from one address refused, want most", limited)
	}

	// The owner, from the usual address and by any alias, gets in.
	e.login(t, m.id, testPassword)
	e.login(t, "erin@example.org", testPassword)

	// The stranger's address stays locked, even with the right password.
	a := session(stranger, m.id, testPassword)
	wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
	if secs, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("got Retry-After %q, want seconds", a.Header.Get("Retry-After"))
	}

	// Many addresses, a few guesses each.
	for i := range 40 {
		a := session(fmt.Sprintf("127.0.1.%d", 1+i), "ERIN@example.org", "guess number "+strconv.Itoa(i))
		if a.Status != http.StatusUnauthorized && a.Status != http.StatusTooManyRequests {
			t.Fatalf("distributed guess %d: %s", i, a)
		}
	}
	// From a new address the name the guesser used is held briefly; the
	// member's other names answer as a wrong password would, so the lock
	// does not tell which names belong together.
	wantProblem(t, session("127.0.0.4", m.id, testPassword), http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	a = session("127.0.0.4", "erin@example.org", testPassword)
	wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
	secs, err := strconv.Atoi(a.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Errorf("new address: got Retry-After %q, want a short wait", a.Header.Get("Retry-After"))
	}
	// 127.0.0.1 is where the owner logged in before.
	e.login(t, m.id, testPassword)
	// The short lock across addresses ends by itself.
	e.clock.Advance(time.Duration(secs)*time.Second + time.Millisecond)
	wantStatus(t, session("127.0.0.4", m.id, testPassword), http.StatusCreated)
	// The stranger's own address needs a quiet period.
	wantProblem(t, session(stranger, m.id, testPassword), http.StatusTooManyRequests, coffer.ERATELIMITED)
	e.clock.Advance(15 * time.Minute)
	wantStatus(t, session(stranger, m.id, testPassword), http.StatusCreated)
}
