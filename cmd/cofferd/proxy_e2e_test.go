package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// viaProxy sends a request as a reverse proxy on 127.0.0.1 would, with
// the forwarding headers hdr (name, value, …), and returns the status and
// body.
func (s *e2eServer) viaProxy(t *testing.T, method, path, token string, in any, hdr ...string) (int, []byte) {
	t.Helper()
	status, _, body := request(t, s, method, path, token, in, hdr...)
	return status, body
}

// TestCofferd_TrustedProxy checks, on the real server, that the client
// address a trusted proxy names (X-Forwarded-For, or Forwarded with
// --trusted-proxy-header forwarded) is the one the session list shows, the
// new-address notice names and the per-address registration limit counts;
// and that without --trusted-proxy (or with the other header family) the
// same headers change nothing.
func TestCofferd_TrustedProxy(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	for _, c := range []struct {
		name  string
		flags []string
		hdr   func(ip string) []string // the proxy's headers naming client ip
		want  func(ip string) string   // the address the server should take
	}{
		{"XForwardedFor", []string{"--trusted-proxy", "127.0.0.1"},
			func(ip string) []string { return []string{"X-Forwarded-For", "198.51.100.99, " + ip} },
			func(ip string) string { return ip }},
		{"Forwarded", []string{"--trusted-proxy", "127.0.0.0/8", "--trusted-proxy-header", "forwarded"},
			func(ip string) []string {
				return []string{"Forwarded", `for=198.51.100.99, for="` + ip + `:4711";proto=https`}
			},
			func(ip string) string { return ip }},
		{"NotTrusted", nil,
			func(ip string) []string { return []string{"X-Forwarded-For", ip, "Forwarded", "for=" + ip} },
			func(string) string { return "127.0.0.1" }},
		{"OtherFamilyIgnored", []string{"--trusted-proxy", "127.0.0.1", "--trusted-proxy-header", "forwarded"},
			func(ip string) []string { return []string{"X-Forwarded-For", ip} },
			func(string) string { return "127.0.0.1" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			s := startServerWith(t, data, append([]string{"--register-per-hour", "1"}, c.flags...)...)
			const client, other = "203.0.113.7", "203.0.113.8"

			// Registration is limited per client address: a second
			// from the same client is refused, one from another client
			// counts apart only when the proxy is believed.
			var reg struct {
				MemberID string `json:"member_id"`
			}
			status, body := s.viaProxy(t, "POST", "/v1/members", "", map[string]string{"password": e2ePassword, "email": "member@example.com"}, c.hdr(client)...)
			if status != http.StatusCreated {
				t.Fatalf("register: got %d %s, want 201", status, body)
			}
			if err := json.Unmarshal(body, &reg); err != nil {
				t.Fatal(err)
			}
			if status, body := s.viaProxy(t, "POST", "/v1/members", "", map[string]string{"password": e2ePassword}, c.hdr(client)...); status != http.StatusTooManyRequests {
				t.Errorf("second registration from %s: got %d %s, want 429", client, status, body)
			}
			wantOther := http.StatusCreated
			if c.want(other) != other {
				wantOther = http.StatusTooManyRequests // the same address to the server
			}
			if status, body := s.viaProxy(t, "POST", "/v1/members", "", map[string]string{"password": e2ePassword}, c.hdr(other)...); status != wantOther {
				t.Errorf("registration from %s: got %d %s, want %d", other, status, body, wantOther)
			}

			// The session list shows the client's address.
			var sess struct {
				Token string `json:"token"`
			}
			status, body = s.viaProxy(t, "POST", "/v1/sessions", "", map[string]string{"login": reg.MemberID, "password": e2ePassword}, c.hdr(client)...)
			if status != http.StatusCreated || json.Unmarshal(body, &sess) != nil {
				t.Fatalf("login: got %d %s, want 201", status, body)
			}
			var list struct {
				Sessions []struct {
					IP      string `json:"ip"`
					Current bool   `json:"current"`
				} `json:"sessions"`
			}
			status, body = s.viaProxy(t, "GET", "/v1/sessions", sess.Token, nil, c.hdr(client)...)
			if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Sessions) != 1 {
				t.Fatalf("GET /v1/sessions: got %d %s, want one session", status, body)
			}
			if got := list.Sessions[0].IP; got != c.want(client) {
				t.Errorf("GET /v1/sessions: session ip %q, want %q", got, c.want(client))
			}

			// A login from an address not seen before is mailed to the
			// member, naming the address.
			status, body = s.viaProxy(t, "POST", "/v1/sessions", "", map[string]string{"login": reg.MemberID, "password": e2ePassword}, c.hdr(other)...)
			if status != http.StatusCreated {
				t.Fatalf("second login: got %d %s, want 201", status, body)
			}
			// The outbox is written after the answer.
			var mail []byte
			notices := []string{"login from a new address " + c.want(client), "login from a new address " + c.want(other)}
			if !waitFor(10*time.Second, func() bool {
				mail, _ = os.ReadFile(filepath.Join(data, "outbox", "mail.log"))
				return strings.Contains(string(mail), notices[0]) && strings.Contains(string(mail), notices[1])
			}) {
				t.Errorf("mail outbox: want %q in\n%s", notices, mail)
			}
			if c.want(client) != client && strings.Contains(string(mail), "203.0.113.") {
				t.Errorf("mail outbox names an address only the headers gave:\n%s", mail)
			}
		})
	}
}
