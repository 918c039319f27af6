package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// backupNames are the files a backup of key file path writes: the key
// file under its own name, its public key and a recovery note.
func backupNames(path string) (keyName, pubName, noteName string) {
	base := filepath.Base(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	return base, stem + ".pub.pem", stem + ".RECOVERY.txt"
}

func keysBackup(a *app, dir string) error {
	path, err := a.localKeyFile()
	if err != nil {
		return err
	}
	data, err := readKeyFileBytes(path, a.stderr)
	if err != nil {
		return err
	}
	// Opening the file proves the backup can be used: the passphrase is
	// known and the file is whole.
	kf, err := a.openKey(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	keyName, pubName, noteName := backupNames(path)
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyName, data, 0o600},
		{pubName, publicKeyPEM(kf.Key), 0o644},
		{noteName, recoveryNote(kf, keyName, pubName, a.now()), 0o644},
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f.name)); err == nil {
			return fmt.Errorf("backup: %s already exists in %s; refusing to overwrite it (choose another directory)", f.name, dir)
		}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeNewFile(p, f.data, f.mode); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return fmt.Errorf("backup: %w", err)
		}
		written = append(written, p)
	}
	// Read the copy back: a removable medium may fail silently.
	if copied, err := os.ReadFile(filepath.Join(dir, keyName)); err != nil || string(copied) != string(data) {
		return fmt.Errorf("backup: the copy in %s does not read back as written; use another medium", dir)
	}
	return a.show(map[string]any{"key_id": kf.KeyID, "fingerprint": kf.Fingerprint(), "files": written}, func() error {
		fmt.Fprintf(a.stdout, "Backed up key %s (%s) to %s:\n", kf.KeyID, kf.Fingerprint(), dir)
		for _, w := range written {
			fmt.Fprintf(a.stdout, "  %s\n", filepath.Base(w))
		}
		fmt.Fprintf(a.stdout, "Restore with: coffer keys restore --from %s\n", dir)
		return nil
	})
}

// recoveryNote is the README-style text a backup carries. It holds
// nothing secret.
func recoveryNote(kf *keyFile, keyName, pubName string, now time.Time) []byte {
	return fmt.Appendf(nil, `coffer key file backup
======================

Member ID:    %s
Key ID:       %s
Key name:     %s
Server:       %s
Fingerprint:  %s
Key created:  %s
Backed up:    %s

%s is a coffer key file: the private key that signs requests as member %s,
encrypted with its passphrase in the age format (https://age-encryption.org).
Without the passphrase it is of no use; with it, it acts for the member until
the key is revoked. Keep this medium and the passphrase apart and safe.
%s is its public key; the fingerprint above is the SHA-256 of its 32 raw bytes.

To use the key on a computer again:
    coffer keys restore --from DIR        (DIR is where this note is)
  or copy %s anywhere (mode 600) and run
    coffer --key %s purses

To look inside with the standard age tool (asks for the passphrase):
    age -d %s

If this medium, the key file or its passphrase may be lost or in other hands,
revoke the key at once, logged in with your password:
    coffer keys revoke %s

Losing the key file locks you out of nothing: log in with your password (and
confirmation), revoke the key and make a new one with 'coffer keys new'.
`, kf.MemberID, kf.KeyID, kf.Name, kf.Server, kf.Fingerprint(), kf.Created.UTC().Format(time.RFC3339),
		now.UTC().Format(time.RFC3339), keyName, kf.MemberID, pubName, keyName, keyName, keyName, kf.KeyID)
}

func keysRestore(a *app, dir, out string) error {
	matches, err := filepath.Glob(filepath.Join(dir, "*.age"))
	if err != nil {
		return err
	}
	if len(matches) == 0 {
		return fmt.Errorf("restore: no key file (*.age) in %s", dir)
	}
	if len(matches) > 1 && a.keys.file == "" {
		names := make([]string, len(matches))
		for i, m := range matches {
			names[i] = filepath.Base(m)
		}
		return &usageError{msg: fmt.Sprintf("restore: %s holds several key files (%s): pick one with --key %s/NAME", dir, strings.Join(names, ", "), dir), cmd: "keys"}
	}
	src := matches[0]
	if a.keys.file != "" {
		src = a.keys.file
	}
	data, err := readKeyFileBytes(src, nil)
	if err != nil {
		return err
	}
	kf, err := a.openKey(src)
	if err != nil {
		return err
	}
	if out == "" {
		kdir, err := a.keysDir()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(kdir, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		out = filepath.Join(kdir, filepath.Base(src))
	}
	if err := writeNewFile(out, data, 0o600); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return a.show(map[string]string{"key_id": kf.KeyID, "member_id": kf.MemberID, "fingerprint": kf.Fingerprint(), "file": out}, func() error {
		fmt.Fprintf(a.stdout, "Restored key %s of member %s (%s) to %s.\nCheck that it still works: coffer --key %s keys list\n",
			kf.KeyID, kf.MemberID, kf.Fingerprint(), out, out)
		return nil
	})
}
