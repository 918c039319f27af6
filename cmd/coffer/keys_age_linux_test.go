package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair. The age tool reads passphrases only
// from a terminal, so the test gives it one.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		m.Close()
		return nil, nil, errno
	}
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		m.Close()
		return nil, nil, errno
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// ageDecrypt runs `age -d -o OUT FILE` on a terminal and types passphrase
// when it asks. It returns the decrypted bytes and what age printed.
func ageDecrypt(t *testing.T, age, file, passphrase string) ([]byte, string, error) {
	t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal to run age on: %v", err)
	}
	defer master.Close()
	out := filepath.Join(t.TempDir(), "plain")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, age, "-d", "-o", out, file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return nil, "", err
	}
	slave.Close()

	var mu sync.Mutex
	var screen bytes.Buffer
	typed := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			if !typed && strings.Contains(strings.ToLower(screen.String()), "passphrase") {
				typed = true
				io.WriteString(master, passphrase+"\r")
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	werr := cmd.Wait()
	master.Close()
	<-done
	mu.Lock()
	printed := screen.String()
	mu.Unlock()
	if werr != nil {
		return nil, printed, werr
	}
	plain, err := os.ReadFile(out)
	return plain, printed, err
}

// TestKeyFile_AgeDecrypts checks with the standard age tool that a key
// file written by the keeper is an ordinary passphrase-encrypted age file
// holding the key.
func TestKeyFile_AgeDecrypts(t *testing.T) {
	age, err := exec.LookPath("age")
	if err != nil {
		missingTool(t, "the age tool is not installed (apt-get install age); skipping the check with an independent decrypter")
	}
	s := newKeyServer(t, false)
	k := newKeyKeeper(t, s.srv.URL)
	member := k.register()
	nk := k.newKey("--name", "for age")

	plain, printed, err := ageDecrypt(t, age, nk.File, testPassphrase)
	if err != nil {
		t.Fatalf("age -d: %v\n%s", err, printed)
	}
	text := string(plain)
	for _, want := range []string{keyFileMagic, "Key-ID: " + nk.KeyID, "Member-ID: " + member, "Server: " + s.srv.URL,
		"Fingerprint: " + nk.Fingerprint, "-----BEGIN PRIVATE KEY-----"} {
		if !strings.Contains(text, want) {
			t.Errorf("age -d output lacks %q:\n%s", want, text)
		}
	}
	// The PEM block is the private key whose public half the server holds.
	b, _ := pem.Decode(plain[strings.Index(text, "-----BEGIN"):])
	if b == nil {
		t.Fatal("no PEM block in the decrypted key file")
	}
	pk, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv, ok := pk.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("the key is a %T, want ed25519", pk)
	}
	kf := &keyFile{Key: priv}
	if kf.Fingerprint() != nk.Fingerprint {
		t.Errorf("the decrypted key has fingerprint %s, want the registered %s", kf.Fingerprint(), nk.Fingerprint)
	}

	// A wrong passphrase does not open it.
	if _, printed, err := ageDecrypt(t, age, nk.File, "not the passphrase"); err == nil {
		t.Errorf("age -d with a wrong passphrase succeeded:\n%s", printed)
	}
}
