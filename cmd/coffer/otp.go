package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/otp"
)

const otpHelp = `The keeper becomes the member's code generator, for members without an
authenticator app. 'enroll' enrols a generator on the server, keeps its seed
in the config directory encrypted with a passphrase (age, scrypt), activates
it and prints the recovery codes (shown once: write them down).
'code' prints the current TOTP code (for logins and settings changes).
'answer CHALLENGE' prints the answer to a transfer's OCRA challenge and
shows what it pays: check the payee and amount before typing the answer.
A member who already has a factor confirms enrolling another with
--confirm CONFIRMATION_ID:CODE, as the server's answer tells.`

// otpSeedPath is where the member's generator seed is kept.
func (a *app) otpSeedPath(member string) (string, error) {
	st, err := a.store()
	if err != nil {
		return "", err
	}
	return filepath.Join(st.dir, "otp", member+".age"), nil
}

func cmdOTP(a *app, args []string) error {
	fs := a.flags("otp")
	confirm := fs.String("confirm", "", "step-up proof CONFIRMATION_ID:CODE, when the server asks for one")
	pos, err := a.parse(fs, "otp", args, 1, 2)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "enroll", "enrol":
		return a.otpEnrol(*confirm)
	case "code":
		seed, err := a.otpSeed()
		if err != nil {
			return err
		}
		code, err := otp.TOTP(otp.SHA1, seed, time.Now(), otp.TOTPDigits)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, code)
		return nil
	case "answer":
		if len(pos) != 2 {
			return &usageError{msg: "otp answer: missing CHALLENGE", cmd: "otp"}
		}
		su, _ := otp.ParseSuite(ocraSuite)
		if !su.ValidChallenge(pos[1]) {
			return &usageError{msg: fmt.Sprintf("otp answer: %q is not a challenge coffer sends", pos[1]), cmd: "otp"}
		}
		seed, err := a.otpSeed()
		if err != nil {
			return err
		}
		ans, err := su.Answer(seed, otp.Inputs{Question: pos[1]})
		if err != nil {
			return err
		}
		if parts := strings.Split(pos[1], "/"); len(parts) == 3 {
			fmt.Fprintf(a.stderr, "This answer pays %s to purse %s.\n", parts[1], parts[0])
		}
		fmt.Fprintln(a.stdout, ans)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("otp: unknown subcommand %q", pos[0]), cmd: "otp"}
}

// ocraSuite is the suite the server uses for transfers (app.OCRASuite).
const ocraSuite = "OCRA-1:HOTP-SHA256-8:QA64"

func (a *app) otpEnrol(confirm string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	ctx := a.ctx
	if confirm != "" {
		id, code, ok := strings.Cut(confirm, ":")
		if !ok {
			return &usageError{msg: "otp: --confirm wants CONFIRMATION_ID:CODE", cmd: "otp"}
		}
		ctx = client.WithConfirmation(ctx, id, code)
	}
	e, err := c.EnrolTOTP(ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	seed, err := otp.DecodeSecret(e.Secret)
	if err != nil {
		return fmt.Errorf("otp enroll: the server sent a bad seed: %w", err)
	}
	pass, err := a.newPassphrase("COFFER_PASSPHRASE")
	if err != nil {
		return err
	}
	sealed, err := sealSeed(seed, pass, a.keys.workFactor)
	if err != nil {
		return err
	}
	path, err := a.otpSeedPath(cr.MemberID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, sealed, 0o600); err != nil {
		return err
	}
	code, err := otp.TOTP(otp.SHA1, seed, time.Now(), otp.TOTPDigits)
	if err != nil {
		return err
	}
	codes, err := c.VerifyTOTP(a.ctx, code)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(map[string]any{"seed_file": path, "recovery_codes": nonNil(codes)}, func() error {
		fmt.Fprintf(a.stdout, "Code generator enrolled for %s; its seed is kept encrypted in %s.\n", cr.MemberID, path)
		if len(codes) > 0 {
			fmt.Fprintln(a.stdout, "Recovery codes (each works once; write them down now, they are not shown again):")
			for _, x := range codes {
				fmt.Fprintln(a.stdout, "  "+x)
			}
		}
		return nil
	})
}

// otpSeed opens the generator seed of the member the keeper acts as.
func (a *app) otpSeed() ([]byte, error) {
	cfg, err := a.loadCredentials()
	if err != nil {
		return nil, err
	}
	path, err := a.otpSeedPath(cfg)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no code generator for %s here: run 'coffer otp enroll' first", cfg)
	} else if err != nil {
		return nil, err
	}
	pass, err := a.passphrase("Passphrase of the code generator: ")
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		return nil, errors.New("the passphrase does not open the code generator")
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(data)), id)
	if err != nil {
		return nil, errors.New("the passphrase does not open the code generator")
	}
	seed, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return seed, nil
}

// loadCredentials returns the member ID the keeper acts as.
func (a *app) loadCredentials() (string, error) {
	_, _, cr, err := a.saved()
	if err != nil {
		return "", err
	}
	return cr.MemberID, nil
}

func sealSeed(seed []byte, pass string, workFactor int) ([]byte, error) {
	out, err := sealWithPassphrase(seed, pass, workFactor)
	if err != nil {
		return nil, fmt.Errorf("encrypt seed: %w", err)
	}
	return out, nil
}
