// Package password hashes, verifies and vets user passwords.
//
// Hashes are Argon2id in the PHC string format used by the reference
// implementation and most other libraries, so stored hashes stay portable
// and carry their own parameters: the cost can be raised later without
// invalidating existing hashes (see Hasher.Verify's needsRehash).
//
// The policy (Check) follows NIST SP 800-63B: a minimum length and a
// blocklist of breached passwords, and deliberately no composition rules,
// which push users towards predictable patterns without adding strength.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the Argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
	// KeyLen is the length in bytes of the derived key that is stored.
	KeyLen uint32
	// SaltLen is the length in bytes of the random salt.
	SaltLen uint32
}

// DefaultParams is the OWASP Password Storage Cheat Sheet recommendation for
// Argon2id (19 MiB, 2 passes, 1 lane). It is chosen over heavier settings so
// a login stays around tens of milliseconds and a burst of logins cannot
// exhaust server memory.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// Bounds accepted both for a Hasher's own Params and for parameters read back
// from a stored hash. The upper bounds exist because a stored string is data:
// a tampered or corrupted row saying m=4194304 or t=1000000 must not be able
// to make a single login allocate gigabytes or run for minutes. The lower
// bounds reject settings that would make a hash trivially weak; in
// particular an empty or tiny key would make the comparison meaningless.
// Using the same bounds for both means everything Hash writes, Verify reads.
const (
	maxMemory  = 4 * 1024 * 1024 // KiB, i.e. 4 GiB
	maxTime    = 100
	minKeyLen  = 16
	maxKeyLen  = 128
	minSaltLen = 8
	maxSaltLen = 64

	// maxEncodedLen bounds the input before any parsing work is done; the
	// longest string within the bounds above is well under this.
	maxEncodedLen = 512
)

var (
	// ErrMalformedHash is returned by Verify when the stored string is not an
	// Argon2id PHC string this package can read, or its parameters are
	// outside the accepted bounds. It means the stored data is bad, not that
	// the password is wrong.
	ErrMalformedHash = errors.New("password: malformed hash")

	// ErrInvalidParams is returned by Hash when the Hasher is configured with
	// parameters outside the accepted bounds, so a misconfiguration fails
	// loudly instead of producing hashes Verify would later refuse.
	ErrInvalidParams = errors.New("password: invalid argon2 parameters")
)

// Hasher hashes and verifies passwords with Argon2id.
//
// The zero Hasher uses DefaultParams, so callers that do not need to tune the
// cost can use Hasher{} directly.
type Hasher struct {
	// Params are used for new hashes, and Verify reports needsRehash for
	// stored hashes whose parameters differ from them.
	Params Params
}

// params returns the effective parameters, substituting DefaultParams for the
// zero value.
func (h Hasher) params() Params {
	if h.Params == (Params{}) {
		return DefaultParams
	}
	return h.Params
}

// validate reports whether p is within the accepted bounds. It also checks
// what argon2.IDKey would otherwise panic on (zero time or threads) or
// silently change (memory below 8 KiB per lane).
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d not in [1, %d]", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB not in [%d, %d]", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d not in [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d not in [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	}
	return nil
}

// Hash derives an Argon2id key from pw with a fresh random salt and returns
// it as a PHC string such as
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// (base64 without padding). The parameters travel with the hash so they can
// be changed later without breaking existing accounts.
func (h Hasher) Hash(pw string) (string, error) {
	p := h.params()
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidParams, err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	return encode(p, salt, argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)), nil
}

// encode formats a PHC string. It is separate from Hash so tests can check
// the format against a fixed salt.
func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether pw matches the stored PHC string encoded.
//
// The key is recomputed with the parameters stored in encoded (not
// h.Params) and compared in constant time. needsRehash is true only when the
// password matched and the stored parameters (including salt and key
// lengths) differ from h.Params: that is the one moment the plaintext is at
// hand to upgrade the hash, so the caller should then Hash pw again and
// store the result.
//
// A string that cannot be parsed, or whose parameters are outside the
// accepted bounds, yields ErrMalformedHash and ok == false; Verify never
// panics on bad input.
func (h Hasher) Verify(pw, encoded string) (ok bool, needsRehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != h.params(), nil
}

// dummySalt and dummyKey stand in for a stored hash in DummyVerify. Their
// values are irrelevant (the result is thrown away); only the work done
// matters.
var (
	dummySalt = make([]byte, maxSaltLen)
	dummyKey  = make([]byte, maxKeyLen)
)

// DummyVerify does the same Argon2id work as Verify would for a hash made
// with h.Params, and discards the result. Call it when the login name does
// not exist, so that the response time does not reveal which accounts exist.
func (h Hasher) DummyVerify(pw string) {
	p := h.params()
	if p.validate() != nil {
		// Such a Hasher cannot have produced any stored hash (Hash refuses
		// these parameters), so there is no real Verify timing to match.
		p = DefaultParams
	}
	key := argon2.IDKey([]byte(pw), dummySalt[:p.SaltLen], p.Time, p.Memory, p.Threads, p.KeyLen)
	// Mirror Verify's comparison so the two paths differ only in outcome.
	subtle.ConstantTimeCompare(key, dummyKey[:p.KeyLen])
}

// decode parses and bounds-checks a PHC string produced by encode. It is
// strict (exact field order, canonical numbers and base64) because a hash
// this package did not write is more likely corruption than something to
// accept.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	bad := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrMalformedHash}, args...)...)
	}
	if len(encoded) > maxEncodedLen {
		return bad("longer than %d bytes", maxEncodedLen)
	}
	// The base64 decoder skips CR and LF; refuse them so that only one
	// spelling of a hash is accepted.
	if strings.ContainsAny(encoded, "\r\n") {
		return bad("contains a line break")
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm %q, want argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version %q, want v=%d", parts[2], argon2.Version)
	}

	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("want parameters m,t,p")
	}
	var nums [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, found := strings.CutPrefix(kv[i], name+"=")
		if !found {
			return bad("parameter %d is not %s=", i+1, name)
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, err := parseDecimal(v, bits)
		if err != nil {
			return bad("parameter %s: %v", name, err)
		}
		nums[i] = n
	}

	b64 := base64.RawStdEncoding.Strict()
	salt, err = b64.DecodeString(parts[4])
	if err != nil {
		return bad("salt: %v", err)
	}
	key, err = b64.DecodeString(parts[5])
	if err != nil {
		return bad("key: %v", err)
	}

	p = Params{
		Memory:  uint32(nums[0]),
		Time:    uint32(nums[1]),
		Threads: uint8(nums[2]),
		KeyLen:  uint32(len(key)),
		SaltLen: uint32(len(salt)),
	}
	if err := p.validate(); err != nil {
		return bad("%v", err)
	}
	return p, salt, key, nil
}

// parseDecimal parses a canonical unsigned decimal (no sign, no leading
// zeros) that fits in bits.
func parseDecimal(s string, bits int) (uint64, error) {
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	return strconv.ParseUint(s, 10, bits)
}
