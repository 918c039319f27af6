package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
)

// Prefixes of the random IDs of invoices and trusts. The random part is
// 128 bits, so IDs cannot be guessed or enumerated.
const (
	invoicePrefix = "inv_"
	trustPrefix   = "trust_"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newPaymentID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + idEncoding.EncodeToString(b)
}

// validPaymentID reports whether s has the shape of an ID newPaymentID
// makes, so that anything else is refused before it reaches the store.
func validPaymentID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// ProtectInput asks for a protected transfer: with Code, the payee needs
// the code to receive it within Days (1–255 days); without, it reaches the
// payee when Days (1–120) have passed. Either way the payee may refuse it.
type ProtectInput struct {
	Code string
	Days int
}

// Bounds of a protection code, in characters.
const (
	MinProtectCode = 4
	MaxProtectCode = 32
)

// protection turns what the sender asked for into the stored protection.
// Errors: EINVALID.
func (s *Service) protection(in *ProtectInput) (*coffer.Protection, error) {
	p := &coffer.Protection{ByCode: in.Code != ""}
	if p.ByCode {
		n := utf8.RuneCountInString(in.Code)
		if !utf8.ValidString(in.Code) || n < MinProtectCode || n > MaxProtectCode {
			return nil, coffer.Errorf(coffer.EINVALID, "The protection code must be %d to %d characters.", MinProtectCode, MaxProtectCode)
		}
		for _, r := range in.Code {
			if !unicode.IsPrint(r) || unicode.IsSpace(r) {
				return nil, coffer.Errorf(coffer.EINVALID, "The protection code must be printable characters without spaces.")
			}
		}
		if in.Days < 1 || in.Days > coffer.MaxProtectDays {
			return nil, coffer.Errorf(coffer.EINVALID, "A transfer protected by a code may be held 1 to %d days.", coffer.MaxProtectDays)
		}
		p.CodeSalt, p.CodeHash = coffer.HashProtectionCode(in.Code)
	} else if in.Days < 1 || in.Days > coffer.MaxTimeProtectDays {
		return nil, coffer.Errorf(coffer.EINVALID, "A transfer protected by time may be held 1 to %d days.", coffer.MaxTimeProtectDays)
	}
	p.Until = s.now().Add(time.Duration(in.Days) * 24 * time.Hour).Truncate(time.Millisecond)
	return p, nil
}

// feeFor returns the fee the ledger will charge on req under the fee rules
// as they stand: none for refunds, between purses of one member, or into
// or out of the fee purse.
func (s *Service) feeFor(ctx context.Context, req *coffer.TransferRequest) (int64, error) {
	if req.RefundOf != 0 || req.From == req.To {
		return 0, nil
	}
	from, err := s.store.Purse(ctx, req.From)
	if err != nil {
		return 0, err
	}
	to, err := s.store.Purse(ctx, req.To)
	if err != nil {
		return 0, err
	}
	return s.feeBetween(ctx, from, to, req.Amount)
}

func (s *Service) feeBetween(ctx context.Context, from, to *coffer.Purse, amount int64) (int64, error) {
	if from.Owner == to.Owner {
		return 0, nil
	}
	rule, err := s.feeRule(ctx, from.Currency)
	if err != nil || rule == nil || rule.Purse == from.Number || rule.Purse == to.Number {
		return 0, err
	}
	return rule.Fee(amount), nil
}

func (s *Service) feeRule(ctx context.Context, currency string) (*coffer.FeeRule, error) {
	rules, err := s.store.FeeRules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.Currency == currency {
			return r, nil
		}
	}
	return nil, nil
}

// Fees lists the operator's fee rules. Callers show members the rate, not
// the fee purse.
func (s *Service) Fees(ctx context.Context) ([]*coffer.FeeRule, error) {
	return s.store.FeeRules(ctx)
}

// Quote is what a transfer would take from the sender's purse.
type Quote struct {
	Amount, Fee int64
	Currency    string
	Decimals    int
}

// Quote tells what sending amount from one of the member's purses to
// another purse costs, with the fee the ledger charges under the current
// rules. Errors: EPURSENOTFOUND, ESAMEPURSE, ECURRENCYMISMATCH,
// EINVALIDAMOUNT.
func (s *Service) Quote(ctx context.Context, memberID, from, to, amount string) (*Quote, error) {
	fp, err := s.Purse(ctx, memberID, from)
	if err != nil {
		return nil, err
	}
	if !coffer.ValidPurseNumber(to) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "%q is not a purse number (a letter and 12 digits).", to)
	}
	cur, err := s.Currency(ctx, fp.Currency)
	if err != nil {
		return nil, err
	}
	v, err := coffer.ParseAmount(amount, cur.Decimals)
	if err != nil {
		return nil, err
	}
	var tp *coffer.Purse
	if from != to {
		if tp, err = s.store.Purse(ctx, to); err != nil && coffer.ErrorCode(err) != coffer.EPURSENOTFOUND {
			return nil, err
		}
	}
	req := &coffer.TransferRequest{Sender: memberID, From: from, To: to, Amount: v}
	if err := coffer.CheckTransfer(req, fp, tp); err != nil {
		return nil, err
	}
	fee, err := s.feeBetween(ctx, fp, tp, v)
	if err != nil {
		return nil, err
	}
	return &Quote{Amount: v, Fee: fee, Currency: cur.Code, Decimals: cur.Decimals}, nil
}

// ParsePercent reads a fee rate such as "0.8" (percent, at most four
// decimal places, at most 100) as parts per million, without floating
// point. Errors: EINVALID.
func ParsePercent(s string) (int64, error) {
	v, err := coffer.ParseLimit(s, 4) // hundredths of a basis point: 1 = 0.0001 % = 1 ppm
	if err != nil || v > 100_0000 {
		return 0, coffer.Errorf(coffer.EINVALID, "The percentage must be a decimal from 0 to 100 with at most 4 decimal places, such as 0.8.")
	}
	return v, nil
}

// FormatPercent renders parts per million as a percentage without
// trailing zeros: 8000 → "0.8".
func FormatPercent(ppm int64) string {
	s := coffer.FormatAmount(ppm, 4)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// slidingLimit allows n events per key per window.
type slidingLimit struct {
	mu sync.Mutex
	m  map[string][]time.Time
}

func (l *slidingLimit) allow(key string, n int, window time.Duration, now time.Time) (bool, time.Duration) {
	if n <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]time.Time{}
	}
	ts := l.m[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-window)) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= n {
		l.m[key] = ts
		return false, ts[0].Add(window).Sub(now)
	}
	if len(l.m) > 100000 {
		clear(l.m) // bound memory
	}
	l.m[key] = append(ts, now)
	return true, 0
}
