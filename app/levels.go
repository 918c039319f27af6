package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// Level is one verification level and what it allows.
type Level struct {
	Name string `json:"name"`
	Rank int    `json:"rank"`
	// DailyLimit bounds, per currency code, what may leave the member's
	// purses of that currency in one UTC day, across all of them. Nil:
	// no limit; a currency not named: no limit.
	DailyLimit map[string]string `json:"daily_limit"`
	Merchant   bool              `json:"merchant"` // may issue invoices and hold trusts
	Issuer     bool              `json:"issuer"`   // may be made an issuer of a currency
}

// Ranks of the built-in levels. Operators may rename them or add levels
// in between; these ranks stay the reference for what the names mean.
var builtinRanks = map[string]int{
	coffer.LevelPseudonymous: 0,
	coffer.LevelFormal:       10,
	coffer.LevelInitial:      20,
	coffer.LevelPersonal:     30,
}

// Levels is an operator's table of verification levels, ordered by rank.
// The zero value is not usable; use DefaultLevels or ParseLevels.
type Levels struct {
	list []*Level // by rank, ascending
}

// DefaultLevels returns the built-in table: pseudonymous (1,000.00 a day
// per currency), formal (10,000.00), initial (100,000.00, merchant) and
// personal (no limit, merchant, issuer).
func DefaultLevels() *Levels {
	per := func(v string) map[string]string { return map[string]string{"*": v} }
	return &Levels{list: []*Level{
		{Name: coffer.LevelPseudonymous, Rank: 0, DailyLimit: per("1000.00")},
		{Name: coffer.LevelFormal, Rank: 10, DailyLimit: per("10000.00")},
		{Name: coffer.LevelInitial, Rank: 20, DailyLimit: per("100000.00"), Merchant: true},
		{Name: coffer.LevelPersonal, Rank: 30, Merchant: true, Issuer: true},
	}}
}

var levelName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ParseLevels reads a levels file: a JSON array of Level. Names are 1 to 32
// characters of a–z, 0–9, _ and -; names and ranks are unique; limits are
// non-negative decimal amounts. In DailyLimit the key "*" stands for every
// currency not named.
func ParseLevels(data []byte) (*Levels, error) {
	var list []*Level
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("levels: %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("levels: the table is empty")
	}
	names, ranks := map[string]bool{}, map[int]bool{}
	for _, l := range list {
		if l == nil || !levelName.MatchString(l.Name) {
			return nil, fmt.Errorf("levels: each level needs a name of a–z, 0–9, _ and - (at most 32)")
		}
		if names[l.Name] || ranks[l.Rank] {
			return nil, fmt.Errorf("levels: level %q: names and ranks must be unique", l.Name)
		}
		if l.Rank < 0 {
			return nil, fmt.Errorf("levels: level %q: rank must not be negative", l.Name)
		}
		names[l.Name], ranks[l.Rank] = true, true
		for cur, v := range l.DailyLimit {
			if _, err := coffer.ParseLimit(v, coffer.MaxDecimals); err != nil {
				return nil, fmt.Errorf("levels: level %q, daily_limit %s: %s", l.Name, cur, coffer.ErrorMessage(err))
			}
		}
	}
	slices.SortFunc(list, func(a, b *Level) int { return a.Rank - b.Rank })
	return &Levels{list: list}, nil
}

// LoadLevels reads a levels file (see ParseLevels).
func LoadLevels(path string) (*Levels, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("levels: %w", err)
	}
	return ParseLevels(b)
}

// List returns the levels by rank, lowest first.
func (ls *Levels) List() []Level {
	out := make([]Level, len(ls.list))
	for i, l := range ls.list {
		out[i] = *l
	}
	return out
}

// Named returns the level called name, or nil.
func (ls *Levels) Named(name string) *Level {
	for _, l := range ls.list {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// AtRank returns the highest level of rank at most r (the lowest level
// when none is that low).
func (ls *Levels) AtRank(r int) *Level {
	out := ls.list[0]
	for _, l := range ls.list {
		if l.Rank <= r {
			out = l
		}
	}
	return out
}

// Resolve returns the level a stored level name stands for: the level of
// that name; for a built-in name the operator renamed, the level at its
// rank; for anything else the lowest level, so an unknown name never
// grants more.
func (ls *Levels) Resolve(name string) *Level {
	if l := ls.Named(name); l != nil {
		return l
	}
	if r, ok := builtinRanks[name]; ok {
		return ls.AtRank(r)
	}
	return ls.list[0]
}

// Daily returns the level's daily limit in a currency in minor units, nil
// when there is none.
func (l *Level) Daily(cur *coffer.Currency) *int64 {
	text, ok := l.DailyLimit[cur.Code]
	if !ok {
		if text, ok = l.DailyLimit["*"]; !ok {
			return nil
		}
	}
	v, err := coffer.ParseLimit(text, coffer.MaxDecimals)
	if err != nil {
		return nil // ParseLevels checked it
	}
	for i := cur.Decimals; i < coffer.MaxDecimals; i++ {
		v /= 10 // more decimals than the currency has are cut off
	}
	return &v
}

// Levels returns the level table, nil when there are no level rules.
func (s *Service) Levels() *Levels { return s.cfg.Levels }

// MemberLevel returns the member's level as configured (nil when there are
// no level rules) and their status, read fresh from the store so that a
// lowered level holds at once. Errors: ENOTFOUND.
func (s *Service) MemberLevel(ctx context.Context, memberID string) (*Level, *coffer.MemberStatus, error) {
	st, err := s.store.MemberStatus(ctx, memberID)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.Levels == nil {
		return nil, st, nil
	}
	return s.cfg.Levels.Resolve(st.Level), st, nil
}

// requireMerchant refuses with ELEVELTOOLOW when the member's level does
// not allow acting as a merchant; what names the action in the message.
func (s *Service) requireMerchant(ctx context.Context, memberID, what string) error {
	l, ok, err := s.isMerchant(ctx, memberID)
	if err != nil || ok {
		return err
	}
	return coffer.Errorf(coffer.ELEVELTOOLOW, "Your verification level (%s) does not allow %s; have your identity verified to a merchant level.", l.Name, what)
}

// isMerchant reports whether the member's level allows acting as a
// merchant (always, without level rules).
func (s *Service) isMerchant(ctx context.Context, memberID string) (*Level, bool, error) {
	if s.cfg.Levels == nil {
		return nil, true, nil
	}
	l, _, err := s.MemberLevel(ctx, memberID)
	if err != nil {
		return nil, false, err
	}
	return l, l.Merchant, nil
}

// applyLevel refuses a trust debit by a merchant whose level no longer
// allows it. The daily limit of the owner's level is not set here: the
// ledger applies it in its batch, from the level it reads there (see
// ledger.Engine.SetDailyLimit, wired in New), so a lowered level holds for
// the next transfer without a read per request. Errors: ELEVELTOOLOW.
func (s *Service) applyLevel(ctx context.Context, req *coffer.TransferRequest) error {
	if s.cfg.Levels == nil || req.TrustID == "" {
		return nil
	}
	return s.requireMerchant(ctx, req.Sender, "debits under a trust")
}

// ApplyLevel is applyLevel for a request built elsewhere (a confirmed
// transfer read back from its confirmation).
func (s *Service) ApplyLevel(ctx context.Context, req *coffer.TransferRequest) error {
	return s.applyLevel(ctx, req)
}

// CanIssue reports whether a member's level allows being an issuer.
// Without level rules everyone may. Errors: ENOTFOUND.
func CanIssue(ctx context.Context, store coffer.IdentityStore, levels *Levels, memberID string) (*Level, bool, error) {
	if levels == nil {
		return nil, true, nil
	}
	st, err := store.MemberStatus(ctx, memberID)
	if err != nil {
		return nil, false, err
	}
	l := levels.Resolve(st.Level)
	return l, l.Issuer, nil
}

// SetLevelInput is a change of a member's level by a registrar or the
// operator.
type SetLevelInput struct {
	MemberID string
	Level    string // a configured level name
	Reason   string
	By       string // registrar member ID; "" for the operator
	Request  string // the verification request this decides, if any
}

// ValidateLevel checks that name is a configured level and returns its
// canonical name. Errors: EINVALID.
func ValidateLevel(levels *Levels, name string) (string, error) {
	if levels == nil {
		levels = DefaultLevels()
	}
	if l := levels.Named(strings.TrimSpace(name)); l != nil {
		return l.Name, nil
	}
	names := make([]string, 0, len(levels.list))
	for _, l := range levels.list {
		names = append(names, l.Name)
	}
	return "", coffer.Errorf(coffer.EINVALID, "level must be one of %s.", strings.Join(names, ", "))
}

// SetMemberLevel sets a member's level at once (raise or lower), with an
// AuditLevelChanged event on the member naming who did it and why. It is
// what `cofferd admin member level` does; registrars go through
// RegistrarSetLevel, which checks who they may act on.
// Errors: EINVALID, ENOTFOUND.
func SetMemberLevel(ctx context.Context, store coffer.IdentityStore, levels *Levels, in SetLevelInput, now time.Time) (from string, err error) {
	name, err := ValidateLevel(levels, in.Level)
	if err != nil {
		return "", err
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" || len(reason) > 500 {
		return "", coffer.Errorf(coffer.EINVALID, "reason is required (at most 500 characters).")
	}
	st, err := store.MemberStatus(ctx, in.MemberID)
	if err != nil {
		return "", err
	}
	by := in.By
	if by == "" {
		by = "operator"
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditLevelChanged, in.MemberID, map[string]any{"from": st.Level, "to": name,
		"by": by, "reason": reason})
	if err := store.SetLevel(ctx, in.MemberID, name, now, ev); err != nil {
		return "", err
	}
	return st.Level, nil
}
