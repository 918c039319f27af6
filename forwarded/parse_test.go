package forwarded

import (
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseForwarded(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines []string
		want  []map[string]string
	}{
		{"RFC 7239 example", []string{`for="_gazonk"`}, []map[string]string{{"for": "_gazonk"}}},
		{"case and quoting", []string{`For="[2001:db8:cafe::17]:4711"`}, []map[string]string{{"for": "[2001:db8:cafe::17]:4711"}}},
		{"pairs", []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, []map[string]string{{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}}},
		{"elements and lines", []string{`for=192.0.2.43, for=198.51.100.17`, `for=10.0.0.1;host="coffer.example";proto=https`},
			[]map[string]string{{"for": "192.0.2.43"}, {"for": "198.51.100.17"}, {"for": "10.0.0.1", "host": "coffer.example", "proto": "https"}}},
		{"spaces and empty elements", []string{` for=192.0.2.43 ; proto=https ,, `}, []map[string]string{{"for": "192.0.2.43", "proto": "https"}}},
		{"escapes", []string{`for="a\"b\\c"`}, []map[string]string{{"for": `a"b\c`}}},
		{"empty", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseForwarded(c.lines)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("parseForwarded(%q) = %v, %v; want %v", c.lines, got, err, c.want)
			}
		})
	}
	for _, bad := range []string{`for`, `for=`, `=x`, `for="192.0.2.1`, `for=192.0.2.1 x`, `for=[2001:db8::1]`, `for=a;for=b`, `for="a` + "\x01" + `"`, `for=a;;x`, `for=a,b`} {
		if got, err := parseForwarded([]string{bad}); err == nil {
			t.Errorf("parseForwarded(%q) = %v, want an error", bad, got)
		}
	}
}

// quoteForwarded writes one element's parameters back as RFC 7239 text,
// every value quoted.
func quoteForwarded(elems []map[string]string) string {
	var parts []string
	for _, e := range elems {
		var pairs []string
		for k, v := range e {
			v = strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`)
			pairs = append(pairs, k+`="`+v+`"`)
		}
		parts = append(parts, strings.Join(pairs, ";"))
	}
	return strings.Join(parts, ", ")
}

// FuzzParseForwarded: whatever the field says, the parser does not panic,
// returns no empty element and lower-case token names, and what it returns
// written back (quoted) parses to the same.
func FuzzParseForwarded(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=http;by=203.0.113.43`)
	f.Add(`for="[2001:db8:cafe::17]:4711", for=unknown`)
	f.Add(`for="a\"b";host=coffer.example,,;`)
	f.Fuzz(func(t *testing.T, line string) {
		elems, err := parseForwarded([]string{line})
		if err != nil {
			return
		}
		for _, e := range elems {
			if len(e) == 0 {
				t.Fatalf("%q: an empty element", line)
			}
			for k := range e {
				if k == "" || k != strings.ToLower(k) || strings.IndexFunc(k, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) >= 0 {
					t.Fatalf("%q: parameter name %q", line, k)
				}
			}
		}
		again, err := parseForwarded([]string{quoteForwarded(elems)})
		if err != nil || len(again) != len(elems) || (len(elems) > 0 && !reflect.DeepEqual(again, elems)) {
			t.Fatalf("%q parsed to %v; written back as %q it parses to %v, %v", line, elems, quoteForwarded(elems), again, err)
		}
	})
}

// FuzzRequestForwarded: whatever a client writes in Forwarded, a peer that
// is not trusted keeps its address, and behind a trusted one the client is
// the peer or an address a for parameter names.
func FuzzRequestForwarded(f *testing.F) {
	f.Add("10.0.0.0/8", "10.1.1.1:443", `for=203.0.113.7, for="10.2.2.2:80";proto=https`)
	f.Add("::1", "[::1]:80", `for=unknown, for="[2001:db8::1]:12"`)
	f.Fuzz(func(t *testing.T, trusted, peer, fwd string) {
		tr, err := ParseWith([]string{trusted}, Standard)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("Forwarded", fwd)
		got := tr.Request(r)
		if got.RemoteAddr == peer {
			return
		}
		if !FromProxy(got) {
			t.Fatalf("RemoteAddr changed from %q to %q without a trusted proxy", peer, got.RemoteAddr)
		}
		ap, err := netip.ParseAddrPort(got.RemoteAddr)
		if err != nil {
			t.Fatalf("RemoteAddr %q is not address:port", got.RemoteAddr)
		}
		a := ap.Addr()
		if p, ok := remoteAddr(peer); ok && p.WithZone("") == a {
			return
		}
		elems, _ := parseForwarded([]string{fwd})
		for _, e := range elems {
			if h, ok := hopAddr(e["for"]); ok && h == a {
				return
			}
		}
		t.Fatalf("client %s is neither the peer %q nor named in Forwarded %q", a, peer, fwd)
	})
}
