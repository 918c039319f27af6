package coffer_test

import (
	"testing"

	"github.com/coffer-money/coffer"
)

func TestLevels_DailyLimit(t *testing.T) {
	renamed, err := coffer.ParseLevels([]byte(`[{"name": "anon", "rank": 0, "daily_limit": {"*": "5"}},
		{"name": "checked", "rank": 20, "daily_limit": {"USD": "1234.567"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	usd := &coffer.Currency{Code: "USD", Decimals: 2}
	eur := &coffer.Currency{Code: "EUR", Decimals: 2}
	for _, c := range []struct {
		name   string
		levels *coffer.Levels
		level  string
		cur    *coffer.Currency
		want   int64 // -1: no limit
	}{
		{"no table", nil, coffer.LevelPseudonymous, usd, -1},
		{"default lowest", coffer.DefaultLevels(), coffer.LevelPseudonymous, usd, 100_000},
		{"default unknown name", coffer.DefaultLevels(), "nobody", usd, 100_000},
		{"default personal", coffer.DefaultLevels(), coffer.LevelPersonal, usd, -1},
		{"renamed built-in", renamed, coffer.LevelInitial, usd, 123_456}, // decimals past the currency's are cut
		{"currency not named", renamed, "checked", eur, -1},
		{"star", renamed, "anon", &coffer.Currency{Code: "JPY", Decimals: 0}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.levels.DailyLimit(c.level, c.cur)
			switch {
			case c.want < 0 && got != nil:
				t.Fatalf("got %d, want no limit", *got)
			case c.want >= 0 && (got == nil || *got != c.want):
				t.Fatalf("got %v, want %d", got, c.want)
			}
		})
	}
}
