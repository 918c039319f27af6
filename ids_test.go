package coffer_test

import (
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
)

func TestNewMemberID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := coffer.NewMemberID()
		if !coffer.ValidMemberID(id) {
			t.Fatalf("NewMemberID() = %q, not a valid member ID", id)
		}
		seen[id] = true
	}
	if len(seen) < 999 {
		t.Fatalf("got %d distinct IDs of 1000, want (nearly) all distinct", len(seen))
	}
}

func TestNewPurseNumber(t *testing.T) {
	for i := 0; i < 100; i++ {
		p := coffer.NewPurseNumber('Z')
		if !coffer.ValidPurseNumber(p) || p[0] != 'Z' {
			t.Fatalf("NewPurseNumber('Z') = %q, want Z + 12 digits", p)
		}
	}
}

func TestValidIDs(t *testing.T) {
	for _, c := range []struct {
		s           string
		member, pur bool
	}{
		{"123456789012", true, false}, {"023456789012", false, false}, {"12345678901", false, false},
		{"1234567890123", false, false}, {"12345678901a", false, false}, {"Z123456789012", false, true},
		{"z123456789012", false, false}, {"Z12345678901", false, false}, {"ZZ23456789012", false, false},
		{"", false, false}, {"Z1234567890１2", false, false},
	} {
		if got := coffer.ValidMemberID(c.s); got != c.member {
			t.Errorf("ValidMemberID(%q) = %v, want %v", c.s, got, c.member)
		}
		if got := coffer.ValidPurseNumber(c.s); got != c.pur {
			t.Errorf("ValidPurseNumber(%q) = %v, want %v", c.s, got, c.pur)
		}
	}
}

func TestValidTransferID(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"t1", true}, {"order-2026:11.25_x", true}, {strings.Repeat("a", 64), true},
		{"", false}, {strings.Repeat("a", 65), false}, {"a b", false}, {"a/b", false}, {"é", false}, {"a\n", false},
	} {
		if got := coffer.ValidTransferID(c.s); got != c.want {
			t.Errorf("ValidTransferID(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

func TestValidateDescription(t *testing.T) {
	ok := []string{"", "rent for May", "Оплата заказа № 5 — спасибо", strings.Repeat("ж", 255)}
	for _, s := range ok {
		if err := coffer.ValidateDescription(s); err != nil {
			t.Errorf("ValidateDescription(%q) = %v, want nil", s, err)
		}
	}
	bad := []string{strings.Repeat("a", 256), "a\nb", "tab\there", "\x00", "bell\a", string([]byte{0xff, 0xfe}), "rtl\u202eoverride"}
	for _, s := range bad {
		if err := coffer.ValidateDescription(s); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("ValidateDescription(%q) code = %q, want %q", s, coffer.ErrorCode(err), coffer.EINVALID)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	got, err := coffer.NormalizeEmail("  Alice.Smith@Example.ORG ")
	if err != nil || got != "alice.smith@example.org" {
		t.Fatalf("NormalizeEmail = %q, %v; want alice.smith@example.org", got, err)
	}
	for _, s := range []string{"", "alice", "a@b", "a@@b.org", "Alice <a@b.org>", "a@.org", "a@b.org.", "@b.org", strings.Repeat("a", 250) + "@b.org"} {
		if _, err := coffer.NormalizeEmail(s); err == nil {
			t.Errorf("NormalizeEmail(%q) = nil error, want invalid", s)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+1 (415) 555-0123": "+14155550123", "+44 20 7946 0958": "+442079460958", "0049 30 1234567": "+49301234567",
		"+7.495.123.45.67": "+74951234567",
	} {
		got, err := coffer.NormalizePhone(in)
		if err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, s := range []string{"", "4155550123", "+0123456789", "+1234", "+1234567890123456", "+1 415 555 0123 ext 5", "++14155550123", "+1-415-555-O123"} {
		if _, err := coffer.NormalizePhone(s); err == nil {
			t.Errorf("NormalizePhone(%q) = nil error, want invalid", s)
		}
	}
}

// FuzzParseIDs feeds arbitrary strings to every ID parser: none may panic,
// and whatever is accepted has the documented shape.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"123456789012", "Z123456789012", "t-1", "+14155550123", "a@b.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if coffer.ValidMemberID(s) && (len(s) != 12 || s[0] == '0') {
			t.Fatalf("accepted member ID %q", s)
		}
		if coffer.ValidPurseNumber(s) && len(s) != 13 {
			t.Fatalf("accepted purse number %q", s)
		}
		if coffer.ValidTransferID(s) && (len(s) == 0 || len(s) > 64) {
			t.Fatalf("accepted transfer ID %q", s)
		}
		if p, err := coffer.NormalizePhone(s); err == nil {
			if q, err := coffer.NormalizePhone(p); err != nil || q != p {
				t.Fatalf("phone %q normalised to %q is not stable: %q, %v", s, p, q, err)
			}
		}
		if e, err := coffer.NormalizeEmail(s); err == nil {
			if g, err := coffer.NormalizeEmail(e); err != nil || g != e {
				t.Fatalf("e-mail %q normalised to %q is not stable: %q, %v", s, e, g, err)
			}
		}
	})
}
