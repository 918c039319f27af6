package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/sms"
)

// factorOptions are the flags of second factors.
type factorOptions struct {
	smsURL, smsUser, smsPasswordFile string
	smsOutbox                        bool
	requireSecondFactor              bool
	smsLimits                        app.SMSLimits
}

func (o *factorOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.smsURL, "sms-url", "", "SMS provider URL: each message is POSTed there as a form with fields to and text")
	fs.StringVar(&o.smsUser, "sms-user", "", "user name for the SMS provider (HTTP basic authentication)")
	fs.StringVar(&o.smsPasswordFile, "sms-password-file", "", "file holding the SMS provider's password")
	fs.BoolVar(&o.smsOutbox, "sms-outbox", true, "without --sms-url, append SMS to DATA/"+sms.OutboxFile+" (development; read with `coffer dev sms`)")
	fs.IntVar(&o.smsLimits.PerMemberHour, "sms-per-member-hour", 10, "SMS sent for one member in any hour (0: no limit)")
	fs.IntVar(&o.smsLimits.PerNumberHour, "sms-per-number-hour", 5, "SMS sent to one phone number in any hour (0: no limit)")
	fs.IntVar(&o.smsLimits.PerIPHour, "sms-per-ip-hour", 20, "SMS caused from one client address in any hour (0: no limit)")
	fs.IntVar(&o.smsLimits.PerDay, "sms-per-day", 1000, "SMS sent in all in any 24 hours (0: no limit)")
	fs.BoolVar(&o.requireSecondFactor, "require-second-factor", false, "refuse session-authenticated transfers by members without a second factor")
}

// secretsKeyFile holds the key that seals generator seeds at rest.
const secretsKeyFile = "secrets.key"

// loadSecretsKey reads DATA/secrets.key, creating it (mode 0600) with 32
// random bytes on first start. Losing it makes enrolled generators useless.
func loadSecretsKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, secretsKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("secrets key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secrets key %s: want 32 bytes, got %d", path, len(key))
	}
	return key, nil
}

func (o *factorOptions) config(dir string) (app.FactorConfig, error) {
	key, err := loadSecretsKey(dir)
	if err != nil {
		return app.FactorConfig{}, err
	}
	cfg := app.FactorConfig{Key: key, RequireSecondFactor: o.requireSecondFactor, SMSLimits: o.smsLimits}
	// On the command line 0 means no limit; in app.SMSLimits, a negative.
	for _, n := range []*int{&cfg.SMSLimits.PerMemberHour, &cfg.SMSLimits.PerNumberHour, &cfg.SMSLimits.PerIPHour, &cfg.SMSLimits.PerDay} {
		switch {
		case *n < 0:
			return cfg, errors.New("the --sms-per-* limits must not be negative")
		case *n == 0:
			*n = -1
		}
	}
	switch {
	case o.smsURL != "":
		h := &sms.HTTP{URL: o.smsURL, User: o.smsUser}
		if o.smsPasswordFile != "" {
			b, err := os.ReadFile(o.smsPasswordFile)
			if err != nil {
				return cfg, fmt.Errorf("--sms-password-file: %w", err)
			}
			h.Password = string(trimNewline(b))
		}
		cfg.SMS = h
	case o.smsOutbox:
		cfg.SMS = &sms.Outbox{Path: filepath.Join(dir, sms.OutboxFile)}
	}
	return cfg, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
