package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCofferd_DiskFull runs the server on a small tmpfs, fills it and
// expects every kind of write (registration, login, a purse, a settings
// change) to answer 503 unavailable with Retry-After; once space is freed
// the same writes work again without a restart, and nothing acknowledged is
// lost. It needs root to mount the tmpfs.
func TestCofferd_DiskFull(t *testing.T) {
	needBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("disk-full test: needs root to mount a tmpfs")
	}
	data := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("disk-full test: mount tmpfs: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", data).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", data, err, out)
		}
	})
	s := startServer(t, data)
	waitReady := func(want int) string { t.Helper(); return waitReadyz(t, s, want) }
	waitReady(http.StatusOK)

	issuer := registerMember(t, s)
	issuer.purse = adminIssuerAdd(t, data, issuer.id, "USD", "1000.00")
	m := registerMember(t, s)
	m.purse = newPurse(t, s, m, "USD")
	s.must(t, "POST", "/v1/transfers", issuer.token, map[string]string{"transfer_id": "before-full",
		"from": issuer.purse, "to": m.purse, "amount": "12.34"}, http.StatusCreated, nil)

	filler := filepath.Join(data, "filler")
	fill(t, filler)

	// Space the WAL already holds may take a few more commits; each
	// answer is then a success, until the first 503.
	notify := true
	settle := func() (int, http.Header, []byte) {
		for range 2000 {
			notify = !notify
			status, h, body := request(t, s, "PUT", "/v1/security/notifications", m.token, map[string]bool{"login": notify})
			if status != http.StatusOK {
				return status, h, body
			}
		}
		t.Fatal("2000 settings changes on a full disk all succeeded")
		return 0, nil, nil
	}
	unavailable := func(what string, status int, h http.Header, body []byte) {
		t.Helper()
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		json.Unmarshal(body, &p)
		if status != http.StatusServiceUnavailable || p.Code != "unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("%s on a full disk: got %d %s (Retry-After %q), want 503 unavailable with Retry-After",
				what, status, bytes.TrimSpace(body), h.Get("Retry-After"))
		}
	}
	status, h, body := settle()
	unavailable("a settings change", status, h, body)
	if reason := waitReady(http.StatusServiceUnavailable); !strings.Contains(reason, "disk is full") {
		t.Errorf("GET /readyz on a full disk: got reason %q, want it to say the disk is full", reason)
	}
	if status, _, body := request(t, s, "GET", "/healthz", "", nil); status != http.StatusOK {
		t.Errorf("GET /healthz on a full disk: got %d %s, want 200 (the process lives)", status, body)
	}
	fill(t, filler)
	status, h, body = request(t, s, "POST", "/v1/members", "", map[string]string{"password": e2ePassword})
	unavailable("registration", status, h, body)
	fill(t, filler)
	status, h, body = request(t, s, "POST", "/v1/sessions", "", map[string]string{"login": m.id, "password": e2ePassword})
	unavailable("login", status, h, body)
	fill(t, filler)
	status, h, body = request(t, s, "POST", "/v1/purses", m.token, map[string]string{"currency": "USD"})
	unavailable("purse creation", status, h, body)
	fill(t, filler)
	status, h, body = request(t, s, "PUT", "/v1/security/notifications", m.token, map[string]bool{"login": !notify})
	unavailable("a settings change", status, h, body)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The same server, not restarted, takes writes again.
	waitReady(http.StatusOK)
	m2 := registerMember(t, s)
	newPurse(t, s, m2, "USD")
	s.must(t, "PUT", "/v1/security/notifications", m.token, map[string]bool{"login": !notify}, http.StatusOK, nil)
	s.must(t, "POST", "/v1/transfers", issuer.token, map[string]string{"transfer_id": "after-full",
		"from": issuer.purse, "to": m.purse, "amount": "1.00"}, http.StatusCreated, nil)
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}

	// Everything acknowledged is there after a restart.
	checkLedger(t, data)
	s2 := startServer(t, data)
	loginMember(t, s2, m2.id)
	var p struct {
		Balance string `json:"balance"`
	}
	s2.must(t, "GET", "/v1/purses/"+m.purse, loginMember(t, s2, m.id), nil, http.StatusOK, &p)
	if p.Balance != "13.34" {
		t.Errorf("balance after the disk filled and emptied: got %s, want 13.34", p.Balance)
	}
}

// fill writes the file at path until the file system holding it is full;
// called again, it takes up what was freed meanwhile (the server empties
// its WAL when idle).
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	// What a 64 KiB write left over, in smaller pieces.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}

// request sends one request with a JSON body (when in is not nil) and
// returns the status, the headers and the body of the answer.
func request(t *testing.T, s *e2eServer, method, path, token string, in any, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, body
}

// readyz asks GET /readyz: its status and reason.
func readyz(t *testing.T, s *e2eServer) (int, string) {
	t.Helper()
	status, _, body := request(t, s, "GET", "/readyz", "", nil)
	var r struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	json.Unmarshal(body, &r)
	return status, r.Reason
}

// waitReadyz polls GET /readyz (a probe's answer stands for a second) until
// it answers want, and returns the reason it gives.
func waitReadyz(t *testing.T, s *e2eServer, want int) string {
	t.Helper()
	var status int
	var reason string
	if !waitFor(30*time.Second, func() bool { status, reason = readyz(t, s); return status == want }) {
		t.Fatalf("GET /readyz: got %d %q, want %d", status, reason, want)
	}
	return reason
}
