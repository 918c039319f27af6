package web

import (
	"strings"
	"testing"
	"time"
)

func TestFormatAmount(t *testing.T) {
	for _, c := range []struct {
		v        int64
		decimals int
		want     string
	}{
		{0, 2, "0.00"},
		{5, 2, "0.05"},
		{123456, 2, "1,234.56"},
		{-1250, 2, "−12.50"},
		{100000000000, 2, "1,000,000,000.00"},
		{1234, 0, "1,234"},
		{1234567, 3, "1,234.567"},
		{-999, 0, "−999"},
	} {
		if got := formatAmount(c.v, c.decimals); got != c.want {
			t.Errorf("formatAmount(%d, %d) = %q, want %q", c.v, c.decimals, got, c.want)
		}
	}
}

func TestCSVText(t *testing.T) {
	for in, want := range map[string]string{"lunch": "lunch", "=HYPERLINK(1)": "'=HYPERLINK(1)", "+1": "'+1", "-x": "'-x", "@sum": "'@sum", "": ""} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadZone(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5"} {
		if _, ok := loadZone(name); !ok {
			t.Errorf("loadZone(%q) refused", name)
		}
	}
	for _, name := range []string{"", "Local", "../etc/passwd", "/etc/localtime", "Europe/Nowhere", "a b", strings.Repeat("A", 65)} {
		if _, ok := loadZone(name); ok {
			t.Errorf("loadZone(%q) accepted", name)
		}
	}
}

func TestQRSVG(t *testing.T) {
	svg, err := qrSVG("otpauth://totp/coffer:123456789012?secret=ABC&issuer=coffer")
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(s, "<svg ") || !strings.Contains(s, `<path fill="#000" d="M`) || strings.Contains(s, "style") {
		t.Fatalf("got %.200s…, want an SVG with one path and no style attribute", s)
	}
}

func TestFormatTime(t *testing.T) {
	berlin, _ := loadZone("Europe/Berlin")
	at := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	if got, want := formatTime(at, berlin), "2026-07-01 12:00:00 CEST"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := formatTime(time.Time{}, time.UTC); got != "" {
		t.Errorf("zero time: got %q, want empty", got)
	}
}

func TestGroupDecimal(t *testing.T) {
	for in, want := range map[string]string{"100000.00": "100,000.00", "1000": "1,000", "0.00": "0.00", "12.5": "12.5", "x": "x"} {
		if got := groupDecimal(in); got != want {
			t.Errorf("groupDecimal(%q) = %q, want %q", in, got, want)
		}
	}
}
