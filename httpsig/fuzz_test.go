package httpsig

import "testing"

func FuzzParseSignatureInput(f *testing.F) {
	for _, s := range []string{
		b26Input,
		`sig1=("@method" "@target-uri" "content-digest");created=1700000000;nonce="abc";keyid="key_x";alg="ed25519"`,
		`a=(), b=("x";sf "y";key="z");p=?1;d=1.5`,
		`sig1=("@method");created=-1, sig2=("@path");expires=999999999999999`,
		`x=:AA==:`, `bad`, `a=("`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s)
		ins, err := ParseSignatureInput(s)
		if err != nil {
			return
		}
		for _, si := range ins {
			if _, err := si.InnerList().String(); err != nil {
				t.Fatalf("parsed %q but cannot serialize %s: %v", s, si.Label, err)
			}
			for _, c := range si.Components {
				if _, ok := c.Value.(string); !ok {
					t.Fatalf("parsed %q: component %#v is not a string", s, c.Value)
				}
			}
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{
		b26Signature,
		`sig1=:AAAA:, sig2=:YWJj:`,
		`sig1=:YWJj`, `sig1="x"`, `sig1=:a=b=:`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s)
		sigs, err := ParseSignature(s)
		if err != nil {
			return
		}
		for _, sg := range sigs {
			if sg.Value == nil {
				t.Fatalf("signature %s has a nil value", sg.Label)
			}
		}
	})
}
