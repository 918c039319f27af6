package coffer_test

import (
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
)

func TestParseIPRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string // joined by spaces; "!" for an error
	}{
		{nil, ""},
		{[]string{"203.0.113.7/24"}, "203.0.113.0/24"},
		{[]string{" 127.0.0.1 ", "127.0.0.1/32"}, "127.0.0.1/32"},
		{[]string{"::1", "2001:DB8::1/32"}, "2001:db8::/32 ::1/128"},
		{[]string{"::ffff:10.0.0.1/104"}, "10.0.0.0/8"},
		{[]string{"10.0.0.0/33"}, "!"},
		{[]string{"fe80::1%eth0"}, "!"},
		{[]string{"::ffff:10.0.0.1/64"}, "!"},
		{[]string{"example.org"}, "!"},
		{[]string{""}, "!"},
		{make([]string, coffer.MaxIPRanges+1), "!"},
	} {
		got, err := coffer.ParseIPRanges(tc.in)
		if tc.want == "!" {
			if coffer.ErrorCode(err) != coffer.EINVALID {
				t.Errorf("ParseIPRanges(%q) = %q, %v; want invalid_request", tc.in, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ParseIPRanges(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestIPAllowed(t *testing.T) {
	for _, tc := range []struct {
		ranges []string
		ip     string
		want   bool
	}{
		{nil, "192.0.2.1", true},
		{nil, "junk", true},
		{[]string{"192.0.2.0/24"}, "192.0.2.255", true},
		{[]string{"192.0.2.0/24"}, "192.0.3.0", false},
		{[]string{"192.0.2.0/24"}, "::ffff:192.0.2.9", true},
		{[]string{"::1/128"}, "::1", true},
		{[]string{"::1/128"}, "127.0.0.1", false},
		{[]string{"127.0.0.1/32"}, "::1", false},
		{[]string{"127.0.0.1/32"}, "junk", false},
	} {
		if got := coffer.IPAllowed(tc.ranges, tc.ip); got != tc.want {
			t.Errorf("IPAllowed(%q, %q) = %v, want %v", tc.ranges, tc.ip, got, tc.want)
		}
	}
}

// FuzzParseIPRanges: whatever the input, the parser either refuses it or
// returns a list that parses to itself and allows the addresses it names.
func FuzzParseIPRanges(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "2001:db8::/32,127.0.0.1", "::ffff:1.2.3.4/120", "1.2.3.4/0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := coffer.ParseIPRanges(strings.Split(s, ","))
		if err != nil {
			if coffer.ErrorCode(err) != coffer.EINVALID {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		again, err := coffer.ParseIPRanges(list)
		if err != nil || strings.Join(again, ",") != strings.Join(list, ",") {
			t.Fatalf("normalised %q parses to %q, %v", list, again, err)
		}
		for _, r := range list {
			addr, _, _ := strings.Cut(r, "/")
			if !coffer.IPAllowed(list, addr) {
				t.Fatalf("%q does not allow its own address %s", list, addr)
			}
		}
	})
}
