// Package otp computes one-time passwords: HOTP (RFC 4226), TOTP (RFC 6238)
// and OCRA challenge–response (RFC 6287). It holds no state; the caller
// remembers used time steps and counters.
package otp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Algorithm names a hash for HMAC.
type Algorithm string

// Hashes a generator may use.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

func (a Algorithm) new() (func() hash.Hash, error) {
	switch a {
	case SHA1:
		return sha1.New, nil
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("otp: unknown hash %q", string(a))
}

// truncate is RFC 4226 dynamic truncation of an HMAC to digits decimals.
func truncate(mac []byte, digits int) string {
	off := int(mac[len(mac)-1] & 0x0f)
	v := uint64(binary.BigEndian.Uint32(mac[off:off+4]) & 0x7fffffff)
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// HOTP returns the RFC 4226 code for counter.
func HOTP(alg Algorithm, key []byte, counter uint64, digits int) (string, error) {
	h, err := alg.new()
	if err != nil {
		return "", err
	}
	if digits < 6 || digits > 9 {
		return "", errors.New("otp: digits must be 6 to 9")
	}
	m := hmac.New(h, key)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	return truncate(m.Sum(nil), digits), nil
}

// TOTP parameters coffer uses for logins: the defaults of authenticator
// apps and oathtool (SHA-1, 6 digits, 30 s).
const (
	TOTPPeriod = 30
	TOTPDigits = 6
	// TOTPSkew is how many steps before and after the current one are
	// accepted, for clocks slightly out of step.
	TOTPSkew = 1
)

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / TOTPPeriod }

// TOTP returns the code of the step containing t.
func TOTP(alg Algorithm, key []byte, t time.Time, digits int) (string, error) {
	return HOTP(alg, key, uint64(Step(t)), digits)
}

// ValidateTOTP checks code against the steps around t (±TOTPSkew) that
// are later than lastStep, and returns the matching step. A code of a step
// at or before lastStep is never accepted again.
func ValidateTOTP(key []byte, code string, t time.Time, lastStep int64) (int64, bool) {
	if len(code) != TOTPDigits {
		return 0, false
	}
	now := Step(t)
	var found int64
	ok := 0
	for s := now - TOTPSkew; s <= now+TOTPSkew; s++ {
		want, err := HOTP(SHA1, key, uint64(s), TOTPDigits)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep && ok == 0 {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}

// NewSecret returns a fresh random 20-byte generator seed.
func NewSecret() []byte {
	b := make([]byte, 20)
	rand.Read(b)
	return b
}

// EncodeSecret is the seed in unpadded base32, as authenticator apps and
// `oathtool -b` take it.
func EncodeSecret(key []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key)
}

// DecodeSecret reads a base32 seed, with or without padding and spaces.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	s = strings.TrimRight(s, "=")
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// Enrolment is what a member needs to set up an authenticator app.
type Enrolment struct {
	Secret string // base32
	URI    string // otpauth://totp/…
	QRPNG  []byte // the URI as a QR code
}

// Enrol builds the otpauth URI and QR code for key.
func Enrol(issuer, account string, key []byte) (*Enrolment, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: TOTPPeriod,
		Secret: key, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("otp: enrol: %w", err)
	}
	img, err := k.Image(256, 256)
	if err != nil {
		return nil, fmt.Errorf("otp: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("otp: qr code: %w", err)
	}
	u := k.URL()
	if _, err := url.Parse(u); err != nil {
		return nil, fmt.Errorf("otp: uri: %w", err)
	}
	return &Enrolment{Secret: EncodeSecret(key), URI: u, QRPNG: buf.Bytes()}, nil
}
