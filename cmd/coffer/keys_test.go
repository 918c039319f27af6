package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	service "github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// testPassphrase protects the key files the tests write.
const testPassphrase = "key file passphrase 2026"

// testWorkFactor keeps scrypt cheap in tests; files stay valid age files.
const testWorkFactor = 10

// keyServer is the real API in-process, plain HTTP, or HTTPS when tls.
type keyServer struct {
	srv *httptest.Server
	db  *sqlite.DB
}

func newKeyServer(t *testing.T, tls bool) *keyServer {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	svc := service.New(db, engine, log, service.Config{
		Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}})
	api := httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true})
	s := &keyServer{db: db}
	if tls {
		s.srv = httptest.NewTLSServer(api)
	} else {
		s.srv = httptest.NewServer(api)
	}
	t.Cleanup(func() {
		s.srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return s
}

// keyKeeper runs the keeper in-process with its own config directory and
// environment, with cheap key file encryption.
type keyKeeper struct {
	t      *testing.T
	config string
	env    map[string]string
}

func newKeyKeeper(t *testing.T, server string) *keyKeeper {
	return &keyKeeper{t: t, config: filepath.Join(t.TempDir(), "coffer"), env: map[string]string{
		"COFFER_PASSWORD": testPassword, "COFFER_PASSPHRASE": testPassphrase, "COFFER_SERVER": server}}
}

// in returns the keeper reporting to t, for use inside a subtest.
func (k *keyKeeper) in(t *testing.T) *keyKeeper {
	c := *k
	c.t = t
	return &c
}

func (k *keyKeeper) run(stdin string, args ...string) result {
	k.t.Helper()
	var out, errb bytes.Buffer
	a := newApp(context.Background(), strings.NewReader(stdin), &out, &errb, func(n string) string { return k.env[n] })
	a.keys.workFactor = testWorkFactor
	a.clientOpts = []client.Option{client.WithRetry(3, time.Millisecond, time.Millisecond)}
	err := a.main(append([]string{"--config", k.config}, args...))
	code := report(err, &errb)
	return result{out.String(), errb.String(), code}
}

func (k *keyKeeper) ok(args ...string) string {
	k.t.Helper()
	r := k.run("", args...)
	if r.code != 0 {
		k.t.Fatalf("coffer %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs the keeper and wants exit code 1 or 2 with stderr holding want.
func (k *keyKeeper) fails(code int, want string, args ...string) {
	k.t.Helper()
	r := k.run("", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		k.t.Fatalf("coffer %s: got exit %d, stderr %q; want exit %d mentioning %q", strings.Join(args, " "), r.code, r.stderr, code, want)
	}
}

func (k *keyKeeper) register() string {
	k.t.Helper()
	m := regexp.MustCompile(`Your member ID: (\d{12})`).FindStringSubmatch(k.ok("register"))
	if m == nil {
		k.t.Fatal("register printed no member ID")
	}
	return m[1]
}

type newKeyJSON struct {
	KeyID       string `json:"key_id"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	File        string `json:"file"`
	MemberID    string `json:"member_id"`
}

func (k *keyKeeper) newKey(args ...string) newKeyJSON {
	k.t.Helper()
	var nk newKeyJSON
	if err := json.Unmarshal([]byte(k.ok(append([]string{"--json", "keys", "new"}, args...)...)), &nk); err != nil || !coffer.ValidKeyID(nk.KeyID) {
		k.t.Fatalf("keys new: %v, %+v", err, nk)
	}
	return nk
}

// TestRun_Keys walks through a key file's life with the keeper against the
// real server: made with the session, used with no session at all to move
// money, listed, renamed, backed up, restored, its passphrase changed, and
// revoked.
func TestRun_Keys(t *testing.T) {
	s := newKeyServer(t, false)
	k := newKeyKeeper(t, s.srv.URL)
	issuer := k.register()
	member := k.register()
	var issPurse, purse string
	{
		var p struct{ Purse string }
		json.Unmarshal([]byte(k.ok("--as", issuer, "--json", "purse", "new", "USD")), &p)
		issPurse = p.Purse
		if err := s.db.SetIssuer(context.Background(), issPurse, 1_000_000_00); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(k.ok("--as", member, "--json", "purse", "new", "USD")), &p)
		purse = p.Purse
		k.ok("--as", issuer, "send", "--from", issPurse, "--to", purse, "--amount", "100.00")
	}

	nk := k.newKey("--as", member, "--name", "merchant server")
	// A second keeper with no saved session at all: only the key file.
	other := newKeyKeeper(t, "")
	other.env["COFFER_PASSWORD"] = ""
	t.Run("KeyFile", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		if nk.MemberID != member || nk.Name != "merchant server" || !strings.HasPrefix(nk.Fingerprint, "sha256:") {
			t.Errorf("keys new printed %+v", nk)
		}
		fi, err := os.Stat(nk.File)
		if err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(nk.File) != filepath.Join(k.config, "keys") {
			t.Fatalf("key file %s: %v %v, want mode 0600 in the config dir's keys/", nk.File, fi, err)
		}
		data, _ := os.ReadFile(nk.File)
		if !bytes.HasPrefix(data, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) || bytes.Contains(data, []byte("PRIVATE KEY")) {
			t.Fatalf("the key file is not an armored age file:\n%s", data)
		}
		kf, err := openKeyFile(data, testPassphrase)
		if err != nil || kf.KeyID != nk.KeyID || kf.MemberID != member || kf.Server != s.srv.URL || kf.Fingerprint() != nk.Fingerprint {
			t.Fatalf("openKeyFile = %+v, %v", kf, err)
		}
		if _, err := openKeyFile(data, "wrong passphrase"); err != errWrongPassphrase {
			t.Errorf("a wrong passphrase gave %v, want errWrongPassphrase", err)
		}
	})

	t.Run("SignedWithoutSession", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		if out := other.ok("--key", nk.File, "purses"); !strings.Contains(out, purse) || !strings.Contains(out, "100.00") {
			t.Errorf("purses with --key: %q", out)
		}
		out := other.ok("--key", nk.File, "send", "--from", purse, "--to", issPurse, "--amount", "12.50", "--id", "signed-1")
		if !strings.Contains(out, "12.50") || !strings.Contains(out, "signed-1") {
			t.Errorf("send with --key: %q", out)
		}
		// The same again is safe (same transfer ID), and is a new signature.
		if out := other.ok("--key", nk.File, "send", "--from", purse, "--to", issPurse, "--amount", "12.50", "--id", "signed-1"); !strings.Contains(out, "not paid again") {
			t.Errorf("repeated send with --key: %q", out)
		}
		other.env["COFFER_KEY"] = nk.File
		if out := other.ok("purse", purse); !strings.Contains(out, "87.50") {
			t.Errorf("purse with COFFER_KEY: %q, want balance 87.50", out)
		}
		delete(other.env, "COFFER_KEY")
		other.fails(2, "does not match the key file", "--key", nk.File, "--as", issuer, "purses")
	})
	t.Run("PassphraseSources", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		delete(other.env, "COFFER_PASSPHRASE")
		defer func() { other.env["COFFER_PASSPHRASE"] = testPassphrase }()
		if r := other.run(testPassphrase+"\n", "--key", nk.File, "purses"); r.code != 0 {
			t.Errorf("passphrase on stdin: %+v", r)
		}
		if r := other.run(testPassphrase+"\n", "--key", nk.File, "--passphrase-fd", "0", "purses"); r.code != 0 {
			t.Errorf("--passphrase-fd 0: %+v", r)
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		pw.WriteString(testPassphrase + "\n")
		pw.Close()
		if r := other.run("", "--key", nk.File, "--passphrase-fd", itoa(int(pr.Fd())), "purses"); r.code != 0 {
			t.Errorf("--passphrase-fd on a pipe: %+v", r)
		}
		r := other.run("not the passphrase\n", "--key", nk.File, "--passphrase-fd", "0", "purses")
		if r.code != 1 || !strings.Contains(r.stderr, "passphrase does not open") {
			t.Errorf("wrong passphrase on fd 0: %+v", r)
		}
		r = other.run("not the passphrase\n", "--key", nk.File, "purses")
		if r.code != 1 || !strings.Contains(r.stderr, "passphrase does not open") {
			t.Errorf("wrong passphrase: %+v", r)
		}
		other.fails(2, "--passphrase-fd wants", "--key", nk.File, "--passphrase-fd", "x", "purses")
	})
	t.Run("ListAndRename", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		out := other.ok("--key", nk.File, "keys", "list")
		if !strings.Contains(out, "* ") || !strings.Contains(out, nk.KeyID) || !strings.Contains(out, "merchant server") {
			t.Errorf("keys list: %q, want the key marked current", out)
		}
		other.ok("--key", nk.File, "keys", "rename", nk.KeyID, "shop")
		if out := k.ok("--as", member, "keys", "list"); !strings.Contains(out, "shop") || strings.Contains(out, "* ") {
			t.Errorf("keys list with the session: %q", out)
		}
	})
	t.Run("KeysCannotAddKeys", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		other.fails(2, "not with --key", "--key", nk.File, "keys", "new")
	})

	backup := filepath.Join(t.TempDir(), "usb")
	t.Run("Backup", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		out := k.ok("--as", member, "--key", nk.File, "keys", "backup", "--to", backup)
		if !strings.Contains(out, nk.Fingerprint) {
			t.Errorf("backup printed %q, want the fingerprint", out)
		}
		keyName, pubName, noteName := backupNames(nk.File)
		copied, _ := os.ReadFile(filepath.Join(backup, keyName))
		orig, _ := os.ReadFile(nk.File)
		if !bytes.Equal(copied, orig) {
			t.Error("the backed-up key file differs from the original")
		}
		note, _ := os.ReadFile(filepath.Join(backup, noteName))
		for _, want := range []string{nk.KeyID, member, nk.Fingerprint, "age -d", "coffer keys restore", "coffer keys revoke"} {
			if !bytes.Contains(note, []byte(want)) {
				t.Errorf("the recovery note lacks %q:\n%s", want, note)
			}
		}
		if bytes.Contains(note, []byte(testPassphrase)) {
			t.Error("the recovery note holds the passphrase")
		}
		pub, _ := os.ReadFile(filepath.Join(backup, pubName))
		if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
			t.Errorf("public key file: %q", pub)
		}
		k.fails(1, "refusing to overwrite", "--key", nk.File, "keys", "backup", "--to", backup)
		k.fails(2, "--to DIR", "--key", nk.File, "keys", "backup")
	})
	t.Run("Restore", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		fresh := newKeyKeeper(t, "")
		out := fresh.ok("keys", "restore", "--from", backup)
		if !strings.Contains(out, nk.KeyID) {
			t.Errorf("restore printed %q", out)
		}
		restored := filepath.Join(fresh.config, "keys", filepath.Base(nk.File))
		if fi, err := os.Stat(restored); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("restored file: %v %v", fi, err)
		}
		if out := fresh.ok("--key", restored, "purses"); !strings.Contains(out, purse) {
			t.Errorf("purses with the restored key: %q", out)
		}
		// The only key file in the config dir is found without --key.
		fresh.env["COFFER_NEW_PASSPHRASE"] = "another fine passphrase"
		if out := fresh.ok("keys", "passwd"); !strings.Contains(out, "changed") {
			t.Errorf("passwd: %q", out)
		}
		fresh.fails(1, "refusing to overwrite", "keys", "restore", "--from", backup)
	})
	t.Run("Passwd", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		k.env["COFFER_NEW_PASSPHRASE"] = "a new passphrase for the file"
		defer delete(k.env, "COFFER_NEW_PASSPHRASE")
		k.ok("--key", nk.File, "keys", "passwd")
		k.fails(1, "passphrase does not open", "--key", nk.File, "purses")
		k.env["COFFER_PASSPHRASE"] = "a new passphrase for the file"
		defer func() { k.env["COFFER_PASSPHRASE"] = testPassphrase }()
		if out := k.ok("--key", nk.File, "purses"); !strings.Contains(out, purse) {
			t.Errorf("purses after passwd: %q", out)
		}
		if fi, _ := os.Stat(nk.File); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode after passwd: %o", fi.Mode().Perm())
		}
		k.env["COFFER_NEW_PASSPHRASE"] = "short"
		k.fails(1, "at least 10 characters", "--key", nk.File, "keys", "passwd")
		if entries, _ := os.ReadDir(filepath.Dir(nk.File)); len(entries) != 1 {
			t.Errorf("the keys dir holds %d entries after passwd, want just the key file", len(entries))
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		k.ok("--as", member, "keys", "revoke", nk.KeyID)
		k.env["COFFER_PASSPHRASE"] = "a new passphrase for the file"
		defer func() { k.env["COFFER_PASSPHRASE"] = testPassphrase }()
		k.fails(1, "revoked", "--key", nk.File, "purses")
	})
	t.Run("NewKeyRefusals", func(t *testing.T) {
		k, other := k.in(t), other.in(t)
		_, _ = k, other
		k.fails(1, "refusing to overwrite", "--as", member, "keys", "new", "--out", nk.File)
		k.env["COFFER_PASSPHRASE"] = "1234567890"
		defer func() { k.env["COFFER_PASSPHRASE"] = testPassphrase }()
		k.fails(1, "common", "--as", member, "keys", "new")
		fresh := newKeyKeeper(t, s.srv.URL)
		fresh.fails(1, "not logged in", "keys", "new")
		k.fails(2, "want new, list", "keys", "frobnicate")
		k.fails(2, "does not apply", "keys", "list", "--to", "x")
	})
}

// TestRun_KeysOverTLS checks that signing works through the TLS options
// (--ca): the signer must wrap the transport they set up.
func TestRun_KeysOverTLS(t *testing.T) {
	s := newKeyServer(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o644)
	k := newKeyKeeper(t, s.srv.URL)
	k.env["COFFER_CA"] = caFile
	k.register()
	nk := k.newKey()
	other := newKeyKeeper(t, s.srv.URL)
	other.env["COFFER_CA"] = caFile
	if out := other.ok("--key", nk.File, "keys", "list"); !strings.Contains(out, nk.KeyID) {
		t.Errorf("keys list over TLS: %q", out)
	}
}

func TestKeyFile_Parse(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	kf := &keyFile{KeyID: coffer.NewKeyID(), MemberID: "123456789012", Server: "https://coffer.example", Name: "n", Created: time.Now(), Key: priv}
	plain, err := kf.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseKeyFile(plain)
	if err != nil || got.KeyID != kf.KeyID || !got.Key.Equal(priv) {
		t.Fatalf("parseKeyFile = %+v, %v", got, err)
	}
	for name, mutate := range map[string]func(string) string{
		"Magic":       func(s string) string { return strings.Replace(s, keyFileMagic, "coffer key file 9", 1) },
		"Fingerprint": func(s string) string { return strings.Replace(s, "Fingerprint: sha256:", "Fingerprint: sha256:00", 1) },
		"KeyID":       func(s string) string { return strings.Replace(s, "Key-ID: key_", "Key-ID: kex_", 1) },
		"MemberID":    func(s string) string { return strings.Replace(s, "Member-ID: 1", "Member-ID: x", 1) },
		"Server":      func(s string) string { return strings.Replace(s, "Server: https", "Server: ftp", 1) },
		"NoPEM":       func(s string) string { return s[:strings.Index(s, "-----BEGIN")] },
		"Trailing":    func(s string) string { return s + "junk\n" },
	} {
		if _, err := parseKeyFile([]byte(mutate(string(plain)))); err == nil {
			t.Errorf("%s: a damaged key file parsed", name)
		}
	}
	sealed, err := sealKeyFile(kf, testPassphrase, testWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openKeyFile(sealed[:len(sealed)/2], testPassphrase); err == nil {
		t.Error("half a key file opened")
	}
	if _, err := openKeyFile([]byte("hello"), testPassphrase); err == nil {
		t.Error("a text file opened as a key file")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
