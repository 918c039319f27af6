package coffer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Ranks of the built-in levels. Operators may rename them or add levels
// in between; these ranks stay the reference for what the names mean.
const (
	RankPseudonymous = 0
	RankFormal       = 10
	RankInitial      = 20
	RankPersonal     = 30
)

var builtinRanks = map[string]int{
	LevelPseudonymous: RankPseudonymous,
	LevelFormal:       RankFormal,
	LevelInitial:      RankInitial,
	LevelPersonal:     RankPersonal,
}

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

// Levels is an operator's table of verification levels, ordered by rank.
// It does not change once made, so it is safe for concurrent use. The zero
// value is not usable; use DefaultLevels or ParseLevels.
type Levels struct {
	list []*Level // by rank, ascending
}

// DefaultLevels returns the built-in table: pseudonymous (1,000.00 a day
// per currency), formal (10,000.00), initial (100,000.00, merchant) and
// personal (no limit, merchant, issuer).
func DefaultLevels() *Levels {
	per := func(v string) map[string]string { return map[string]string{"*": v} }
	return &Levels{list: []*Level{
		{Name: LevelPseudonymous, Rank: RankPseudonymous, DailyLimit: per("1000.00")},
		{Name: LevelFormal, Rank: RankFormal, DailyLimit: per("10000.00")},
		{Name: LevelInitial, Rank: RankInitial, DailyLimit: per("100000.00"), Merchant: true},
		{Name: LevelPersonal, Rank: RankPersonal, Merchant: true, Issuer: true},
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
			if _, err := ParseLimit(v, MaxDecimals); err != nil {
				return nil, fmt.Errorf("levels: level %q, daily_limit %s: %s", l.Name, cur, ErrorMessage(err))
			}
		}
	}
	slices.SortFunc(list, func(a, b *Level) int { return a.Rank - b.Rank })
	return &Levels{list: list}, nil
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

// DailyLimit returns the daily limit, in minor units of cur, of the level
// a stored level name stands for (see Resolve); nil when it has none. A
// nil table has no level rules, hence no limits.
func (ls *Levels) DailyLimit(level string, cur *Currency) *int64 {
	if ls == nil {
		return nil
	}
	return ls.Resolve(level).Daily(cur)
}

// Daily returns the level's daily limit in a currency in minor units, nil
// when there is none.
func (l *Level) Daily(cur *Currency) *int64 {
	text, ok := l.DailyLimit[cur.Code]
	if !ok {
		if text, ok = l.DailyLimit["*"]; !ok {
			return nil
		}
	}
	v, err := ParseLimit(text, MaxDecimals)
	if err != nil {
		return nil // ParseLevels checked it
	}
	for i := cur.Decimals; i < MaxDecimals; i++ {
		v /= 10 // more decimals than the currency has are cut off
	}
	return &v
}
