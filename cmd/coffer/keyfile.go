package main

// Key files.
//
// A key file is an age file (https://age-encryption.org, ASCII-armored),
// encrypted to a passphrase with age's scrypt recipient, so the standard
// tool opens it: `age -d FILE`. Inside is a short text document:
//
//	coffer key file 1
//	Key-ID: key_…
//	Member-ID: 123456789012
//	Server: https://coffer.example
//	Name: laptop
//	Fingerprint: sha256:…
//	Created: 2026-01-02T15:04:05Z
//
//	-----BEGIN PRIVATE KEY-----
//	…PKCS #8 Ed25519 private key…
//	-----END PRIVATE KEY-----
//
// The header lines say which key, member and server the file belongs to;
// the PEM block is the private key in the form OpenSSL reads
// (`age -d FILE | openssl pkey -pubout` prints its public key). The
// fingerprint is "sha256:" and the hex SHA-256 of the 32-byte raw public
// key, as the server shows it.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ca"
	"github.com/coffer-money/coffer/client"
)

// keyFileMagic is the first line of a key file's plaintext.
const keyFileMagic = "coffer key file 1"

// defaultWorkFactor is age's scrypt work factor for new key files (2^18,
// about a second on a current machine); maxWorkFactor is the most a key
// file may ask for when opened.
const (
	defaultWorkFactor = 18
	maxWorkFactor     = 22
)

// maxKeyFileSize bounds what is read as a key file.
const maxKeyFileSize = 64 << 10

// keyFile is the content of a decrypted key file.
type keyFile struct {
	KeyID    string
	MemberID string
	Server   string
	Name     string
	Created  time.Time
	Key      ed25519.PrivateKey
}

// Fingerprint is the public key's fingerprint, as the server shows it.
func (k *keyFile) Fingerprint() string {
	return coffer.KeyFingerprint(k.Key.Public().(ed25519.PublicKey))
}

// marshal returns the plaintext document.
func (k *keyFile) marshal() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(keyFileMagic + "\n")
	for _, h := range [][2]string{
		{"Key-ID", k.KeyID}, {"Member-ID", k.MemberID}, {"Server", k.Server}, {"Name", k.Name},
		{"Fingerprint", k.Fingerprint()}, {"Created", k.Created.UTC().Format(time.RFC3339)},
	} {
		if strings.ContainsAny(h[1], "\r\n") {
			return nil, fmt.Errorf("key file: %s holds a line break", h[0])
		}
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	b.WriteByte('\n')
	if err := pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// errNotKeyFile means a file decrypted but is not a coffer key file.
var errNotKeyFile = errors.New("not a coffer key file")

// parseKeyFile reads the plaintext document and checks that it holds
// together: every header present and well-formed, the private key Ed25519,
// the fingerprint that of the key.
func parseKeyFile(plain []byte) (*keyFile, error) {
	head, rest, ok := bytes.Cut(plain, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	if !ok || len(lines) == 0 || lines[0] != keyFileMagic {
		return nil, errNotKeyFile
	}
	h := map[string]string{}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ": ")
		if !ok {
			return nil, fmt.Errorf("%w: bad header line %q", errNotKeyFile, l)
		}
		h[name] = value
	}
	block, tail := pem.Decode(rest)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(tail)) > 0 {
		return nil, fmt.Errorf("%w: no PRIVATE KEY block", errNotKeyFile)
	}
	pk, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotKeyFile, err)
	}
	priv, ok := pk.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: the private key is not Ed25519", errNotKeyFile)
	}
	k := &keyFile{KeyID: h["Key-ID"], MemberID: h["Member-ID"], Server: h["Server"], Name: h["Name"], Key: priv}
	if k.Created, err = time.Parse(time.RFC3339, h["Created"]); err != nil {
		return nil, fmt.Errorf("%w: bad Created", errNotKeyFile)
	}
	switch {
	case !coffer.ValidKeyID(k.KeyID):
		return nil, fmt.Errorf("%w: bad Key-ID", errNotKeyFile)
	case !coffer.ValidMemberID(k.MemberID):
		return nil, fmt.Errorf("%w: bad Member-ID", errNotKeyFile)
	case h["Fingerprint"] != k.Fingerprint():
		return nil, fmt.Errorf("%w: the fingerprint does not match the key", errNotKeyFile)
	}
	if _, err := client.ParseServerURL(k.Server); err != nil {
		return nil, fmt.Errorf("%w: bad Server", errNotKeyFile)
	}
	return k, nil
}

// sealKeyFile encrypts the key file to passphrase with age's scrypt
// recipient, ASCII-armored.
func sealKeyFile(k *keyFile, passphrase string, workFactor int) ([]byte, error) {
	plain, err := k.marshal()
	if err != nil {
		return nil, err
	}
	out, err := sealWithPassphrase(plain, passphrase, workFactor)
	if err != nil {
		return nil, fmt.Errorf("encrypt key file: %w", err)
	}
	return out, nil
}

// sealWithPassphrase encrypts plain to passphrase with age's scrypt
// recipient, ASCII-armored, so the standard age tool opens it.
func sealWithPassphrase(plain []byte, passphrase string, workFactor int) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	if workFactor <= 0 {
		workFactor = defaultWorkFactor
	}
	r.SetWorkFactor(workFactor)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// errWrongPassphrase means the passphrase does not open the key file.
var errWrongPassphrase = errors.New("the passphrase does not open the key file")

// openKeyFile decrypts and parses a key file (armored or binary age).
func openKeyFile(data []byte, passphrase string) (*keyFile, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, errWrongPassphrase
	}
	id.SetMaxWorkFactor(maxWorkFactor)
	var src io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		src = armor.NewReader(bytes.NewReader(data))
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		if errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, errWrongPassphrase
		}
		return nil, fmt.Errorf("%w: %w", errNotKeyFile, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxKeyFileSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotKeyFile, err)
	}
	return parseKeyFile(plain)
}

// readKeyFileBytes reads a key file from disk, bounded, warning when others
// may read it.
func readKeyFileBytes(path string, warn io.Writer) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 && warn != nil {
		fmt.Fprintf(warn, "coffer: warning: %s is readable by other users; run 'chmod 600 %s'\n", path, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("read key file %s: %w: too large", path, errNotKeyFile)
	}
	return data, nil
}

// writeNewFile creates path with data and mode, refusing to overwrite an
// existing file, and makes both the file and its directory entry durable.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	if err := ca.WriteNewFile(path, data, mode); err != nil {
		if errors.Is(err, ca.ErrExists) {
			return fmt.Errorf("%s already exists; refusing to overwrite it", path)
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile replaces path with data atomically: a temporary file in the
// same directory, synced, renamed over the old one, the directory synced.
// A crash leaves the old file or the new one, never half of either.
func replaceFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries durable (where the system allows).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// publicKeyPEM returns the key's public half as a PEM PUBLIC KEY block.
func publicKeyPEM(k ed25519.PrivateKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// firstLine reads one line from r without its line ending.
func firstLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return line, nil
}
