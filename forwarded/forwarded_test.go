package forwarded_test

import (
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/forwarded"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"10.0.0.0/8"}, "10.0.0.0/8"},
		{[]string{"10.1.2.3/8, 192.0.2.1", "2001:db8::1"}, "10.0.0.0/8,192.0.2.1/32,2001:db8::1/128"},
		{[]string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1"}, "10.0.0.0/8,192.0.2.1/32"},
		{[]string{" , "}, ""},
	} {
		tr, err := forwarded.Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := tr.String(); got != c.want {
			t.Errorf("Parse(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"proxy.example", "10.0.0.0/33", "10.0.0.1:80", "::ffff:10.0.0.0/64", "*"} {
		if _, err := forwarded.Parse([]string{bad}); err == nil {
			t.Errorf("Parse(%q): got no error", bad)
		}
	}
}

func TestTrusted_Request(t *testing.T) {
	tr, err := forwarded.Parse([]string{"127.0.0.1", "10.0.0.0/8", "2001:db8:1::/48"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		xfh        string
		wantAddr   string
		wantHost   string
	}{
		{"untrusted peer keeps its address", "203.0.113.9:4711", []string{"198.51.100.7"}, "evil.example", "203.0.113.9:4711", ""},
		{"no header", "127.0.0.1:4711", nil, "", "127.0.0.1:0", ""},
		{"one hop", "127.0.0.1:4711", []string{"198.51.100.7"}, "coffer.example", "198.51.100.7:0", "coffer.example"},
		{"spoofed left part ignored", "127.0.0.1:4711", []string{"6.6.6.6, 198.51.100.7"}, "", "198.51.100.7:0", ""},
		{"trusted hops skipped", "127.0.0.1:4711", []string{"6.6.6.6, 198.51.100.7", "10.1.1.1, 10.2.2.2"}, "", "198.51.100.7:0", ""},
		{"every hop trusted", "127.0.0.1:4711", []string{"10.1.1.1, 10.2.2.2"}, "", "10.1.1.1:0", ""},
		{"garbage stops the walk", "127.0.0.1:4711", []string{"198.51.100.7, unknown"}, "", "127.0.0.1:0", ""},
		{"ports and brackets", "[2001:db8:1::5]:443", []string{"[2001:db8:2::9]:5555"}, "", "[2001:db8:2::9]:0", ""},
		{"mapped peer", "[::ffff:10.0.0.2]:443", []string{"198.51.100.7:80"}, "", "198.51.100.7:0", ""},
		{"rightmost forwarded host", "10.0.0.2:443", nil, "evil.example, coffer.example", "10.0.0.2:0", "coffer.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.xfh != "" {
				r.Header.Set("X-Forwarded-Host", c.xfh)
			}
			got := tr.Request(r)
			if got.RemoteAddr != c.wantAddr {
				t.Errorf("RemoteAddr = %q, want %q", got.RemoteAddr, c.wantAddr)
			}
			if h := forwarded.Host(got); h != c.wantHost {
				t.Errorf("Host = %q, want %q", h, c.wantHost)
			}
			if again := tr.Request(got); again.RemoteAddr != got.RemoteAddr {
				t.Errorf("a second Request moved RemoteAddr to %q", again.RemoteAddr)
			}
		})
	}

	t.Run("nil trusts no one", func(t *testing.T) {
		var none *forwarded.Trusted
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:4711"
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		r.Header.Set("X-Forwarded-Host", "evil.example")
		r.Header.Set("X-Forwarded-Proto", "https")
		got := none.Request(r)
		if got.RemoteAddr != r.RemoteAddr || forwarded.Host(got) != "" || forwarded.Proto(got) != "" || forwarded.FromProxy(got) {
			t.Errorf("got RemoteAddr %q, Host %q, Proto %q; want the headers ignored", got.RemoteAddr, forwarded.Host(got), forwarded.Proto(got))
		}
	})
}

// FuzzRequest: whatever a client writes in X-Forwarded-For, a peer that is
// not trusted keeps its address, and behind a trusted one the client is
// the peer or an address the header names; RemoteAddr always stays an
// address with a port.
func FuzzRequest(f *testing.F) {
	f.Add("10.0.0.0/8", "10.1.1.1:443", "203.0.113.7, 10.2.2.2")
	f.Add("10.0.0.0/8", "192.0.2.1:443", "10.0.0.1")
	f.Add("::1", "[::1]:80", "garbage, [2001:db8::1]:12, 198.51.100.1")
	f.Fuzz(func(t *testing.T, trusted, peer, xff string) {
		tr, err := forwarded.Parse([]string{trusted})
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := tr.Request(r)
		if got.RemoteAddr == peer {
			return
		}
		if !forwarded.FromProxy(got) {
			t.Fatalf("RemoteAddr changed from %q to %q without a trusted proxy", peer, got.RemoteAddr)
		}
		host, _, err := net.SplitHostPort(got.RemoteAddr)
		if err != nil {
			t.Fatalf("RemoteAddr %q is not host:port", got.RemoteAddr)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			t.Fatalf("RemoteAddr %q holds no address", got.RemoteAddr)
		}
		named := false
		if p, err := netip.ParseAddrPort(peer); err == nil && p.Addr().WithZone("").Unmap() == a {
			named = true
		}
		if p, err := netip.ParseAddr(peer); err == nil && p.WithZone("").Unmap() == a {
			named = true // a bare address, as some harnesses set it
		}
		// An entry names a when it is a, a:port, [a] or [a]:port.
		for _, hop := range strings.Split(xff, ",") {
			hop = strings.TrimSpace(hop)
			if ap, err := netip.ParseAddrPort(hop); err == nil {
				hop = ap.Addr().String()
			}
			if x, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(hop, "["), "]")); err == nil && x.WithZone("").Unmap() == a {
				named = true
			}
		}
		if !named {
			t.Fatalf("client %s is neither the peer %q nor named in X-Forwarded-For %q", a, peer, xff)
		}
		if again := tr.Request(got); again.RemoteAddr != got.RemoteAddr {
			t.Fatalf("Request twice: %q then %q", got.RemoteAddr, again.RemoteAddr)
		}
	})
}

// TestTrusted_RequestForwarded checks the standard Forwarded field
// (--trusted-proxy-header forwarded): its for parameters are walked as
// X-Forwarded-For is, its last element's host and proto answer, and each
// family of headers is ignored when the proxies are said to write the
// other.
func TestTrusted_RequestForwarded(t *testing.T) {
	tr, err := forwarded.ParseWith([]string{"127.0.0.1", "10.0.0.0/8"}, forwarded.Standard)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		fwd        []string
		wantAddr   string
		wantHost   string
		wantProto  string
	}{
		{"untrusted peer keeps its address", "203.0.113.9:4711", []string{"for=198.51.100.7;host=evil.example;proto=https"}, "203.0.113.9:4711", "", ""},
		{"no header", "127.0.0.1:4711", nil, "127.0.0.1:0", "", ""},
		{"one hop", "127.0.0.1:4711", []string{`for=198.51.100.7;host=coffer.example;proto=HTTPS`}, "198.51.100.7:0", "coffer.example", "https"},
		{"spoofed left element ignored", "127.0.0.1:4711", []string{`for=6.6.6.6;host=evil.example, for=198.51.100.7;host=coffer.example`}, "198.51.100.7:0", "coffer.example", ""},
		{"trusted hops skipped", "127.0.0.1:4711", []string{`for=198.51.100.7`, `for=10.1.1.1, for="10.2.2.2:80";proto=https`}, "198.51.100.7:0", "", "https"},
		{"quoted IPv6 with port", "127.0.0.1:4711", []string{`for="[2001:db8:cafe::17]:4711"`}, "[2001:db8:cafe::17]:0", "", ""},
		{"unknown stops the walk", "127.0.0.1:4711", []string{`for=198.51.100.7, for=unknown`}, "127.0.0.1:0", "", ""},
		{"obfuscated stops the walk", "127.0.0.1:4711", []string{`for=198.51.100.7, for=_hidden`}, "127.0.0.1:0", "", ""},
		{"no for stops the walk", "127.0.0.1:4711", []string{`for=198.51.100.7, proto=https`}, "127.0.0.1:0", "", "https"},
		{"malformed names no one", "127.0.0.1:4711", []string{`for=198.51.100.7;host="coffer.example`}, "127.0.0.1:0", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.fwd {
				r.Header.Add("Forwarded", v)
			}
			// A proxy that writes Forwarded passes X-Forwarded-* on
			// as the client wrote them.
			r.Header.Set("X-Forwarded-For", "192.0.2.66")
			r.Header.Set("X-Forwarded-Host", "evil.example")
			got := tr.Request(r)
			if got.RemoteAddr != c.wantAddr {
				t.Errorf("RemoteAddr = %q, want %q", got.RemoteAddr, c.wantAddr)
			}
			if h, p := forwarded.Host(got), forwarded.Proto(got); h != c.wantHost || p != c.wantProto {
				t.Errorf("Host, Proto = %q, %q; want %q, %q", h, p, c.wantHost, c.wantProto)
			}
		})
	}

	t.Run("ignored by an X-Forwarded proxy", func(t *testing.T) {
		xf, err := forwarded.Parse([]string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:4711"
		r.Header.Set("Forwarded", "for=192.0.2.66;host=evil.example;proto=https")
		got := xf.Request(r)
		if got.RemoteAddr != "127.0.0.1:0" || forwarded.Host(got) != "" || forwarded.Proto(got) != "" {
			t.Errorf("got RemoteAddr %q, Host %q, Proto %q; want Forwarded ignored", got.RemoteAddr, forwarded.Host(got), forwarded.Proto(got))
		}
	})
}

func TestParseHeader(t *testing.T) {
	for in, want := range map[string]forwarded.Header{"x-forwarded": forwarded.XForwarded, "X-Forwarded-For": forwarded.XForwarded, "Forwarded": forwarded.Standard} {
		if got, err := forwarded.ParseHeader(in); err != nil || got != want {
			t.Errorf("ParseHeader(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := forwarded.ParseHeader("x-real-ip"); err == nil {
		t.Error("ParseHeader(x-real-ip): got no error")
	}
}
