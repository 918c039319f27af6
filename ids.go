package coffer

import (
	"crypto/rand"
	"math/big"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// randomDigits returns n random decimal digits, the first one non-zero, so
// that IDs always print as n digits.
func randomDigits(n int) string {
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n-1)), nil)
	span := new(big.Int).Sub(new(big.Int).Mul(lo, big.NewInt(10)), lo)
	x, err := rand.Int(rand.Reader, span)
	if err != nil {
		panic("coffer: crypto/rand failed: " + err.Error()) // the OS gives no randomness; nothing safe to do
	}
	return x.Add(x, lo).String()
}

// NewMemberID returns a random 12-digit member ID. Callers retry on a
// collision with an existing ID.
func NewMemberID() string { return randomDigits(12) }

// NewPurseNumber returns a random purse number for a currency letter.
func NewPurseNumber(letter byte) string { return string(letter) + randomDigits(12) }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidMemberID reports whether s has the shape of a member ID.
func ValidMemberID(s string) bool { return len(s) == 12 && allDigits(s) && s[0] != '0' }

// ValidPurseNumber reports whether s has the shape of a purse number: an
// upper-case letter followed by 12 digits.
func ValidPurseNumber(s string) bool {
	return len(s) == 13 && s[0] >= 'A' && s[0] <= 'Z' && allDigits(s[1:]) && s[1] != '0'
}

// ValidTransferID reports whether s is an acceptable transfer ID: 1 to 64
// characters from [A-Za-z0-9._:-].
func ValidTransferID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// MaxDescription is the longest transfer description, in characters.
const MaxDescription = 255

// ValidateDescription checks a transfer description: valid UTF-8, at most
// MaxDescription characters, printable (spaces allowed, no control or
// format characters). Errors: EINVALID.
func ValidateDescription(s string) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "The description must be valid UTF-8 text.")
	}
	if utf8.RuneCountInString(s) > MaxDescription {
		return Errorf(EINVALID, "The description must be at most %d characters.", MaxDescription)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return Errorf(EINVALID, "The description must contain printable characters only.")
		}
	}
	return nil
}

// NormalizeEmail lower-cases and checks an e-mail address.
// Errors: EINVALID.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 || strings.Count(s, "@") != 1 {
		return "", Errorf(EINVALID, "The e-mail address is not valid.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", Errorf(EINVALID, "The e-mail address is not valid.")
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", Errorf(EINVALID, "The e-mail address is not valid.")
	}
	return s, nil
}

// NormalizePhone turns a phone number written with spaces, dashes, dots or
// parentheses into E.164 (+ and 8 to 15 digits, no leading zero). A leading
// "00" is read as the international prefix. Errors: EINVALID.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 32 {
		return "", Errorf(EINVALID, "The phone number is not valid; use the international form, e.g. +14155550123.")
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '+' && i == 0:
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", Errorf(EINVALID, "The phone number is not valid; use the international form, e.g. +14155550123.")
		}
	}
	d := b.String()
	if !strings.HasPrefix(s, "+") {
		if !strings.HasPrefix(d, "00") {
			return "", Errorf(EINVALID, "The phone number must start with + and the country code, e.g. +14155550123.")
		}
		d = d[2:]
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", Errorf(EINVALID, "The phone number is not valid; use the international form, e.g. +14155550123.")
	}
	return "+" + d, nil
}
