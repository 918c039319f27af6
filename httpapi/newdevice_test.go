package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestConfirm_NewDeviceActivation: a member whose password alone is enough
// turns on new-device confirmation; a login from an address never seen
// before (127.0.0.2 here) then needs a one-time code, and afterwards that
// address is known.
func TestConfirm_NewDeviceActivation(t *testing.T) {
	e := newConfirmEnv(t)
	m, _ := e.funded(t)

	// Bad bodies are refused and change nothing.
	wantProblem(t, e.request(t, "PUT", "/v1/security/new-device", m.token, map[string]any{}), http.StatusBadRequest, "invalid_request")
	wantProblem(t, e.request(t, "PUT", "/v1/security/new-device", m.token, map[string]any{"enabled": "yes"}), http.StatusBadRequest, "invalid_request")
	wantProblem(t, e.request(t, "PUT", "/v1/security/new-device", "", map[string]any{"enabled": true}), http.StatusUnauthorized, "unauthorized")

	// Without a factor there is nothing to send an activation code from.
	wantProblem(t, e.request(t, "PUT", "/v1/security/new-device", m.token, map[string]bool{"enabled": true}), http.StatusBadRequest, "invalid_request")

	seed, _ := e.enrolTOTP(t, m)
	stepUp := func(method, path string, body any) {
		t.Helper()
		a := e.request(t, method, path, m.token, body)
		wantProblem(t, a, http.StatusForbidden, "confirmation_required")
		var pr struct {
			ConfirmationID string `json:"confirmation_id"`
		}
		a.decode(t, &pr)
		e.clock.Advance(30 * time.Second)
		wantStatus(t, e.request(t, method, path, m.token, body, "Coffer-Confirmation", pr.ConfirmationID+":"+e.totp(seed)), http.StatusOK)
	}
	stepUp("PUT", "/v1/security/confirmation", map[string]any{"login": "password", "transfers": "always"})
	login := map[string]string{"login": m.id, "password": testPassword}
	wantStatus(t, e.request(t, "POST", "/v1/sessions", "", login), http.StatusCreated) // 127.0.0.1 is now known
	stepUp("PUT", "/v1/security/new-device", map[string]bool{"enabled": true})
	var st struct {
		NewDevice bool `json:"new_device_confirmation"`
	}
	e.request(t, "GET", "/v1/security/settings", m.token, nil).decode(t, &st)
	if !st.NewDevice {
		t.Fatalf("settings do not show new_device_confirmation on")
	}
	wantStatus(t, e.request(t, "POST", "/v1/sessions", "", login), http.StatusCreated)

	// A client on another loopback address is a device never seen.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	post := func(path string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := other.Post(e.srv.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Skipf("cannot connect from 127.0.0.2 on this machine: %v", err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	status, body := post("/v1/sessions", login)
	if status != http.StatusAccepted {
		t.Fatalf("login from a new address: got %d %s, want 202 with a challenge", status, body)
	}
	var p pendingJSON
	if err := json.Unmarshal(body, &p); err != nil || p.ChallengeID == "" {
		t.Fatalf("got %s, want a challenge_id", body)
	}
	e.clock.Advance(30 * time.Second)
	if status, body := post("/v1/sessions/"+p.ChallengeID+"/confirm", map[string]string{"code": e.totp(seed)}); status != http.StatusCreated {
		t.Fatalf("confirming the new address: got %d %s, want 201", status, body)
	}
	if status, body := post("/v1/sessions", login); status != http.StatusCreated {
		t.Fatalf("second login from the now-known address: got %d %s, want 201", status, body)
	}
}
