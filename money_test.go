package coffer_test

import (
	"strconv"
	"testing"

	"github.com/coffer-money/coffer"
)

func TestParseAmount(t *testing.T) {
	good := []struct {
		in   string
		dec  int
		want int64
	}{
		{"12.50", 2, 1250}, {"12.5", 2, 1250}, {"12", 2, 1200}, {"0.01", 2, 1}, {"0.1", 2, 10},
		{"1000000.00", 2, 100000000}, {"7", 0, 7}, {"0.00000001", 8, 1}, {"1152921504606846.97", 2, 115292150460684697},
	}
	for _, c := range good {
		got, err := coffer.ParseAmount(c.in, c.dec)
		if err != nil || got != c.want {
			t.Errorf("ParseAmount(%q, %d) = %d, %v; want %d", c.in, c.dec, got, err, c.want)
		}
	}
	bad := []struct {
		in  string
		dec int
	}{
		{"", 2}, {"0", 2}, {"0.00", 2}, {"-1.00", 2}, {"+1.00", 2}, {"1.001", 2}, {"1e2", 2}, {"1E2", 2},
		{" 1.00", 2}, {"1.00 ", 2}, {"1,00", 2}, {".5", 2}, {"5.", 2}, {"01.00", 2}, {"00", 2}, {"1.5", 0},
		{"0x10", 2}, {"NaN", 2}, {"Inf", 2}, {"1..0", 2}, {"1.0.0", 2}, {"１２", 2},
		{"99999999999999999999999.00", 2}, {"92233720368547758.08", 2}, {"11529215046068470", 2},
	}
	for _, c := range bad {
		got, err := coffer.ParseAmount(c.in, c.dec)
		if err == nil {
			t.Errorf("ParseAmount(%q, %d) = %d, nil; want an error", c.in, c.dec, got)
		} else if code := coffer.ErrorCode(err); code != coffer.EINVALIDAMOUNT {
			t.Errorf("ParseAmount(%q) code = %q, want %q", c.in, code, coffer.EINVALIDAMOUNT)
		}
	}
}

func TestParseLimit_AllowsZero(t *testing.T) {
	if v, err := coffer.ParseLimit("0", 2); err != nil || v != 0 {
		t.Fatalf("ParseLimit(0) = %d, %v; want 0, nil", v, err)
	}
}

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		v    int64
		dec  int
		want string
	}{
		{0, 2, "0.00"}, {1, 2, "0.01"}, {-1, 2, "-0.01"}, {1250, 2, "12.50"}, {-100000000, 2, "-1000000.00"},
		{7, 0, "7"}, {1, 8, "0.00000001"}, {-9223372036854775807, 2, "-92233720368547758.07"},
	}
	for _, c := range cases {
		if got := coffer.FormatAmount(c.v, c.dec); got != c.want {
			t.Errorf("FormatAmount(%d, %d) = %q, want %q", c.v, c.dec, got, c.want)
		}
	}
}

// FuzzParseAmount checks that parsing never panics, and that whatever it
// accepts formats back to an equal amount and is in range.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.50", "0.01", "1e2", "-1", "99999999999999999999", "1.", ".1", "0"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, dec int) {
		dec = ((dec % 9) + 9) % 9
		v, err := coffer.ParseAmount(s, dec)
		if err != nil {
			if coffer.ErrorCode(err) != coffer.EINVALIDAMOUNT {
				t.Fatalf("ParseAmount(%q) error code %q", s, coffer.ErrorCode(err))
			}
			return
		}
		if v <= 0 || v > coffer.MaxAmount {
			t.Fatalf("ParseAmount(%q) = %d out of range", s, v)
		}
		back, err := coffer.ParseAmount(coffer.FormatAmount(v, dec), dec)
		if err != nil || back != v {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, v, coffer.FormatAmount(v, dec), back, err)
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			t.Fatalf("accepted %q, which is not even a number", s)
		}
	})
}
