package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/password"
)

// keyOpts are the keeper's key file settings: the global --key and
// --passphrase-fd flags and what tests tune.
type keyOpts struct {
	file   string // --key FILE
	passFD string // --passphrase-fd N; "" when not given
	// ignoreEnv makes COFFER_KEY count for nothing (keys new must use
	// the password session).
	ignoreEnv bool
	// workFactor is age's scrypt work factor for files written; 0 means
	// defaultWorkFactor. Tests lower it.
	workFactor int

	fdReader *bufio.Reader // the --passphrase-fd stream, read line by line

	// opened is the key file opened last, so that one invocation asks for
	// its passphrase once.
	opened     *keyFile
	openedPath string
}

// keyFlags defines the global key file flags.
func (a *app) keyFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.keys.file, "key", a.keys.file, "sign requests with the key `FILE` instead of a session (env COFFER_KEY)")
	fs.StringVar(&a.keys.passFD, "passphrase-fd", a.keys.passFD, "read the key file passphrase from file descriptor `N` (else COFFER_PASSPHRASE, else asked)")
}

// keyFilePath is the key file to sign with: --key, else COFFER_KEY.
func (a *app) keyFilePath() string {
	if a.keys.file != "" {
		return a.keys.file
	}
	if a.keys.ignoreEnv {
		return ""
	}
	return a.env("COFFER_KEY")
}

// keySession is session for --key: a client that signs every request with
// the key file's key and sends no token, for the member the file names.
func (a *app) keySession() (*client.Client, *credentials, error) {
	if a.certFile != "" || a.certKeyFile != "" {
		return nil, nil, usagef("--key and --cert exclude each other: sign with a key file or present a certificate, not both")
	}
	path := a.keyFilePath()
	kf, err := a.openKey(path)
	if err != nil {
		return nil, nil, err
	}
	if a.as != "" && a.as != kf.MemberID {
		return nil, nil, usagef("--as %s does not match the key file, which is member %s's", a.as, kf.MemberID)
	}
	server := a.server
	if server == "" {
		server = kf.Server
	}
	c, err := a.signingClient(server, kf)
	if err != nil {
		return nil, nil, err
	}
	return c, &credentials{Server: c.BaseURL(), MemberID: kf.MemberID}, nil
}

// signingClient builds a client that signs with kf. It adds the same
// options newClient does, with the signer last: it wraps whatever
// transport the options before it chose (TLS settings included).
func (a *app) signingClient(server string, kf *keyFile) (*client.Client, error) {
	if _, err := client.ParseServerURL(server); err != nil {
		return nil, usagef("%v", err)
	}
	opts := append([]client.Option{client.WithUserAgent(userAgent())}, a.clientOpts...)
	tlsOpts, err := a.tlsOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, tlsOpts...)
	opts = append(opts, client.WithSigner(kf.KeyID, kf.Key))
	return client.New(server, opts...), nil
}

// openKey reads and decrypts a key file, asking for its passphrase.
func (a *app) openKey(path string) (*keyFile, error) {
	if a.keys.opened != nil && a.keys.openedPath == path {
		return a.keys.opened, nil
	}
	data, err := readKeyFileBytes(path, a.stderr)
	if err != nil {
		return nil, err
	}
	pass, err := a.passphrase("Passphrase for key file " + filepath.Base(path) + ": ")
	if err != nil {
		return nil, err
	}
	kf, err := openKeyFile(data, pass)
	switch {
	case errors.Is(err, errWrongPassphrase):
		return nil, fmt.Errorf("%s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("%s is %w", path, err)
	}
	a.keys.opened, a.keys.openedPath = kf, path
	return kf, nil
}

// passphrase reads a key file passphrase: from --passphrase-fd, else
// COFFER_PASSPHRASE, else typed at the terminal, else one line of stdin.
func (a *app) passphrase(prompt string) (string, error) {
	return a.secretLine("COFFER_PASSPHRASE", prompt)
}

func (a *app) secretLine(envName, prompt string) (string, error) {
	if a.keys.passFD != "" {
		if a.keys.fdReader == nil {
			fd, err := strconv.Atoi(a.keys.passFD)
			if err != nil || fd < 0 {
				return "", usagef("--passphrase-fd wants a file descriptor number, not %q", a.keys.passFD)
			}
			if fd == 0 {
				a.keys.fdReader = a.input()
			} else {
				f := openFD(fd)
				if f == nil {
					return "", usagef("--passphrase-fd %d is not an open file descriptor", fd)
				}
				a.keys.fdReader = bufio.NewReader(f)
			}
		}
		line, err := firstLine(a.keys.fdReader)
		if err != nil {
			return "", fmt.Errorf("read the passphrase from file descriptor %s: %w", a.keys.passFD, err)
		}
		return line, nil
	}
	return a.readSecret(envName, prompt, "passphrase")
}

// newPassphrase reads a passphrase for a key file being written: asked
// twice at a terminal, and held to the password policy (at least 10
// characters, not a common password).
func (a *app) newPassphrase(envName string) (string, error) {
	p, err := a.secretLine(envName, "Choose a passphrase for the key file: ")
	if err != nil {
		return "", err
	}
	if _, tty := a.terminal(); tty && a.keys.passFD == "" && a.env(envName) == "" {
		again, err := a.secretLine(envName, "Type it again: ")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", errors.New("the two passphrases differ")
		}
	}
	switch err := password.Check(p); {
	case errors.Is(err, password.ErrTooShort):
		return "", fmt.Errorf("the passphrase must be at least %d characters long", password.MinLength)
	case errors.Is(err, password.ErrCommon):
		return "", errors.New("that passphrase is on a list of common passwords; choose another")
	case err != nil:
		return "", errors.New("the passphrase is not acceptable: use at most 1024 bytes of UTF-8 text")
	}
	return p, nil
}

// keysDir is where key files live by default: the config dir's keys/.
func (a *app) keysDir() (string, error) {
	st, err := a.store()
	if err != nil {
		return "", err
	}
	return filepath.Join(st.dir, "keys"), nil
}

// localKeyFile picks the key file for commands that work on the file
// itself: --key (or COFFER_KEY), else the only key file in the config
// directory (of member --as, when given).
func (a *app) localKeyFile() (string, error) {
	if p := a.keyFilePath(); p != "" {
		return p, nil
	}
	dir, err := a.keysDir()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(dir, a.as+"*.age"))
	switch len(matches) {
	case 0:
		return "", usagef("no key file in %s: name one with --key FILE", dir)
	case 1:
		return matches[0], nil
	}
	return "", usagef("several key files in %s: name one with --key FILE", dir)
}

const keysHelp = `A key file holds a private signing key, made on this machine and encrypted with a
passphrase (the age format: 'age -d FILE' opens it). With 'coffer --key FILE COMMAND'
every request is signed with it (HTTP Message Signatures, RFC 9421) and no password
or session is needed, so scripts and merchant servers can use it.

  keys new [--name N] [--out FILE]   make a key pair, register the public key with
                                     the server (this needs the password session) and
                                     write the key file (default: the config dir's keys/)
  keys list                          list your keys
  keys rename KEY_ID NAME            rename a key
  keys revoke KEY_ID                 revoke a key; it stops working at once
  keys backup --to DIR               copy the key file, its public key and a recovery
                                     note to DIR (a removable medium); never overwrites
  keys restore --from DIR [--out FILE]
                                     copy a backed-up key file back and check it opens
  keys passwd                        change the key file's passphrase

The passphrase comes from --passphrase-fd N, COFFER_PASSPHRASE, the terminal, or a
line of standard input; 'keys passwd' reads the new one from COFFER_NEW_PASSPHRASE
or the next line. Losing a key file locks you out of nothing: log in with your
password, revoke the key and make a new one.`

func cmdKeys(a *app, args []string) error {
	fs := a.flags("keys")
	name := fs.String("name", "", "keys new: the key's `NAME` (default: this computer's name)")
	out := fs.String("out", "", "keys new, restore: write the key file to `FILE`")
	to := fs.String("to", "", "keys backup: the `DIR` to copy the key file to")
	from := fs.String("from", "", "keys restore: the `DIR` holding a backup")
	pos, err := a.parse(fs, "keys", args, 1, 3)
	if err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return &usageError{msg: "keys " + fmt.Sprintf(format, args...), cmd: "keys"}
	}
	only := func(sub string, flags map[string]string) error {
		for f, v := range flags {
			if v != "" {
				return bad("%s: --%s does not apply", sub, f)
			}
		}
		return nil
	}
	sub, rest := pos[0], pos[1:]
	want := func(n int, usage string) error {
		if len(rest) != n {
			return bad("%s: want 'coffer keys %s %s'", sub, sub, usage)
		}
		return nil
	}
	switch sub {
	case "new":
		if err := want(0, "[--name N] [--out FILE]"); err != nil {
			return err
		}
		if err := only("new", map[string]string{"to": *to, "from": *from}); err != nil {
			return err
		}
		return keysNew(a, *name, *out)
	case "list":
		if err := want(0, ""); err != nil {
			return err
		}
		if err := only("list", map[string]string{"name": *name, "out": *out, "to": *to, "from": *from}); err != nil {
			return err
		}
		return keysList(a)
	case "rename":
		if err := want(2, "KEY_ID NAME"); err != nil {
			return err
		}
		if err := only("rename", map[string]string{"name": *name, "out": *out, "to": *to, "from": *from}); err != nil {
			return err
		}
		return keysRename(a, rest[0], rest[1])
	case "revoke":
		if err := want(1, "KEY_ID"); err != nil {
			return err
		}
		if err := only("revoke", map[string]string{"name": *name, "out": *out, "to": *to, "from": *from}); err != nil {
			return err
		}
		return keysRevoke(a, rest[0])
	case "backup":
		if err := want(0, "--to DIR"); err != nil {
			return err
		}
		if err := only("backup", map[string]string{"name": *name, "out": *out, "from": *from}); err != nil {
			return err
		}
		if *to == "" {
			return bad("backup: name the directory with --to DIR")
		}
		return keysBackup(a, *to)
	case "restore":
		if err := want(0, "--from DIR [--out FILE]"); err != nil {
			return err
		}
		if err := only("restore", map[string]string{"name": *name, "to": *to}); err != nil {
			return err
		}
		if *from == "" {
			return bad("restore: name the backup directory with --from DIR")
		}
		return keysRestore(a, *from, *out)
	case "passwd":
		if err := want(0, ""); err != nil {
			return err
		}
		if err := only("passwd", map[string]string{"name": *name, "out": *out, "to": *to, "from": *from}); err != nil {
			return err
		}
		return keysPasswd(a)
	}
	return bad("%q: want new, list, rename, revoke, backup, restore or passwd", sub)
}

// defaultKeyName names a key after this computer.
func defaultKeyName() string {
	host, err := os.Hostname()
	if err != nil || host == "" || coffer.ValidateKeyName(host) != nil {
		return "key file"
	}
	name := "keeper on " + host
	if utf8.RuneCountInString(name) > coffer.MaxKeyName {
		name = string([]rune(name)[:coffer.MaxKeyName])
	}
	return name
}

func keysNew(a *app, name, out string) error {
	if a.keys.file != "" {
		return &usageError{msg: "keys new: a key is added with your password session, not with --key (a key cannot add keys)", cmd: "keys"}
	}
	a.keys.ignoreEnv = true
	if name == "" {
		name = defaultKeyName()
	}
	if err := coffer.ValidateKeyName(name); err != nil {
		return &usageError{msg: "keys new: --name: " + clause(coffer.ErrorMessage(err)), cmd: "keys"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if out != "" {
		if _, err := os.Lstat(out); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite it", out)
		}
	}
	pass, err := a.newPassphrase("COFFER_PASSPHRASE")
	if err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("make a key pair: %w", err)
	}
	k, err := c.AddKey(a.ctx, name, pub)
	if err != nil {
		if client.IsCode(err, "forbidden") {
			return sentence(err, "the server refused to add the key: %s", clause(err.Error()))
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	kf := &keyFile{KeyID: k.KeyID, MemberID: cr.MemberID, Server: c.BaseURL(), Name: k.Name, Created: k.CreatedAt, Key: priv}
	if k.Fingerprint != kf.Fingerprint() {
		// The server registered some other key: never use this one.
		c.RevokeKey(a.ctx, k.KeyID)
		return fmt.Errorf("the server answered with fingerprint %s for key %s, not %s; the key was revoked", k.Fingerprint, k.KeyID, kf.Fingerprint())
	}
	// A failure from here on leaves a registered key nobody holds:
	// revoke it, so that it cannot linger.
	abandon := func(cause error) error {
		if rerr := c.RevokeKey(a.ctx, k.KeyID); rerr != nil {
			return fmt.Errorf("%w; key %s is registered but its key file was not written: revoke it with 'coffer keys revoke %s'", cause, k.KeyID, k.KeyID)
		}
		return fmt.Errorf("%w; key %s was revoked again", cause, k.KeyID)
	}
	data, err := sealKeyFile(kf, pass, a.keys.workFactor)
	if err != nil {
		return abandon(err)
	}
	if out == "" {
		dir, err := a.keysDir()
		if err != nil {
			return abandon(err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return abandon(fmt.Errorf("write key file: %w", err))
		}
		out = filepath.Join(dir, cr.MemberID+"-"+k.KeyID+".age")
	}
	if err := writeNewFile(out, data, 0o600); err != nil {
		return abandon(fmt.Errorf("write key file: %w", err))
	}
	return a.show(struct {
		*client.Key
		File     string `json:"file"`
		MemberID string `json:"member_id"`
	}{k, out, cr.MemberID}, func() error {
		tw := a.table()
		fmt.Fprintf(tw, "Key:\t%s (%s)\n", k.KeyID, k.Name)
		fmt.Fprintf(tw, "Fingerprint:\t%s\n", k.Fingerprint)
		fmt.Fprintf(tw, "Key file:\t%s\n", out)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Sign with it: coffer --key %s purses\nBack it up:   coffer --key %s keys backup --to /media/USB\n", out, out)
		return nil
	})
}

func keysList(a *app) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	list, err := c.Keys(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(map[string]any{"keys": nonNil(list)}, func() error {
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "No keys yet. Make one with 'coffer keys new'.")
			return nil
		}
		tw := a.table()
		fmt.Fprintln(tw, "\tKEY\tNAME\tSTATUS\tCREATED\tLAST USED\tFINGERPRINT")
		for _, k := range list {
			mark := ""
			if k.Current {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, k.KeyID, oneLine(k.Name), k.Status,
				humanTime(k.CreatedAt), humanTime(k.LastUsedAt), k.Fingerprint)
		}
		return tw.Flush()
	})
}

func keysRename(a *app, id, name string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	k, err := c.RenameKey(a.ctx, id, name)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(k, "Key %s is now named %q.\n", k.KeyID, k.Name)
}

func keysRevoke(a *app, id string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if err := c.RevokeKey(a.ctx, id); err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(map[string]string{"key_id": id, "status": "revoked"}, "Key %s revoked; it no longer signs anything.\n", id)
}

func keysPasswd(a *app) error {
	path, err := a.localKeyFile()
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	kf, err := a.openKey(path)
	if err != nil {
		return err
	}
	pass, err := a.newPassphrase("COFFER_NEW_PASSPHRASE")
	if err != nil {
		return err
	}
	data, err := sealKeyFile(kf, pass, a.keys.workFactor)
	if err != nil {
		return err
	}
	if err := replaceFile(path, data, fi.Mode().Perm()&0o600); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	return a.showf(map[string]string{"key_id": kf.KeyID, "file": path, "status": "passphrase_changed"}, "The passphrase of %s is changed. Backups made before still open with the old one.\n", path)
}
