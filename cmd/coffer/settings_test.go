package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestSecurity_NewDeviceAndNotifications(t *testing.T) {
	k := newKeeper(t)
	k.register()
	var newDevice []bool
	k.f.mux.HandleFunc("PUT /v1/security/new-device", k.f.auth(func(w http.ResponseWriter, r *http.Request, s *fakeSession) {
		var body struct {
			Enabled bool `json:"enabled"`
		}
		if !decode(w, r, &body) {
			return
		}
		newDevice = append(newDevice, body.Enabled)
		w.WriteHeader(http.StatusNoContent)
	}))
	var updates []map[string]bool
	k.f.mux.HandleFunc("/v1/security/notifications", k.f.auth(func(w http.ResponseWriter, r *http.Request, s *fakeSession) {
		if r.Method == http.MethodPut {
			var u map[string]bool
			if !decode(w, r, &u) {
				return
			}
			updates = append(updates, u)
		}
		writeJSON(w, 200, map[string]bool{"login": true, "incoming_payment": false, "security": true})
	}))

	if out := k.ok("security", "new-device", "on"); out != "New-device confirmation is on.\n" {
		t.Errorf("new-device on: got %q", out)
	}
	if out := k.ok("security", "new-device", "no"); out != "New-device confirmation is off.\n" {
		t.Errorf("new-device no: got %q", out)
	}
	if want := []bool{true, false}; len(newDevice) != 2 || newDevice[0] != want[0] || newDevice[1] != want[1] {
		t.Errorf("server got %v, want %v", newDevice, want)
	}
	for _, args := range [][]string{{"security", "new-device"}, {"security", "new-device", "maybe"}} {
		if r := k.run("", args...); r.code != 2 || !strings.Contains(r.stderr, "security new-device: ") {
			t.Errorf("coffer %s: got exit %d, stderr %q; want 2 and a usage message", strings.Join(args, " "), r.code, r.stderr)
		}
	}

	want := "login from a new address  on\nincoming payments         off\nsecurity events           on\n"
	if out := k.ok("security", "notifications"); out != want {
		t.Errorf("notifications: got %q, want %q", out, want)
	}
	var n map[string]bool
	if err := json.Unmarshal([]byte(k.ok("--json", "security", "notifications", "--security", "on")), &n); err != nil || !n["login"] || n["incoming_payment"] {
		t.Errorf("notifications --json: got %v (%v)", n, err)
	}
	if len(updates) != 1 || len(updates[0]) != 1 || !updates[0]["security"] {
		t.Errorf("server got updates %v, want one setting security on", updates)
	}
}
