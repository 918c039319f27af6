package otp

import (
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestTOTP_RFC6238(t *testing.T) {
	keys := map[Algorithm][]byte{
		SHA1:   []byte("12345678901234567890"),
		SHA256: []byte("12345678901234567890123456789012"),
		SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	vectors := []struct {
		t    int64
		want map[Algorithm]string
	}{
		{59, map[Algorithm]string{SHA1: "94287082", SHA256: "46119246", SHA512: "90693936"}},
		{1111111109, map[Algorithm]string{SHA1: "07081804", SHA256: "68084774", SHA512: "25091201"}},
		{1111111111, map[Algorithm]string{SHA1: "14050471", SHA256: "67062674", SHA512: "99943326"}},
		{1234567890, map[Algorithm]string{SHA1: "89005924", SHA256: "91819424", SHA512: "93441116"}},
		{2000000000, map[Algorithm]string{SHA1: "69279037", SHA256: "90698825", SHA512: "38618901"}},
		{20000000000, map[Algorithm]string{SHA1: "65353130", SHA256: "77737706", SHA512: "47863826"}},
	}
	for _, v := range vectors {
		for alg, want := range v.want {
			got, err := TOTP(alg, keys[alg], time.Unix(v.t, 0), 8)
			if err != nil || got != want {
				t.Errorf("TOTP(%s, %d) = %q, %v; want %q", alg, v.t, got, err, want)
			}
		}
	}
}

func TestValidateTOTP(t *testing.T) {
	key := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	code, _ := TOTP(SHA1, key, now, 6)
	step, ok := ValidateTOTP(key, code, now, 0)
	if !ok || step != Step(now) {
		t.Fatalf("got %d, %v; want %d, true", step, ok, Step(now))
	}
	if _, ok := ValidateTOTP(key, code, now, step); ok {
		t.Fatal("a code of an already used step was accepted")
	}
	prev, _ := TOTP(SHA1, key, now.Add(-30*time.Second), 6)
	if _, ok := ValidateTOTP(key, prev, now, 0); !ok {
		t.Fatal("a code one step old was refused")
	}
	old, _ := TOTP(SHA1, key, now.Add(-90*time.Second), 6)
	if _, ok := ValidateTOTP(key, old, now, 0); ok {
		t.Fatal("a code three steps old was accepted")
	}
}

func TestValidateTOTP_Oathtool(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		missingTool(t, "oathtool is not installed; skipping the cross-check")
	}
	key := NewSecret()
	out, err := exec.Command("oathtool", "--totp", "-b", EncodeSecret(key)).Output()
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(string(out))
	if _, ok := ValidateTOTP(key, code, time.Now(), 0); !ok {
		t.Fatalf("oathtool code %q refused", code)
	}
}

func TestEnrol(t *testing.T) {
	key := NewSecret()
	e, err := Enrol("coffer", "123456789012", key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/") || !strings.Contains(e.URI, "secret="+e.Secret) {
		t.Errorf("got URI %q", e.URI)
	}
	if len(e.QRPNG) < 8 || string(e.QRPNG[1:4]) != "PNG" {
		t.Error("QR code is not a PNG")
	}
	back, err := DecodeSecret(strings.ToLower(e.Secret))
	if err != nil || hex.EncodeToString(back) != hex.EncodeToString(key) {
		t.Errorf("DecodeSecret round trip: got %x, %v", back, err)
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	key20 = unhex("3132333435363738393031323334353637383930")
	key32 = unhex("3132333435363738393031323334353637383930313233343536373839303132")
	key64 = unhex("31323334353637383930313233343536373839303132333435363738393031323334353637383930313233343536373839303132333435363738393031323334")
	pin   = unhex("7110eda4d09e062aa5e4a390b0a572ac0d2c0220") // SHA-1 of "1234"
)

// TestSuite_Answer checks the one-way challenge–response vectors of RFC
// 6287 appendix C.
func TestSuite_Answer(t *testing.T) {
	type vec struct {
		c    uint64
		q    string
		ts   uint64
		want string
	}
	cases := []struct {
		suite string
		key   []byte
		vecs  []vec
	}{
		{"OCRA-1:HOTP-SHA1-6:QN08", key20, []vec{
			{0, "00000000", 0, "237653"}, {0, "11111111", 0, "243178"}, {0, "22222222", 0, "653583"},
			{0, "33333333", 0, "740991"}, {0, "44444444", 0, "608993"}, {0, "55555555", 0, "388898"},
			{0, "66666666", 0, "816933"}, {0, "77777777", 0, "224598"}, {0, "88888888", 0, "750600"},
			{0, "99999999", 0, "294470"}}},
		{"OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1", key32, []vec{
			{0, "12345678", 0, "65347737"}, {1, "12345678", 0, "86775851"}, {2, "12345678", 0, "78192410"},
			{3, "12345678", 0, "71565254"}, {4, "12345678", 0, "10104329"}, {5, "12345678", 0, "65983500"},
			{6, "12345678", 0, "70069104"}, {7, "12345678", 0, "91771096"}, {8, "12345678", 0, "75011558"},
			{9, "12345678", 0, "08522129"}}},
		{"OCRA-1:HOTP-SHA256-8:QN08-PSHA1", key32, []vec{
			{0, "00000000", 0, "83238735"}, {0, "11111111", 0, "01501458"}, {0, "22222222", 0, "17957585"},
			{0, "33333333", 0, "86776967"}, {0, "44444444", 0, "86807031"}}},
		{"OCRA-1:HOTP-SHA512-8:C-QN08", key64, []vec{
			{0, "00000000", 0, "07016083"}, {1, "11111111", 0, "63947962"}, {2, "22222222", 0, "70123924"},
			{3, "33333333", 0, "25341727"}, {4, "44444444", 0, "33203315"}, {5, "55555555", 0, "34205738"},
			{6, "66666666", 0, "44343969"}, {7, "77777777", 0, "51946085"}, {8, "88888888", 0, "20403879"},
			{9, "99999999", 0, "31409299"}}},
		{"OCRA-1:HOTP-SHA512-8:QN08-T1M", key64, []vec{
			{0, "00000000", 0x132d0b6, "95209754"}, {0, "11111111", 0x132d0b6, "55907591"},
			{0, "22222222", 0x132d0b6, "22048402"}, {0, "33333333", 0x132d0b6, "24218844"},
			{0, "44444444", 0x132d0b6, "36209546"}}},
	}
	for _, c := range cases {
		t.Run(c.suite, func(t *testing.T) {
			su, err := ParseSuite(c.suite)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range c.vecs {
				in := Inputs{Counter: v.c, Question: v.q, Timestamp: v.ts}
				if su.PinHash != "" {
					in.PinHash = pin
				}
				got, err := su.Answer(c.key, in)
				if err != nil || got != v.want {
					t.Errorf("C=%d Q=%s: got %q, %v; want %q", v.c, v.q, got, err, v.want)
				}
			}
		})
	}
}

func TestParseSuite(t *testing.T) {
	for _, bad := range []string{"", "OCRA-1", "OCRA-2:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-MD5-6:QN08",
		"OCRA-1:HOTP-SHA1-3:QN08", "OCRA-1:HOTP-SHA1-6:QX08", "OCRA-1:HOTP-SHA1-6:QN99",
		"OCRA-1:HOTP-SHA1-6:QN08-T0M", "OCRA-1:HOTP-SHA1-6:QN08-X", "OCRA-1:HOTP-SHA1-06:QN08"} {
		if _, err := ParseSuite(bad); err == nil {
			t.Errorf("ParseSuite(%q) succeeded", bad)
		}
	}
	su, err := ParseSuite("OCRA-1:HOTP-SHA512-8:C-QH40-PSHA256-S064-T30S")
	if err != nil || !su.Counter || su.QFormat != 'H' || su.QLen != 40 || su.PinHash != SHA256 || su.SessLen != 64 || su.TimeStep != 30 {
		t.Fatalf("got %+v, %v", su, err)
	}
}

func FuzzParseSuite(f *testing.F) {
	f.Add("OCRA-1:HOTP-SHA256-8:QN08", "12345678")
	f.Add("OCRA-1:HOTP-SHA512-8:C-QH40-PSHA256-S064-T30S", "ABCDEF")
	f.Add("OCRA-1:HOTP-SHA1-6:QA10-T1H", "hello")
	f.Fuzz(func(t *testing.T, suite, q string) {
		su, err := ParseSuite(suite)
		if err != nil {
			return
		}
		if su.Text != suite || su.Digits < 4 || su.Digits > 10 || su.QLen < 4 || su.QLen > 64 {
			t.Fatalf("parsed %q to %+v", suite, su)
		}
		in := Inputs{Question: q}
		if su.PinHash != "" {
			h, _ := su.PinHash.new()
			in.PinHash = make([]byte, h().Size())
		}
		in.Session = make([]byte, su.SessLen)
		a, err := su.Answer(key20, in)
		if err != nil {
			if su.ValidChallenge(q) {
				t.Fatalf("valid challenge %q refused: %v", q, err)
			}
			return
		}
		if len(a) != su.Digits {
			t.Fatalf("answer %q has %d digits, want %d", a, len(a), su.Digits)
		}
	})
}
