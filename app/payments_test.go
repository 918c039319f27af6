package app_test

import (
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
)

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ppm  int64
		ok   bool
		back string
	}{
		{"0.8", 8000, true, "0.8"},
		{"1", 10000, true, "1"},
		{"0.0001", 1, true, "0.0001"},
		{"100", 1_000_000, true, "100"},
		{"0", 0, true, "0"},
		{"2.50", 25000, true, "2.5"},
		{"100.0001", 0, false, ""},
		{"0.00001", 0, false, ""},
		{"-1", 0, false, ""},
		{"1e2", 0, false, ""},
		{"", 0, false, ""},
		{".5", 0, false, ""},
	} {
		got, err := app.ParsePercent(tc.in)
		if (err == nil) != tc.ok || got != tc.ppm {
			t.Errorf("ParsePercent(%q): got %d, %v, want %d (ok %v)", tc.in, got, err, tc.ppm, tc.ok)
			continue
		}
		if tc.ok && app.FormatPercent(got) != tc.back {
			t.Errorf("FormatPercent(%d): got %q, want %q", got, app.FormatPercent(got), tc.back)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		since, until string
		from, to     time.Time
		ok           bool
	}{
		{"", "", day(2026, 3, 1), day(2026, 4, 1), true},
		{"2026-01-01", "2026-01-31", day(2026, 1, 1), day(2026, 2, 1), true},
		{"2026-01-01T12:00:00Z", "2026-01-02T00:00:00+02:00", day(2026, 1, 1).Add(12 * time.Hour), day(2026, 1, 1).Add(22 * time.Hour), true},
		{"2025-12-10", "", day(2025, 12, 10), day(2026, 1, 1), true},
		{"2024-01-01", "2025-01-01", time.Time{}, time.Time{}, false}, // 367 days with the whole last day
		{"2025-01-01", "2026-01-01", day(2025, 1, 1), day(2026, 1, 2), true},
		{"2026-02-01", "2026-01-01", time.Time{}, time.Time{}, false},
		{"yesterday", "", time.Time{}, time.Time{}, false},
		{"", "2026-13-01", time.Time{}, time.Time{}, false},
	} {
		from, to, err := app.ParsePeriod(tc.since, tc.until, now)
		if (err == nil) != tc.ok || (tc.ok && (!from.Equal(tc.from) || !to.Equal(tc.to))) {
			t.Errorf("ParsePeriod(%q, %q): got %v, %v, %v, want %v, %v (ok %v)", tc.since, tc.until, from, to, err, tc.from, tc.to, tc.ok)
		}
	}
}
