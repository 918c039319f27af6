package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/sqlstore"
)

// cofferdEnv runs the built cofferd with args and exactly the COFFER_*
// variables in env (the test's own are left out), and returns its output
// and exit code.
func cofferdEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(cofferdBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COFFER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("cofferd %v: %v", args, err)
	}
	return o.String(), e.String(), exitCodeOf(err)
}

// configRow is one line of `cofferd config`.
type configRow struct{ value, from string }

// effectiveConfig runs `cofferd config` and returns its rows by flag name.
func effectiveConfig(t *testing.T, env []string, args ...string) map[string]configRow {
	t.Helper()
	out, errOut, code := cofferdEnv(t, env, append([]string{"config"}, args...)...)
	if code != 0 {
		t.Fatalf("cofferd config %v: exit %d\n%s", args, code, errOut)
	}
	rows := map[string]configRow{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(line, "#") || f[0] == "FLAG" {
			continue
		}
		// The value may hold spaces ("read committed"): the source is the
		// last field, or the last two for "env COFFER_X".
		from, end := f[len(f)-1], len(f)-1
		if len(f) >= 4 && f[len(f)-2] == "env" {
			from, end = "env "+f[len(f)-1], len(f)-2
		}
		rows[f[0]] = configRow{value: strings.Join(f[1:end], " "), from: from}
	}
	return rows
}

func writeConfig(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cofferd.conf")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCofferd_ConfigPrecedence: a flag beats COFFER_*, which beats the
// config file, which beats the default, for flags of several types.
func TestCofferd_ConfigPrecedence(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	file := writeConfig(t,
		"# cofferd settings",
		"db-timeout 7s",
		"register-per-hour 5 # an hourly cap",
		"log-level debug",
		"no-login-ip-limit",
		"db-isolation serializable",
	)
	type want struct{ value, from string }
	tests := []struct {
		name string
		env  []string
		args []string
		want map[string]want
	}{
		{"defaults", nil, nil, map[string]want{
			"db-timeout": {sqlstore.DefaultTimeout.String(), "default"}, "register-per-hour": {"20", "default"}, "log-level": {"info", "default"},
			"no-login-ip-limit": {"false", "default"}, "db-isolation": {"read committed", "default"}}},
		{"file", nil, []string{"--config", file}, map[string]want{
			"db-timeout": {"7s", "file"}, "register-per-hour": {"5", "file"}, "log-level": {"debug", "file"},
			"no-login-ip-limit": {"true", "file"}, "db-isolation": {"serializable", "file"}}},
		{"env beats file", []string{"COFFER_DB_TIMEOUT=9s", "COFFER_REGISTER_PER_HOUR=8", "COFFER_NO_LOGIN_IP_LIMIT=false"}, []string{"--config", file}, map[string]want{
			"db-timeout": {"9s", "env COFFER_DB_TIMEOUT"}, "register-per-hour": {"8", "env COFFER_REGISTER_PER_HOUR"},
			"no-login-ip-limit": {"false", "env COFFER_NO_LOGIN_IP_LIMIT"}, "log-level": {"debug", "file"}}},
		{"flag beats env", []string{"COFFER_DB_TIMEOUT=9s", "COFFER_REGISTER_PER_HOUR=8"},
			[]string{"--config", file, "--db-timeout", "11s", "--register-per-hour=0", "--db-isolation", "read committed"}, map[string]want{
				"db-timeout": {"11s", "flag"}, "register-per-hour": {"0", "flag"}, "db-isolation": {"read committed", "flag"},
				"log-level": {"debug", "file"}}},
		{"env without file", []string{"COFFER_LOG_LEVEL=warn"}, nil, map[string]want{
			"log-level": {"warn", "env COFFER_LOG_LEVEL"}, "db-timeout": {sqlstore.DefaultTimeout.String(), "default"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := effectiveConfig(t, tt.env, tt.args...)
			for name, w := range tt.want {
				if got := rows[name]; got.value != w.value || got.from != w.from {
					t.Errorf("%s: got %q from %q, want %q from %q", name, got.value, got.from, w.value, w.from)
				}
			}
		})
	}
}

// TestCofferd_ConfigReachesCommands: the layers reach a command's real
// work, not only the printout: --data from a flag, COFFER_DATA or the file
// chooses the store the currency list reads.
func TestCofferd_ConfigReachesCommands(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dirs := map[string]string{}
	for _, code := range []string{"AAA", "BBB", "CCC"} {
		dirs[code] = t.TempDir()
		if out, errOut, rc := cofferdEnv(t, nil, "admin", "currency", "add", "--data", dirs[code], "--code", code, "--letter", code[:1], "--decimals", "2"); rc != 0 {
			t.Fatalf("currency add %s: exit %d\n%s%s", code, rc, out, errOut)
		}
	}
	// A serve config file: its serve-only settings are no error for a
	// one-off command, which takes the ones it shares with serve.
	file := writeConfig(t, "data "+dirs["AAA"], "addr 127.0.0.1:0", "log-level warn")
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"file", nil, []string{"--config", file}, "AAA"},
		{"env beats file", []string{"COFFER_DATA=" + dirs["BBB"]}, []string{"--config", file}, "BBB"},
		{"flag beats env", []string{"COFFER_DATA=" + dirs["BBB"]}, []string{"--config", file, "--data", dirs["CCC"]}, "CCC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cofferdEnv(t, tt.env, append([]string{"admin", "currency", "list"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			for code := range dirs {
				if strings.Contains(out, code) != (code == tt.want) {
					t.Errorf("got\n%s\nwant the store with %s only", out, tt.want)
				}
			}
		})
	}
	t.Run("action arguments stay on the command line", func(t *testing.T) {
		// The keeper's COFFER_MEMBER must not become --member.
		_, errOut, code := cofferdEnv(t, []string{"COFFER_DATA=" + dirs["AAA"], "COFFER_MEMBER=123456789012"}, "admin", "member", "show")
		if code == 0 || !strings.Contains(errOut, "--member must be a 12-digit member ID") {
			t.Errorf("got exit %d, %q; want --member refused as missing", code, errOut)
		}
		bad := writeConfig(t, "member 123456789012")
		_, errOut, code = cofferdEnv(t, nil, "admin", "member", "show", "--config", bad, "--data", dirs["AAA"])
		if code == 0 || !strings.Contains(errOut, "command line only") {
			t.Errorf("got exit %d, %q; want the file's member refused", code, errOut)
		}
	})
}

// TestCofferd_ConfigUnknownKey: a misspelt setting in the file is refused
// with its name, not ignored.
func TestCofferd_ConfigUnknownKey(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	file := writeConfig(t, "addr 127.0.0.1:0", "registr-per-hour 5")
	for _, cmd := range [][]string{{"config"}, {"serve", "--data", t.TempDir()}, {"check", "--data", t.TempDir()}} {
		_, errOut, code := cofferdEnv(t, nil, append(cmd, "--config", file)...)
		if code != 1 || !strings.Contains(errOut, `unknown setting "registr-per-hour"`) || !strings.Contains(errOut, file) {
			t.Errorf("%v: got exit %d, %q; want exit 1 naming the setting and the file", cmd, code, errOut)
		}
	}
	_, errOut, code := cofferdEnv(t, nil, "config", "--config", filepath.Join(t.TempDir(), "absent.conf"))
	if code != 1 || !strings.Contains(errOut, "absent.conf") {
		t.Errorf("missing file: got exit %d, %q", code, errOut)
	}
}

// TestCofferd_ConfigMasksSecrets: cofferd config prints no password.
func TestCofferd_ConfigMasksSecrets(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	rows := effectiveConfig(t, []string{"COFFER_DB=postgres://coffer:hunter2@db.example:5432/coffer?sslmode=disable"})
	if got, want := rows["db"], (configRow{"postgres://coffer:REDACTED@db.example:5432/coffer?sslmode=disable", "env COFFER_DB"}); got != want {
		t.Errorf("db: got %+v, want %+v", got, want)
	}
	out, _, _ := cofferdEnv(t, []string{"COFFER_DB=postgres://coffer:hunter2@db.example/coffer"}, "config")
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password is printed:\n%s", out)
	}
	file := writeConfig(t, "db postgresql://app:filepw@db.example/coffer?password=qpw")
	out, _, _ = cofferdEnv(t, nil, "config", "--config", file)
	if strings.Contains(out, "filepw") || strings.Contains(out, "qpw") {
		t.Errorf("a password from the file is printed:\n%s", out)
	}
}

func TestMaskSecret(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"db", "postgres://u:pw@h:5432/d", "postgres://u:REDACTED@h:5432/d"},
		{"db", "postgres://u@h/d", "postgres://u@h/d"},
		{"db", "postgres://h/d?user=u&password=pw", "postgres://h/d?password=REDACTED&user=u"},
		{"db", "host=h user=u password=pw dbname=d", "host=h user=u password=REDACTED dbname=d"},
		{"smtp-password", "pw", "REDACTED"},
		{"webhook-secret", "s", "REDACTED"},
		{"api-token", "t", "REDACTED"},
		{"smtp-password-file", "/etc/coffer/smtp.pw", "/etc/coffer/smtp.pw"},
		{"addr", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"smtp-password", "", ""},
	}
	for _, tt := range tests {
		if got := maskSecret(tt.name, tt.value); got != tt.want {
			t.Errorf("maskSecret(%q, %q): got %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

// TestParseFlags_EveryServeFlag: every flag registered on serve's flag set,
// whoever adds it, is read from its COFFER_* variable and from the file.
func TestParseFlags_EveryServeFlag(t *testing.T) {
	fs := flag.NewFlagSet("cofferd serve", flag.ContinueOnError)
	var o serveOptions
	o.flags(fs)
	value := func(f *flag.Flag) string {
		if f.DefValue != "" {
			return f.DefValue
		}
		return "/x"
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "trusted-proxy" {
			return // a CIDR list; set below
		}
		lines = append(lines, f.Name+" "+value(f))
	})
	file := writeConfig(t, append(lines, "trusted-proxy 10.0.0.0/8")...)
	src, err := parseFlags(context.Background(), fs, []string{"--config", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != configFlag && src.from[f.Name] != fromFile {
			t.Errorf("--%s: got from %q, want from the file", f.Name, src.from[f.Name])
		}
	})

	fs = flag.NewFlagSet("cofferd serve", flag.ContinueOnError)
	o = serveOptions{}
	o.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "trusted-proxy" {
			t.Setenv(envName(f.Name), "10.0.0.0/8")
			return
		}
		t.Setenv(envName(f.Name), value(f))
	})
	src, err = parseFlags(context.Background(), fs, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != configFlag && src.from[f.Name] != fromEnv {
			t.Errorf("--%s: got from %q, want from %s", f.Name, src.from[f.Name], envName(f.Name))
		}
	})
}

// TestCofferd_CofferDB: COFFER_DB still chooses the PostgreSQL store.
func TestCofferd_CofferDB(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	// Nothing listens on port 1: the error shows PostgreSQL was tried, and
	// no SQLite store was made instead.
	_, errOut, code := cofferdEnv(t, []string{"COFFER_DB=postgres://coffer@127.0.0.1:1/none?connect_timeout=5"}, "check", "--data", data)
	if code == 0 || !strings.Contains(errOut, "postgres") {
		t.Errorf("got exit %d, %q; want a PostgreSQL connection error", code, errOut)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("the data directory got %d files; want none", len(ents))
	}
	if os.Getenv("COFFER_TEST_POSTGRES") == "" {
		t.Log("COFFER_TEST_POSTGRES not set: the real PostgreSQL half is skipped")
		return
	}
	db := pgtest.URL(t)
	if out, errOut, code := cofferdEnv(t, []string{"COFFER_DB=" + db}, "admin", "currency", "add", "--data", data, "--code", "PGX", "--letter", "P"); code != 0 {
		t.Fatalf("currency add with COFFER_DB: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := cofferdEnv(t, nil, "admin", "currency", "list", "--data", data, "--db", db)
	if code != 0 || !strings.Contains(out, "PGX") {
		t.Errorf("currency list --db: exit %d, %q %q; want PGX, added through COFFER_DB", code, out, errOut)
	}
}
