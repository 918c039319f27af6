package httpsig

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseDictionary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Dictionary
	}{
		{`a=1, b=2`, Dictionary{{"a", Item{Value: int64(1)}}, {"b", Item{Value: int64(2)}}}},
		{`  a=1 ,	b=?0  `, Dictionary{{"a", Item{Value: int64(1)}}, {"b", Item{Value: false}}}},
		{`a, b;x=-1.50`, Dictionary{{"a", Item{Value: true}}, {"b", Item{Value: true, Params: Params{{"x", Decimal(-1500)}}}}}},
		{`a=1, a=2`, Dictionary{{"a", Item{Value: int64(2)}}}},
		{`s=("a" "b\"c");p=tok/en:x;q`, Dictionary{{"s", InnerList{
			Items:  []Item{{Value: "a"}, {Value: `b"c`}},
			Params: Params{{"p", Token("tok/en:x")}, {"q", true}},
		}}}},
		{`e=()`, Dictionary{{"e", InnerList{}}}},
		{`b=:aGVsbG8=:, c=:aGVsbG8:, d=::`, Dictionary{{"b", Item{Value: []byte("hello")}}, {"c", Item{Value: []byte("hello")}}, {"d", Item{Value: []byte{}}}}},
		{`n=999999999999999, m=-999999999999.999`, Dictionary{{"n", Item{Value: int64(999999999999999)}}, {"m", Item{Value: Decimal(-999999999999999)}}}},
		{``, nil},
	} {
		got, err := ParseDictionary(tc.in)
		if err != nil {
			t.Errorf("ParseDictionary(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseDictionary(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseDictionary_Refuses(t *testing.T) {
	for _, in := range []string{
		`a=1,`, `a=1,,b=2`, `A=1`, `1a=1`, `a=`, `a=1 b=2`, `a=(1`, `a=(1)x`, `a=("x"`,
		`a="unterminated`, `a="bad\escape"`, "a=\"tab\there\"", `a=:abc`, `a=:ab!c:`, `a=:a=b=:`,
		`a=?2`, `a=?`, `a=1.`, `a=1.2345`, `a=1234567890123.5`, `a=1234567890123456`, `a=-`, `a=--1`,
		`a=@x`, `a=1;`, `a=1;B=2`, "a=\"\x80\"", `a=(1 2`, `a=(1  2)`[:7], ` , a=1`, `a=1;x=(1)`,
	} {
		if d, err := ParseDictionary(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseDictionary(%q) = %#v, %v; want a syntax error", in, d, err)
		}
	}
}

func TestDictionary_String(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`a=1,b=2`, `a=1, b=2`},
		{`a=?1;x`, `a;x`},
		{`a=1.500, b=2.0, c=-0.001`, `a=1.5, b=2.0, c=-0.001`},
		{`b=:aGVsbG8:`, `b=:aGVsbG8=:`},
		{`s=( "a"   "b" );created=1`, `s=("a" "b");created=1`},
	} {
		d, err := ParseDictionary(tc.in)
		if err != nil {
			t.Fatalf("ParseDictionary(%q): %v", tc.in, err)
		}
		got, err := d.String()
		if err != nil || got != tc.want {
			t.Errorf("String of %q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, d := range []Dictionary{
		{{"A", Item{Value: int64(1)}}},
		{{"a", Item{Value: int64(1e15)}}},
		{{"a", Item{Value: "line\nbreak"}}},
		{{"a", Item{Value: Token("1x")}}},
		{{"a", Item{Value: 1.5}}},
		{{"a", Item{Value: int64(1), Params: Params{{"K", true}}}}},
	} {
		if s, err := d.String(); !errors.Is(err, ErrSerialize) {
			t.Errorf("String of %#v = %q, %v; want ErrSerialize", d, s, err)
		}
	}
}

// roundTrip checks that a parsed dictionary serializes to text that parses
// to the same value, and that serializing is stable.
func roundTrip(t *testing.T, in string) {
	d, err := ParseDictionary(in)
	if err != nil {
		return
	}
	s, err := d.String()
	if err != nil {
		t.Fatalf("parsed %q but cannot serialize %#v: %v", in, d, err)
	}
	d2, err := ParseDictionary(s)
	if err != nil {
		t.Fatalf("serialized %q of %q does not parse: %v", s, in, err)
	}
	if !reflect.DeepEqual(normalize(d), normalize(d2)) {
		t.Fatalf("round trip of %q: %#v became %#v", in, d, d2)
	}
	s2, _ := d2.String()
	if s2 != s {
		t.Fatalf("serialization not stable: %q then %q", s, s2)
	}
}

// normalize makes empty and nil byte sequences compare equal.
func normalize(d Dictionary) Dictionary {
	for i, m := range d {
		if it, ok := m.Value.(Item); ok {
			if b, ok := it.Value.([]byte); ok && len(b) == 0 {
				it.Value = []byte{}
				d[i].Value = it
			}
		}
	}
	return d
}

func TestRoundTrip(t *testing.T) {
	for _, in := range []string{b26Input, b26Signature, `a=1, b;c="d", e=(f g);h=:AA==:`} {
		roundTrip(t, in)
	}
}
