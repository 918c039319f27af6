package coffer

import (
	"math"
	"strconv"
	"strings"
)

// MaxDecimals bounds a currency's minor-unit digits so that every amount
// fits an int64 with room to spare.
const MaxDecimals = 8

// ParseAmount parses a positive decimal string such as "12.50" into minor
// units of a currency with the given number of decimals. It accepts only
// plain digits with an optional fraction: no sign, exponent, spaces, leading
// zeros or more fraction digits than the currency has. Errors: EINVALIDAMOUNT.
func ParseAmount(s string, decimals int) (int64, error) {
	v, err := parseUnsigned(s, decimals)
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, Errorf(EINVALIDAMOUNT, "The amount must be greater than zero.")
	}
	return v, nil
}

func parseUnsigned(s string, decimals int) (int64, error) {
	bad := func(msg string) (int64, error) { return 0, Errorf(EINVALIDAMOUNT, "%s", msg) }
	if decimals < 0 || decimals > MaxDecimals {
		return bad("The currency has an unsupported number of decimals.")
	}
	if s == "" || len(s) > 40 {
		return bad("The amount must be a decimal string such as \"12.50\".")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") {
		return bad("The amount must be a decimal string such as \"12.50\".")
	}
	for _, p := range [...]string{intPart, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return bad("The amount must be a decimal string such as \"12.50\".")
			}
		}
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return bad("The amount must not have leading zeros.")
	}
	if len(frac) > decimals {
		return bad("The amount has more decimal places than the currency allows (" + strconv.Itoa(decimals) + ").")
	}
	var v int64
	digits := intPart + frac + strings.Repeat("0", decimals-len(frac))
	for i := 0; i < len(digits); i++ {
		d := int64(digits[i] - '0')
		if v > (math.MaxInt64-d)/10 {
			return bad("The amount is too large.")
		}
		v = v*10 + d
	}
	if v > MaxAmount {
		return bad("The amount is too large.")
	}
	return v, nil
}

// MaxAmount is the largest amount in minor units that a single transfer,
// balance or limit may hold. Keeping it well under MaxInt64 means that sums of
// two amounts never overflow.
const MaxAmount = int64(1) << 60

// ParseLimit parses a non-negative decimal amount (zero allowed), as used for
// issuer limits. Errors: EINVALIDAMOUNT.
func ParseLimit(s string, decimals int) (int64, error) {
	return parseUnsigned(s, decimals)
}

// FormatAmount renders minor units as a decimal string with exactly the
// currency's decimals, with a leading '-' for negative values.
func FormatAmount(v int64, decimals int) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u, 10)
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
