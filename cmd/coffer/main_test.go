package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/client"
)

const testPassword = "correct-horse-battery"

// keeper runs the command-line keeper against a fake server with its own
// config directory, the way a member would from a shell.
type keeper struct {
	t   *testing.T
	f   *fakeServer
	dir string
	env map[string]string
	// fast makes the keeper retry without waiting.
	fast bool
}

func newKeeper(t *testing.T) *keeper {
	t.Helper()
	return &keeper{
		t: t, f: newFakeServer(t), dir: filepath.Join(t.TempDir(), "coffer"),
		env: map[string]string{"COFFER_PASSWORD": testPassword},
	}
}

// result is what one run of the keeper printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

// run runs "coffer --server URL --config DIR args..." with stdin.
func (k *keeper) run(stdin string, args ...string) result {
	k.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--server", k.f.URL(), "--config", k.dir}, args...)
	env := func(name string) string { return k.env[name] }
	var err error
	if k.fast {
		a := newApp(context.Background(), strings.NewReader(stdin), &out, &errb, env)
		a.clientOpts = []client.Option{client.WithRetry(6, time.Millisecond, time.Millisecond)}
		err = a.main(all)
	} else {
		err = run(context.Background(), all, strings.NewReader(stdin), &out, &errb, env)
	}
	code := report(err, &errb)
	return result{out.String(), errb.String(), code}
}

// ok runs the keeper and fails the test unless it exits 0.
func (k *keeper) ok(args ...string) string {
	k.t.Helper()
	r := k.run("", args...)
	if r.code != 0 {
		k.t.Fatalf("coffer %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

var memberIDLine = regexp.MustCompile(`Your member ID: (\d{12}) — keep it\.`)

// register makes a member, logs it in and returns its member ID.
func (k *keeper) register(args ...string) string {
	k.t.Helper()
	out := k.ok(append([]string{"register"}, args...)...)
	m := memberIDLine.FindStringSubmatch(out)
	if m == nil {
		k.t.Fatalf("register printed %q, want the member ID", out)
	}
	return m[1]
}

// newPurse opens a USD purse for the current member and returns its number.
func (k *keeper) newPurse(args ...string) string {
	k.t.Helper()
	var p struct{ Purse string }
	if err := json.Unmarshal([]byte(k.ok(append(args, "--json", "purse", "new", "usd")...)), &p); err != nil || p.Purse == "" {
		k.t.Fatalf("purse new: %v, purse %q", err, p.Purse)
	}
	return p.Purse
}

func (k *keeper) savedSessions() config {
	k.t.Helper()
	data, err := os.ReadFile(filepath.Join(k.dir, sessionsFile))
	if err != nil {
		k.t.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(data, &cfg); err != nil {
		k.t.Fatal(err)
	}
	return cfg
}

func TestRun_RegisterAndLogin(t *testing.T) {
	k := newKeeper(t)
	id := k.register("--email", "ann@example.com")

	t.Run("SavesPrivateFile", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(k.dir, sessionsFile))
		if err != nil {
			t.Fatal(err)
		}
		di, err := os.Stat(k.dir)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" {
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("sessions file mode %o, want 600", got)
			}
			if got := di.Mode().Perm(); got != 0o700 {
				t.Errorf("config dir mode %o, want 700", got)
			}
		}
		cfg := k.savedSessions()
		cr := cfg.Members[id]
		if cfg.Default != id || cr == nil || cr.Token == "" || cr.Server != k.f.URL() || cr.ExpiresAt.IsZero() {
			t.Errorf("saved %+v / %+v, want a session of %s on %s as the default", cfg, cr, id, k.f.URL())
		}
	})

	t.Run("Whoami", func(t *testing.T) {
		if out := k.ok("whoami"); !strings.Contains(out, id) || !strings.Contains(out, k.f.URL()) {
			t.Errorf("whoami printed %q, want %s and the server", out, id)
		}
	})

	t.Run("LoginByEmailPasswordOnStdin", func(t *testing.T) {
		delete(k.env, "COFFER_PASSWORD")
		defer func() { k.env["COFFER_PASSWORD"] = testPassword }()
		old := k.savedSessions().Members[id].Token
		r := k.run(testPassword+"\n", "login", "ann@example.com")
		if r.code != 0 || !strings.Contains(r.stdout, "Logged in as "+id) {
			t.Fatalf("got %+v, want logged in as %s", r, id)
		}
		if tok := k.savedSessions().Members[id].Token; tok == old || tok == "" {
			t.Errorf("token after login %q, want a new one", tok)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		k.env["COFFER_PASSWORD"] = "wrong-password"
		r := k.run("", "login", id)
		k.env["COFFER_PASSWORD"] = testPassword
		if r.code != 1 || r.stderr != "coffer: login refused: the login or password is wrong\n" {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("NoPassword", func(t *testing.T) {
		delete(k.env, "COFFER_PASSWORD")
		defer func() { k.env["COFFER_PASSWORD"] = testPassword }()
		r := k.run("", "login", id)
		if r.code != 1 || !strings.Contains(r.stderr, "no password given") {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("WeakPassword", func(t *testing.T) {
		k.env["COFFER_PASSWORD"] = "short"
		defer func() { k.env["COFFER_PASSWORD"] = testPassword }()
		r := k.run("", "register")
		if r.code != 1 || r.stderr != "coffer: the password needs at least 8 characters\n" {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestRun_As(t *testing.T) {
	k := newKeeper(t)
	ann := k.register()
	annPurse := k.newPurse()
	bob := k.register() // the last one logged in acts by default
	bobPurse := k.newPurse()

	if out := k.ok("purses"); !strings.Contains(out, bobPurse) || strings.Contains(out, annPurse) {
		t.Errorf("default purses %q, want bob's %s only", out, bobPurse)
	}
	if out := k.ok("--as", ann, "purses"); !strings.Contains(out, annPurse) || strings.Contains(out, bobPurse) {
		t.Errorf("--as %s purses %q, want ann's %s only", ann, out, annPurse)
	}
	if out := k.ok("purses", "--as", ann); !strings.Contains(out, annPurse) {
		t.Errorf("--as after the command: %q, want ann's %s", out, annPurse)
	}
	k.env["COFFER_MEMBER"] = ann
	if out := k.ok("whoami"); !strings.Contains(out, ann) {
		t.Errorf("COFFER_MEMBER=%s whoami: %q", ann, out)
	}
	delete(k.env, "COFFER_MEMBER")

	r := k.run("", "--as", "999999999999", "purses")
	if r.code != 1 || !strings.Contains(r.stderr, "no saved session for member 999999999999") {
		t.Errorf("unknown --as: exit %d, stderr %q", r.code, r.stderr)
	}

	t.Run("Logout", func(t *testing.T) {
		if out := k.ok("logout"); !strings.Contains(out, "Logged out "+bob) {
			t.Errorf("logout printed %q", out)
		}
		cfg := k.savedSessions()
		if cfg.Members[bob] != nil || cfg.Default != "" || cfg.Members[ann] == nil {
			t.Errorf("after logout saved %+v, want only ann", cfg)
		}
		// With one session left, it acts without --as.
		if out := k.ok("whoami"); !strings.Contains(out, ann) {
			t.Errorf("whoami after logout: %q, want %s", out, ann)
		}
		if r := k.run("", "--as", bob, "purses"); r.code != 1 || !strings.Contains(r.stderr, "coffer login "+bob) {
			t.Errorf("--as a logged-out member: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestRun_Send(t *testing.T) {
	k := newKeeper(t)
	k.register()
	bobPurse := k.newPurse()
	ann := k.register()
	annPurse := k.newPurse()
	k.f.fund(annPurse, 100_00)

	t.Run("MakesUpAndPrintsID", func(t *testing.T) {
		out := k.ok("send", "--from", annPurse, "--to", bobPurse, "--amount", "12.50", "--desc", "rent")
		m := regexp.MustCompile(`^Sent 12\.50 USD from (\S+) to (\S+): transfer ([A-Z2-7]{26}), applied\.\n$`).FindStringSubmatch(out)
		if m == nil || m[1] != annPurse || m[2] != bobPurse {
			t.Fatalf("send printed %q", out)
		}
		if sent := k.f.requests()[len(k.f.requests())-1]["transfer_id"]; sent != m[3] {
			t.Errorf("printed transfer ID %s, sent %s", m[3], sent)
		}
		if got := k.f.balance(bobPurse); got != 12_50 {
			t.Errorf("payee balance %d, want 1250", got)
		}
	})

	t.Run("SameIDPaysOnce", func(t *testing.T) {
		args := []string{"send", "--from", annPurse, "--to", bobPurse, "--amount", "1.00", "--id", "invoice-7"}
		if out := k.ok(args...); !strings.Contains(out, "transfer invoice-7, applied.") {
			t.Errorf("first send printed %q", out)
		}
		if out := k.ok(args...); !strings.Contains(out, "transfer invoice-7, already applied earlier; not paid again.") {
			t.Errorf("repeated send printed %q", out)
		}
		if got := k.f.balance(bobPurse); got != 13_50 {
			t.Errorf("payee balance %d, want 1350", got)
		}
	})

	t.Run("RetriesAfter503", func(t *testing.T) {
		k.f.failWith(503)
		before := len(k.f.requests())
		k.ok("send", "--from", annPurse, "--to", bobPurse, "--amount", "0.50")
		reqs := k.f.requests()[before:]
		if len(reqs) != 2 || reqs[0]["transfer_id"] != reqs[1]["transfer_id"] {
			t.Errorf("requests %v, want two with one transfer ID", reqs)
		}
	})

	t.Run("InsufficientFunds", func(t *testing.T) {
		r := k.run("", "send", "--from", annPurse, "--to", bobPurse, "--amount", "1000.00")
		want := "coffer: insufficient funds in " + annPurse + ": it holds 86.00 USD, less than 1000.00\n"
		if r.code != 1 || r.stderr != want {
			t.Errorf("got exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	})

	t.Run("IDConflict", func(t *testing.T) {
		r := k.run("", "send", "--from", annPurse, "--to", bobPurse, "--amount", "2.00", "--id", "invoice-7")
		if r.code != 1 || !strings.Contains(r.stderr, "transfer ID invoice-7 was already used for a different transfer") {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("ServerFailsEveryTime", func(t *testing.T) {
		k.fast = true
		defer func() { k.fast = false }()
		k.f.failWith(500, 500, 500, 500, 500, 500)
		r := k.run("", "send", "--from", annPurse, "--to", bobPurse, "--amount", "0.01", "--id", "try-1")
		if r.code != 1 || !strings.Contains(r.stderr, "run the same command with --id try-1") {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"send", "--from", annPurse, "--to", bobPurse},
			{"send", "--from", annPurse, "--to", bobPurse, "--amount", "1", "--id", "bad id"},
			{"send", "--from", annPurse, "--to", bobPurse, "--amount", "1", "extra"},
			{"send", "--frm", annPurse},
		} {
			if r := k.run("", args...); r.code != 2 || !strings.HasPrefix(r.stderr, "coffer: send: ") {
				t.Errorf("%q: exit %d, stderr %q; want 2 and a usage message", args, r.code, r.stderr)
			}
		}
	})

	t.Run("TransferAndWhois", func(t *testing.T) {
		if out := k.ok("transfer", "invoice-7"); !strings.Contains(out, "1.00 USD") || !strings.Contains(out, bobPurse) {
			t.Errorf("transfer printed %q", out)
		}
		if out := k.ok("whois", annPurse); out != "Purse "+annPurse+" belongs to member "+ann+".\n" {
			t.Errorf("whois printed %q", out)
		}
		if r := k.run("", "whois", "Z999999999999"); r.code != 1 || r.stderr != "coffer: purse Z999999999999 does not exist\n" {
			t.Errorf("whois of no purse: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("History", func(t *testing.T) {
		out := k.ok("history", annPurse)
		if !strings.HasPrefix(out, "DATE") || !strings.Contains(out, "-12.50") || !strings.Contains(out, "rent") {
			t.Errorf("history printed %q", out)
		}
		if out := k.ok("history", annPurse, "--limit", "1"); !strings.Contains(out, "More: coffer history "+annPurse+" --cursor 1") {
			t.Errorf("history --limit 1 printed %q, want a hint for more", out)
		}
		if r := k.run("", "history", annPurse, "--since", "yesterday"); r.code != 2 {
			t.Errorf("bad --since: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestRun_JSON(t *testing.T) {
	k := newKeeper(t)
	k.register()
	bobPurse := k.newPurse()
	ann := k.register()
	annPurse := k.newPurse()
	k.f.fund(annPurse, 50_00)

	var tr struct {
		TransferID               string `json:"transfer_id"`
		Status, Amount, Currency string
	}
	decodeJSON(t, k.ok("--json", "send", "--from", annPurse, "--to", bobPurse, "--amount", "5", "--id", "j-1"), &tr)
	if tr.TransferID != "j-1" || tr.Status != "applied" || tr.Amount != "5.00" || tr.Currency != "USD" {
		t.Errorf("send --json: %+v", tr)
	}
	k.ok("send", "--from", annPurse, "--to", bobPurse, "--amount", "1", "--id", "j-2")

	var purses struct {
		Purses []struct{ Purse, Currency, Balance string }
	}
	decodeJSON(t, k.ok("purses", "--json"), &purses)
	if len(purses.Purses) != 1 || purses.Purses[0].Purse != annPurse || purses.Purses[0].Balance != "44.00" {
		t.Errorf("purses --json: %+v", purses)
	}

	var page struct {
		Entries []struct {
			TransferID string `json:"transfer_id"`
			Amount     string
		}
		NextCursor *string `json:"next_cursor"`
	}
	decodeJSON(t, k.ok("--json", "history", annPurse, "--all", "--limit", "1"), &page)
	if len(page.Entries) != 3 || page.Entries[0].TransferID != "j-2" || page.NextCursor == nil || *page.NextCursor != "" {
		t.Errorf("history --all --json: %+v", page)
	}

	var owner struct {
		MemberID string `json:"member_id"`
	}
	decodeJSON(t, k.ok("--json", "whois", annPurse), &owner)
	if owner.MemberID != ann {
		t.Errorf("whois --json: %+v, want %s", owner, ann)
	}

	var cur struct{ Currencies []struct{ Code string } }
	decodeJSON(t, k.ok("--json", "currencies"), &cur)
	if len(cur.Currencies) != 2 {
		t.Errorf("currencies --json: %+v", cur)
	}

	var sessions struct {
		Sessions []struct {
			SessionID string `json:"session_id"`
			Current   bool
		}
	}
	decodeJSON(t, k.ok("--json", "sessions"), &sessions)
	if len(sessions.Sessions) != 1 || !sessions.Sessions[0].Current {
		t.Errorf("sessions --json: %+v", sessions)
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output %q is not JSON: %v", s, err)
	}
}

func TestRun_Sessions(t *testing.T) {
	k := newKeeper(t)
	id := k.register()
	// A second session of the same member, as from another device.
	other := newKeeper(t)
	other.f, other.env = k.f, k.env
	other.ok("login", id)

	out := k.ok("sessions")
	if n := strings.Count(out, "\n"); n != 4 || !strings.Contains(out, "*") {
		t.Fatalf("sessions printed %q, want a header, two sessions and the footnote", out)
	}
	var list struct {
		Sessions []struct {
			SessionID string `json:"session_id"`
			Current   bool
		}
	}
	decodeJSON(t, k.ok("--json", "sessions"), &list)
	var otherID string
	for _, s := range list.Sessions {
		if !s.Current {
			otherID = s.SessionID
		}
	}
	if out := k.ok("sessions", "revoke", otherID); !strings.Contains(out, "Session "+otherID+" revoked.") {
		t.Errorf("revoke printed %q", out)
	}
	r := other.run("", "purses")
	if r.code != 1 || !strings.Contains(r.stderr, "no longer accepts the session of member "+id) {
		t.Errorf("revoked session: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := k.run("", "sessions", "drop", "x"); r.code != 2 {
		t.Errorf("sessions drop: exit %d, want 2", r.code)
	}
}

func TestRun_Errors(t *testing.T) {
	t.Run("NotLoggedIn", func(t *testing.T) {
		k := newKeeper(t)
		r := k.run("", "purses")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "coffer: not logged in: run 'coffer login MEMBER_ID'") {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("SavedExpiryPassed", func(t *testing.T) {
		k := newKeeper(t)
		id := k.register()
		cfg := k.savedSessions()
		cfg.Members[id].ExpiresAt = time.Now().Add(-time.Minute)
		st := &store{dir: k.dir}
		if err := st.save(&cfg); err != nil {
			t.Fatal(err)
		}
		// The server extends sessions in use, so the keeper asks it
		// rather than trusting the expiry saved at login.
		k.ok("purses")
		if out := k.ok("whoami"); !strings.Contains(out, "may have ended") {
			t.Errorf("whoami printed %q, want a hint that the session may have ended", out)
		}
	})
	t.Run("ServerDown", func(t *testing.T) {
		k := newKeeper(t)
		url := k.f.URL()
		k.f.srv.Close()
		r := k.run("", "currencies")
		if r.code != 1 || r.stderr != "coffer: cannot reach the server at "+url+": connection refused\n" {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		k := newKeeper(t)
		for _, args := range [][]string{{}, {"bogus"}, {"--bogus", "purses"}, {"login"}, {"purse"}, {"history"}, {"--server", "localhost:1", "currencies"}} {
			r := k.run("", args...)
			if r.code != 2 || !strings.HasPrefix(r.stderr, "coffer") && !strings.Contains(r.stderr, "\ncoffer: ") {
				t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine") {
				t.Errorf("%q: stderr has a stack trace: %q", args, r.stderr)
			}
		}
	})
	t.Run("UnknownCurrency", func(t *testing.T) {
		k := newKeeper(t)
		k.register()
		r := k.run("", "purse", "new", "XYZ")
		if r.code != 1 || r.stderr != "coffer: there is no currency \"XYZ\"\n" {
			t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestRun_Help(t *testing.T) {
	k := newKeeper(t)
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "send"}, {"send", "-h"}, {"history", "--help"}, {"purses", "-h"}} {
		r := k.run("", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: coffer") || r.stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if out := k.ok("help", "send"); !strings.Contains(out, "--amount AMOUNT") || !strings.Contains(out, "-desc TEXT") {
		t.Errorf("help send printed %q, want its flags", out)
	}
	if out := k.ok("help"); !strings.Contains(out, "history") || !strings.Contains(out, "--as MEMBER_ID") {
		t.Errorf("help printed %q", out)
	}
	if r := k.run("", "help", "nope"); r.code != 2 {
		t.Errorf("help nope: exit %d, want 2", r.code)
	}
}
