package client

import (
	"math/big"
	"strings"
)

// ValidAmount reports whether s is written as the server reads amounts: a
// positive decimal string such as "12.50" or "3", without sign, exponent,
// leading zeros or thousands separators. Whether it has too many decimals
// for its currency only the server knows.
func ValidAmount(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || hasDot && frac == "" || len(intPart) > 1 && intPart[0] == '0' {
		return false
	}
	nonZero := false
	for _, p := range [...]string{intPart, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
			nonZero = nonZero || p[i] != '0'
		}
	}
	return nonZero
}

// parseDecimal reads a signed decimal string exactly.
func parseDecimal(s string) (*big.Rat, bool) {
	if s == "" || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// SumAmounts adds decimal strings exactly (no floats) and returns the sum
// with as many decimals as the most precise of them, or false when one is
// not a decimal string. Amounts of different currencies must not be mixed.
func SumAmounts(amounts ...string) (string, bool) {
	sum := new(big.Rat)
	decimals := 0
	for _, a := range amounts {
		r, ok := parseDecimal(strings.TrimSpace(a))
		if !ok {
			return "", false
		}
		if _, frac, found := strings.Cut(a, "."); found {
			decimals = max(decimals, len(strings.TrimSpace(frac)))
		}
		sum.Add(sum, r)
	}
	return sum.FloatString(decimals), true
}
