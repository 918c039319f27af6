package password

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// cheap keeps tests that do many hashes fast; the code paths are the same as
// with DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestHasher_Hash_format(t *testing.T) {
	enc, err := Hasher{}.Hash("correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: got error %v, want nil", err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(enc, prefix) {
		t.Fatalf("Hash: got %q, want prefix %q", enc, prefix)
	}
	_, salt, key, err := decode(enc)
	if err != nil {
		t.Fatalf("decode(%q): got error %v, want nil", enc, err)
	}
	if len(salt) != 16 || len(key) != 32 {
		t.Errorf("got salt %d bytes, key %d bytes, want 16 and 32", len(salt), len(key))
	}
}

func TestHasher_Hash_saltIsRandom(t *testing.T) {
	h := Hasher{Params: cheap}
	a, err := h.Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two hashes of the same password: got equal %q, want different salts", a)
	}
}

func TestHasher_Hash_invalidParams(t *testing.T) {
	for _, p := range []Params{
		{Memory: 64, Time: 0, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 0, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 4, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 0},
		{Memory: 4, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: maxMemory + 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: maxTime + 1, Threads: 1, KeyLen: 32, SaltLen: 16},
	} {
		_, err := Hasher{Params: p}.Hash("whatever")
		if !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Hash with %+v: got error %v, want ErrInvalidParams", p, err)
		}
	}
}

func TestHasher_Verify(t *testing.T) {
	h := Hasher{Params: cheap}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", "correct horse battery staple", true},
		{"wrong", "correct horse battery stapler", false},
		{"case", "Correct horse battery staple", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tt.pw, enc)
			if err != nil {
				t.Fatalf("Verify: got error %v, want nil", err)
			}
			if ok != tt.want || rehash {
				t.Errorf("Verify(%q): got ok=%v needsRehash=%v, want ok=%v needsRehash=false", tt.pw, ok, rehash, tt.want)
			}
		})
	}
}

func TestHasher_Verify_defaultParams(t *testing.T) {
	enc, err := Hasher{}.Hash("default pass phrase")
	if err != nil {
		t.Fatal(err)
	}
	// The zero Hasher and an explicit DefaultParams Hasher are the same.
	ok, rehash, err := Hasher{Params: DefaultParams}.Verify("default pass phrase", enc)
	if err != nil || !ok || rehash {
		t.Errorf("Verify: got ok=%v needsRehash=%v err=%v, want true false nil", ok, rehash, err)
	}
}

func TestHasher_Verify_needsRehash(t *testing.T) {
	old := Hasher{Params: cheap}
	enc, err := old.Hash("upgrade me please")
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(*Params){
		"memory":  func(p *Params) { p.Memory *= 2 },
		"time":    func(p *Params) { p.Time++ },
		"threads": func(p *Params) { p.Threads++ },
		"keylen":  func(p *Params) { p.KeyLen = 64 },
		"saltlen": func(p *Params) { p.SaltLen = 32 },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			p := cheap
			change(&p)
			h := Hasher{Params: p}
			ok, rehash, err := h.Verify("upgrade me please", enc)
			if err != nil || !ok || !rehash {
				t.Errorf("right password: got ok=%v needsRehash=%v err=%v, want true true nil", ok, rehash, err)
			}
			// A wrong password must not trigger a rehash: the caller
			// would have nothing correct to hash.
			ok, rehash, err = h.Verify("wrong password!", enc)
			if err != nil || ok || rehash {
				t.Errorf("wrong password: got ok=%v needsRehash=%v err=%v, want false false nil", ok, rehash, err)
			}
		})
	}
}

func TestHasher_Verify_knownVector(t *testing.T) {
	const pw = "correct horse battery staple"
	salt := []byte("coffer-test-salt") // 16 bytes
	p := DefaultParams
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)

	// The key was also computed with an independent Argon2id implementation
	// (the argon2id npm package, WebAssembly build), so this pins the
	// algorithm, not just this package's use of x/crypto.
	const want = "$argon2id$v=19$m=19456,t=2,p=1$Y29mZmVyLXRlc3Qtc2FsdA$B/uhgympwHHfB/VzImYt662IFj6J6INfMNiEk2Jbr4U"
	if got := encode(p, salt, key); got != want {
		t.Fatalf("encode: got %q, want %q", got, want)
	}
	if got := base64.RawStdEncoding.EncodeToString(key); !strings.HasSuffix(want, "$"+got) {
		t.Errorf("argon2.IDKey: got %s, want the key in %q", got, want)
	}
	ok, rehash, err := Hasher{}.Verify(pw, want)
	if err != nil || !ok || rehash {
		t.Errorf("Verify: got ok=%v needsRehash=%v err=%v, want true false nil", ok, rehash, err)
	}
}

// validSalt and validKey build a well-formed cheap hash that the table
// below corrupts one piece at a time.
const (
	validSalt = "c2FsdHNhbHRzYWx0c2FsdA"                      // 16 bytes
	validKey  = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
)

func TestHasher_Verify_malformed(t *testing.T) {
	// Sanity check: the uncorrupted form parses.
	good := "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "$" + validKey
	if _, _, _, err := decode(good); err != nil {
		t.Fatalf("decode(%q): got error %v, want nil", good, err)
	}

	tail := "$" + validSalt + "$" + validKey
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1" + tail},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1" + tail},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1" + tail},
		{"no version", "$argon2id$m=64,t=1,p=1" + tail},
		{"leading garbage", "x$argon2id$v=19$m=64,t=1,p=1" + tail},
		{"trailing field", "$argon2id$v=19$m=64,t=1,p=1" + tail + "$"},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1" + tail},
		{"params missing", "$argon2id$v=19$m=64,t=1" + tail},
		{"params extra", "$argon2id$v=19$m=64,t=1,p=1,k=1" + tail},
		{"params empty value", "$argon2id$v=19$m=,t=1,p=1" + tail},
		{"params not a number", "$argon2id$v=19$m=abc,t=1,p=1" + tail},
		{"params negative", "$argon2id$v=19$m=-64,t=1,p=1" + tail},
		{"params plus sign", "$argon2id$v=19$m=+64,t=1,p=1" + tail},
		{"params leading zero", "$argon2id$v=19$m=064,t=1,p=1" + tail},
		{"params spaces", "$argon2id$v=19$m=64, t=1,p=1" + tail},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1" + tail},
		{"memory over 4 GiB", "$argon2id$v=19$m=4194305,t=1,p=1" + tail},
		{"memory below 8 per lane", "$argon2id$v=19$m=15,t=1,p=2" + tail},
		{"time zero", "$argon2id$v=19$m=64,t=0,p=1" + tail},
		{"time over 100", "$argon2id$v=19$m=64,t=101,p=1" + tail},
		{"time huge", "$argon2id$v=19$m=64,t=4294967295,p=1" + tail},
		{"threads zero", "$argon2id$v=19$m=64,t=1,p=0" + tail},
		{"threads overflow uint8", "$argon2id$v=19$m=4096,t=1,p=256" + tail},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!!!!!$" + validKey},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "==$" + validKey},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + validKey},
		{"salt empty", "$argon2id$v=19$m=64,t=1,p=1$$" + validKey},
		{"key empty", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "$"},
		{"key too short", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "$a2V5a2V5a2U"},
		{"key too long", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "$" + strings.Repeat("A", 200)},
		{"key non-canonical base64", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "$" + validKey[:len(validKey)-1] + "f"},
		{"newline in key", "$argon2id$v=19$m=64,t=1,p=1$" + validSalt + "$" + validKey[:10] + "\n" + validKey[10:]},
		{"huge input", "$argon2id$v=19$m=64,t=1,p=1" + tail + strings.Repeat("A", 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := Hasher{Params: cheap}.Verify("password", tt.enc)
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q): got error %v, want ErrMalformedHash", tt.enc, err)
			}
			if ok || rehash {
				t.Errorf("Verify(%q): got ok=%v needsRehash=%v, want false false", tt.enc, ok, rehash)
			}
		})
	}
}

func TestHasher_DummyVerify(t *testing.T) {
	// DummyVerify has no result; it must simply do its work without
	// panicking, including for a Hasher that Hash would refuse.
	Hasher{}.DummyVerify("no such user")
	Hasher{Params: cheap}.DummyVerify("no such user")
	Hasher{Params: Params{Time: 1}}.DummyVerify("no such user")
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrTooShort},
		{"short", "short", ErrTooShort},
		{"nine ascii", "abcdefgh9", ErrTooShort},
		{"nine runes eighteen bytes", "ééééééééé", ErrTooShort},
		{"ten runes multi-byte", "こんにちは世界です。", nil},
		{"ten cyrillic runes", "мойпароль!", nil},
		{"ten ascii", "vq8-zemk3r", nil},
		{"passphrase", "correct horse battery staple", nil},
		{"control characters allowed", "tab\there\x01and-long", nil},
		{"max length", strings.Repeat("xy", MaxLength/2), nil},
		{"too long", strings.Repeat("x", MaxLength+1), ErrTooLong},
		{"too long multi-byte", strings.Repeat("é", MaxLength/2+1), ErrTooLong},
		{"invalid utf-8", "abcdefghij\xff", ErrInvalid},
		{"invalid utf-8 short", "\xc3", ErrInvalid},
		{"common password123", "password123", ErrCommon},
		{"common qwertyuiop", "qwertyuiop", ErrCommon},
		{"common digits", "1234567890", ErrCommon},
		{"common upper case", "PASSWORD123", ErrCommon},
		{"common mixed case", "QwertyUiop", ErrCommon},
		{"common padded", "  qwertyuiop\t", ErrCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(tt.pw); got != tt.want {
				t.Errorf("Check(%q): got %v, want %v", tt.pw, got, tt.want)
			}
		})
	}
}

func TestCommonPasswords(t *testing.T) {
	set := commonPasswords()
	if got, want := len(set), 10000; got < want {
		t.Fatalf("common password list: got %d entries, want at least %d", got, want)
	}
	// Check looks entries up lower-cased and trimmed, so any entry stored
	// otherwise could never match.
	for w := range set {
		if w != strings.ToLower(strings.TrimSpace(w)) || !utf8.ValidString(w) {
			t.Errorf("entry %q: got non-canonical form, want lower-case, trimmed UTF-8", w)
		}
	}
}

func FuzzVerify(f *testing.F) {
	h := Hasher{Params: cheap}
	enc, err := h.Hash("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("fuzz", enc)
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$"+validSalt+"$"+validKey)
	f.Add("x", "$argon2id$v=19$m=4294967295,t=4294967295,p=255$$")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$"+validSalt+"$")
	f.Add("", "$$$$$")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pw, encoded string) {
		p, salt, key, err := decode(encoded)
		if err == nil {
			// Anything accepted must be the canonical spelling, so each
			// hash has exactly one accepted form.
			if got := encode(p, salt, key); got != encoded {
				t.Fatalf("encode(decode(%q)): got %q, want the input back", encoded, got)
			}
			// Accepted but costly parameters are legitimate; don't spend
			// fuzzing time (or gigabytes) running them.
			if p.Memory > 1024 || p.Time > 4 || p.KeyLen > 64 {
				t.Skip()
			}
		}
		ok, rehash, verr := h.Verify(pw, encoded)
		if (err == nil) != (verr == nil) {
			t.Fatalf("Verify(%q): got error %v, want %v (as decode)", encoded, verr, err)
		}
		if verr != nil && (ok || rehash) {
			t.Fatalf("Verify(%q): got ok=%v needsRehash=%v with error %v, want false false", encoded, ok, rehash, verr)
		}
	})
}

func BenchmarkHasher_Hash(b *testing.B) {
	h := Hasher{Params: DefaultParams}
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHasher_Verify and BenchmarkHasher_DummyVerify should report
// about the same time per op; if they drift apart, login timing leaks which
// accounts exist.
func BenchmarkHasher_Verify(b *testing.B) {
	h := Hasher{Params: DefaultParams}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		h.Verify("wrong horse battery staple", enc)
	}
}

func BenchmarkHasher_DummyVerify(b *testing.B) {
	h := Hasher{Params: DefaultParams}
	for b.Loop() {
		h.DummyVerify("wrong horse battery staple")
	}
}
