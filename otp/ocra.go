package otp

import (
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Suite is a parsed OCRA suite (RFC 6287 section 6), such as
// "OCRA-1:HOTP-SHA256-8:QN08".
type Suite struct {
	Text     string
	Hash     Algorithm
	Digits   int  // 0: the full HMAC is not supported; 4 to 10
	Counter  bool // C
	QFormat  byte // 'A', 'N' or 'H'
	QLen     int  // 4 to 64
	PinHash  Algorithm
	SessLen  int   // S: bytes of session information, 0 when absent
	TimeStep int64 // T: seconds, 0 when absent
}

// Inputs are the values a suite's data input may need.
type Inputs struct {
	Counter   uint64
	Question  string // in the suite's format: decimal, hex or alphanumeric
	PinHash   []byte // the hash of the PIN with the suite's PIN hash
	Session   []byte
	Timestamp uint64 // time steps since the epoch
}

// ErrSuite is returned for a suite string that is not a supported OCRA suite.
var ErrSuite = errors.New("otp: invalid OCRA suite")

// ParseSuite parses an OCRA suite string.
func ParseSuite(s string) (*Suite, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "OCRA-1" {
		return nil, ErrSuite
	}
	su := &Suite{Text: s}
	cf := strings.Split(parts[1], "-")
	if len(cf) != 3 || cf[0] != "HOTP" {
		return nil, ErrSuite
	}
	switch Algorithm(cf[1]) {
	case SHA1, SHA256, SHA512:
		su.Hash = Algorithm(cf[1])
	default:
		return nil, ErrSuite
	}
	d, err := strconv.Atoi(cf[2])
	if err != nil || d < 4 || d > 10 || cf[2] != strconv.Itoa(d) {
		return nil, ErrSuite
	}
	su.Digits = d
	di := strings.Split(parts[2], "-")
	i := 0
	if i < len(di) && di[i] == "C" {
		su.Counter = true
		i++
	}
	if i >= len(di) || len(di[i]) != 4 || di[i][0] != 'Q' {
		return nil, ErrSuite
	}
	su.QFormat = di[i][1]
	if su.QFormat != 'A' && su.QFormat != 'N' && su.QFormat != 'H' {
		return nil, ErrSuite
	}
	ql, err := strconv.Atoi(di[i][2:])
	if err != nil || ql < 4 || ql > 64 || di[i][2] < '0' || di[i][2] > '9' {
		return nil, ErrSuite
	}
	su.QLen = ql
	i++
	if i < len(di) && strings.HasPrefix(di[i], "P") {
		switch Algorithm(di[i][1:]) {
		case SHA1, SHA256, SHA512:
			su.PinHash = Algorithm(di[i][1:])
		default:
			return nil, ErrSuite
		}
		i++
	}
	if i < len(di) && strings.HasPrefix(di[i], "S") {
		n, err := strconv.Atoi(di[i][1:])
		if err != nil || len(di[i]) != 4 || n < 1 || n > 512 {
			return nil, ErrSuite
		}
		su.SessLen = n
		i++
	}
	if i < len(di) && strings.HasPrefix(di[i], "T") && len(di[i]) >= 3 {
		v := di[i][1 : len(di[i])-1]
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || v != strconv.Itoa(n) {
			return nil, ErrSuite
		}
		unit := map[byte]int64{'S': 1, 'M': 60, 'H': 3600}[di[i][len(di[i])-1]]
		limit := map[byte]int{'S': 59, 'M': 59, 'H': 48}[di[i][len(di[i])-1]]
		if unit == 0 || n > limit {
			return nil, ErrSuite
		}
		su.TimeStep = int64(n) * unit
		i++
	}
	if i != len(di) {
		return nil, ErrSuite
	}
	return su, nil
}

// questionHex turns a challenge into the hex the message carries.
func (su *Suite) questionHex(q string) (string, error) {
	if len(q) < 4 || len(q) > su.QLen {
		return "", fmt.Errorf("otp: challenge must be 4 to %d characters", su.QLen)
	}
	switch su.QFormat {
	case 'N':
		for i := 0; i < len(q); i++ {
			if q[i] < '0' || q[i] > '9' {
				return "", errors.New("otp: challenge must be decimal digits")
			}
		}
		n, _ := new(big.Int).SetString(q, 10)
		return strings.ToUpper(n.Text(16)), nil
	case 'H':
		if _, err := hex.DecodeString(q + strings.Repeat("0", len(q)%2)); err != nil {
			return "", errors.New("otp: challenge must be hex digits")
		}
		return q, nil
	default:
		for i := 0; i < len(q); i++ {
			if q[i] <= ' ' || q[i] > '~' {
				return "", errors.New("otp: challenge must be printable ASCII")
			}
		}
		return hex.EncodeToString([]byte(q)), nil
	}
}

// ValidChallenge reports whether q is a challenge of the suite's format.
func (su *Suite) ValidChallenge(q string) bool {
	_, err := su.questionHex(q)
	return err == nil
}

// Answer computes the OCRA response of key to the inputs.
func (su *Suite) Answer(key []byte, in Inputs) (string, error) {
	h, err := su.Hash.new()
	if err != nil {
		return "", err
	}
	qh, err := su.questionHex(in.Question)
	if err != nil {
		return "", err
	}
	qh += strings.Repeat("0", 256-len(qh))
	qb, err := hex.DecodeString(qh)
	if err != nil {
		return "", fmt.Errorf("otp: challenge: %w", err)
	}
	msg := append([]byte(su.Text), 0)
	if su.Counter {
		msg = binary.BigEndian.AppendUint64(msg, in.Counter)
	}
	msg = append(msg, qb...)
	if su.PinHash != "" {
		hf, _ := su.PinHash.new()
		if len(in.PinHash) != hf().Size() {
			return "", errors.New("otp: PIN hash has the wrong length")
		}
		msg = append(msg, in.PinHash...)
	}
	if su.SessLen > 0 {
		if len(in.Session) != su.SessLen {
			return "", errors.New("otp: session information has the wrong length")
		}
		msg = append(msg, in.Session...)
	}
	if su.TimeStep > 0 {
		msg = binary.BigEndian.AppendUint64(msg, in.Timestamp)
	}
	m := hmac.New(h, key)
	m.Write(msg)
	return truncate(m.Sum(nil), su.Digits), nil
}
