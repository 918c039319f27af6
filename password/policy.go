package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits enforced by Check.
const (
	// MinLength is the minimum number of characters (Unicode code points,
	// not bytes, so users of non-Latin scripts are not penalised). NIST
	// SP 800-63B asks for at least 8; 10 is used because this protects money.
	MinLength = 10
	// MaxLength is the maximum length in bytes. It is generous enough for
	// passphrases and password managers but stops a client from making the
	// server hash megabytes per request.
	MaxLength = 1024
)

var (
	// ErrTooShort means the password has fewer than MinLength characters.
	ErrTooShort = errors.New("password: too short")
	// ErrTooLong means the password is longer than MaxLength bytes.
	ErrTooLong = errors.New("password: too long")
	// ErrCommon means the password is on the list of common or breached
	// passwords, so it would fall to the first guesses of any attacker.
	ErrCommon = errors.New("password: too common")
	// ErrInvalid means the password is not valid UTF-8. Such bytes could not
	// be typed the same way twice on another device, and would be mangled by
	// any layer that normalises text.
	ErrInvalid = errors.New("password: not valid UTF-8")
)

// Check reports whether pw is acceptable as a new password, returning one
// of ErrInvalid, ErrTooLong, ErrTooShort or ErrCommon (compare with
// errors.Is), or nil.
//
// Apart from length it only refuses known common passwords, compared after
// trimming surrounding space and case-insensitively (a capitalised
// "Password123" is among the first variants guessed). Following NIST SP
// 800-63B there are no composition rules (digits, symbols, ...).
//
// Check is for choosing a password; do not apply it at login, where an
// existing password must keep working if the policy tightens.
func Check(pw string) error {
	if !utf8.ValidString(pw) {
		return ErrInvalid
	}
	if len(pw) > MaxLength {
		return ErrTooLong
	}
	if utf8.RuneCountInString(pw) < MinLength {
		return ErrTooShort
	}
	if _, ok := commonPasswords()[strings.ToLower(strings.TrimSpace(pw))]; ok {
		return ErrCommon
	}
	return nil
}

// commonGz is the breached-password list, gzip-compressed to keep the
// binary and repository small. See gen.go for how it is made and NOTICE for
// its origin.
//
//go:embed common-passwords.txt.gz
var commonGz []byte

// commonPasswords returns the set of common passwords (lower-case). It is
// built on first use rather than at init so programs that import the
// package without calling Check do not pay for a 30,000-entry map.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		// The file is embedded at compile time and covered by the tests, so
		// this is a broken build, not a runtime condition to handle.
		panic("password: embedded common-password list: " + err.Error())
	}
	set := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := sc.Text(); w != "" {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("password: embedded common-password list: " + err.Error())
	}
	return set
})
