package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// needKeeper skips the test when the binaries, or the coffer keeper alone,
// do not build.
func needKeeper(t *testing.T) {
	t.Helper()
	needBinaries(t)
	if cofferBin == "" {
		t.Skipf("the coffer keeper does not build yet: %s", tail(cofferBuildErr, 5))
	}
}

// keeperEnv runs the built coffer keeper against one server with a HOME
// and configuration of its own, the password e2ePassword and no member
// chosen by the environment.
type keeperEnv struct {
	t      *testing.T
	home   string
	config string
	server string
	// env holds further VAR=value entries for every run.
	env []string
	// stdoutOnSuccess makes run return stdout alone when the exit code is
	// 0 (stdout and stderr otherwise).
	stdoutOnSuccess bool
}

// newKeeperEnv makes a fresh HOME with the configuration in HOME/configName.
func newKeeperEnv(t *testing.T, s *e2eServer, configName string, env ...string) *keeperEnv {
	t.Helper()
	home := t.TempDir()
	return &keeperEnv{t: t, home: home, config: filepath.Join(home, configName), server: s.url, env: env}
}

// with is k with further environment entries.
func (k *keeperEnv) with(env ...string) *keeperEnv {
	c := *k
	c.env = append(append([]string(nil), k.env...), env...)
	return &c
}

// withConfig is k with another configuration path.
func (k *keeperEnv) withConfig(config string) *keeperEnv {
	c := *k
	c.config = config
	return &c
}

// run runs coffer with args, fails the test unless it exits with wantCode,
// and returns its output.
func (k *keeperEnv) run(wantCode int, args ...string) string {
	k.t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(cofferBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+k.home, "XDG_CONFIG_HOME="+k.home, "COFFER_CONFIG="+k.config,
		"COFFER_PASSWORD="+e2ePassword, "COFFER_SERVER="+k.server, "COFFER_MEMBER=")
	cmd.Env = append(cmd.Env, k.env...)
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if code := exitCodeOf(err); code != wantCode {
		k.t.Fatalf("coffer %s: got exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, o.String(), e.String())
	}
	if wantCode == 0 && k.stdoutOnSuccess {
		return o.String()
	}
	return o.String() + e.String()
}

// json runs coffer --json with args and decodes its output into v.
func (k *keeperEnv) json(v any, args ...string) {
	k.t.Helper()
	out := k.run(0, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		k.t.Fatalf("coffer --json %s: %v in %q", strings.Join(args, " "), err, out)
	}
}

var keeperMemberID = regexp.MustCompile(`Your member ID: ([0-9]{12})`)

// register registers a member with the keeper and returns its member ID.
func (k *keeperEnv) register(email string) string {
	k.t.Helper()
	out := k.run(0, "register", "--email", email)
	m := keeperMemberID.FindStringSubmatch(out)
	if m == nil {
		k.t.Fatalf("coffer register %s: got %q, want \"Your member ID: …\"", email, out)
	}
	return m[1]
}

// newPurse opens a USD purse for member and returns its number.
func (k *keeperEnv) newPurse(member string) string {
	k.t.Helper()
	var p struct{ Purse string }
	k.json(&p, "--as", member, "purse", "new", "USD")
	return p.Purse
}
