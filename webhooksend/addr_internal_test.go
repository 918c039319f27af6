package webhooksend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// TestPublicAddr: one vector (or more) for every special-purpose range,
// and for the IPv6 forms that carry an IPv4 address, decoded.
func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		// Public.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"100.63.255.255", true},  // just below 100.64/10
		{"100.128.0.0", true},     // just above it
		{"172.15.255.255", true},  // below 172.16/12
		{"172.32.0.0", true},      // above it
		{"198.17.255.255", true},  // below 198.18/15
		{"198.20.0.0", true},      // above it
		{"223.255.255.255", true}, // below multicast
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001:80b::200e", true},
		{"2001:4860:4860::8888", true}, // 2001:4860:: is outside 2001::/23
		{"::ffff:8.8.8.8", true},       // IPv4-mapped public
		{"64:ff9b::808:808", true},     // NAT64 of 8.8.8.8
		{"64:ff9b:1:abcd::808:808", true},

		// IPv4 special-purpose ranges.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false}, // cloud metadata
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"192.31.196.1", false},
		{"192.52.193.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"192.175.48.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},

		// IPv6 special-purpose ranges and space outside 2000::/3.
		{"::", false},
		{"::1", false},
		{"::8.8.8.8", false}, // IPv4-compatible, deprecated
		{"100::1", false},
		{"100::ffff:1", false},
		{"2001::1", false},
		{"2001:2::1", false},
		{"2001:10::1", false},
		{"2001:20::1", false},
		{"2001:1ff:ffff::1", false}, // the top of 2001::/23
		{"2001:db8::1", false},
		{"2001:db8:ffff::1", false},
		{"2620:4f:8000::1", false},
		{"3fff::1", false},
		{"5f00::1", false},
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"febf::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"ff0e::1", false},

		// IPv4 inside IPv6: decoded and judged by the IPv4 rules.
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:100.64.0.1", false},
		{"64:ff9b::7f00:1", false},                      // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false},                       // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false},                   // NAT64 of 169.254.169.254
		{"64:ff9b::c612:1", false},                      // NAT64 of 198.18.0.1
		{"64:ff9b::1", false},                           // NAT64 of 0.0.0.1
		{"64:ff9b:1::a00:1", false},                     // local-use NAT64 of 10.0.0.1
		{"64:ff9b:1:ffff::7f00:1", false},               // local-use NAT64 of 127.0.0.1
		{"2002:808:808::1", false},                      // 6to4: refused as a range
		{"2002:a00:1::1", false},                        // 6to4 of 10.0.0.1
		{"2002:7f00:1::1", false},                       // 6to4 of 127.0.0.1
		{"2001:0:808:808:0:0:f5ff:fffe", false},         // Teredo: server 8.8.8.8, client ~10.0.0.1
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // the RFC 4380 example
	} {
		a, err := netip.ParseAddr(c.addr)
		if err != nil {
			t.Fatalf("bad vector %q: %v", c.addr, err)
		}
		if got := publicAddr(a); got != c.want {
			t.Errorf("publicAddr(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

// TestEmbeddedIPv4: the IPv4 addresses decoded from each IPv6 form.
func TestEmbeddedIPv4(t *testing.T) {
	for _, c := range []struct {
		addr string
		want []string
	}{
		{"64:ff9b::a00:1", []string{"10.0.0.1"}},
		{"64:ff9b:1:abcd::c0a8:101", []string{"192.168.1.1"}},
		{"2002:c0a8:101::1", []string{"192.168.1.1"}},
		{"2002:808:808:1:2:3:4:5", []string{"8.8.8.8"}},
		// Teredo: the server at bits 32-63, the client's IPv4 address
		// inverted in the last 32 bits (RFC 4380 §4).
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", []string{"65.54.227.120", "192.0.2.45"}},
		{"2001:0:808:808:0:0:f5ff:fffe", []string{"8.8.8.8", "10.0.0.1"}},
		{"2001:0:a00:1::", []string{"10.0.0.1", "255.255.255.255"}},
		{"2606:4700::1", nil},
		{"::ffff:10.0.0.1", nil}, // mapped: the address itself, unmapped by publicAddr
	} {
		got := embeddedIPv4(netip.MustParseAddr(c.addr))
		if fmt.Sprint(got) != fmt.Sprint(addrs(c.want)) {
			t.Errorf("embeddedIPv4(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

func addrs(s []string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// TestAllowedTarget: loopback only with the development flag, and then
// nothing else that is not public.
func TestAllowedTarget(t *testing.T) {
	for _, c := range []struct {
		addr       string
		loop, want bool
	}{
		{"127.0.0.1", false, false},
		{"127.0.0.1", true, true},
		{"::1", true, true},
		{"::ffff:127.0.0.1", true, true},
		{"10.0.0.1", true, false},
		{"169.254.169.254", true, false},
		{"8.8.8.8", false, true},
	} {
		if got := allowedTarget(netip.MustParseAddr(c.addr), c.loop); got != c.want {
			t.Errorf("allowedTarget(%s, loopback %v) = %v, want %v", c.addr, c.loop, got, c.want)
		}
	}
}

// TestDialControl: the check on the address dialled refuses what the
// rules refuse, with an error that names no address.
func TestDialControl(t *testing.T) {
	ctl := dialControl(false)
	for _, c := range []struct {
		address string
		ok      bool
	}{
		{"8.8.8.8:443", true},
		{"[2606:4700:4700::1111]:443", true},
		{"10.0.0.1:443", false},
		{"127.0.0.1:443", false},
		{"[::1]:443", false},
		{"[64:ff9b::a00:1]:443", false},
		{"not-an-address:443", false},
	} {
		err := ctl(context.Background(), "tcp", c.address, nil)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, errRefusedAddress)) {
			t.Errorf("dialControl(%s) = %v, want ok %v", c.address, err, c.ok)
		}
	}
	if err := dialControl(true)(context.Background(), "tcp", "127.0.0.1:8080", nil); err != nil {
		t.Errorf("with loopback allowed, 127.0.0.1 refused: %v", err)
	}
}

// TestCategory: failures become categories, never text.
func TestCategory(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: errRefusedAddress}, CategoryRefused},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "intranet.corp", Server: "10.0.0.53:53", IsNotFound: true}}, CategoryDNS},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, CategoryConnect},
		{context.DeadlineExceeded, CategoryTimeout},
		{errors.New("unexpected EOF"), CategoryNetwork},
	} {
		if got := Category(fmt.Errorf("post: %w", c.err)); got != c.want {
			t.Errorf("Category(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// FuzzPublicAddr checks the address rules against the standard library's
// own classification on any 16 bytes (as IPv6 and, from the last four, as
// IPv4): an address called public is never loopback, private, link-local,
// multicast or unspecified, every IPv4 address it carries is public too,
// and the IPv4-mapped form of an address is judged as the address. URL
// hosts built from it get the same answer.
func FuzzPublicAddr(f *testing.F) {
	for _, s := range []string{"8.8.8.8", "10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:0a00:0001::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2606:4700::1111", "fe80::1", "::", "100.64.0.1"} {
		a := netip.MustParseAddr(s)
		b := netip.AddrFrom16(a.As16()).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 16 {
			return
		}
		a6 := netip.AddrFrom16([16]byte(raw))
		a4 := netip.AddrFrom4([4]byte(raw[12:]))
		for _, a := range []netip.Addr{a6, a4} {
			pub := publicAddr(a)
			u := a.Unmap()
			if pub && (u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsLinkLocalMulticast() ||
				u.IsMulticast() || u.IsUnspecified() || u.IsInterfaceLocalMulticast()) {
				t.Fatalf("publicAddr(%s) = true for a special address", a)
			}
			if pub {
				for _, v4 := range embeddedIPv4(a) {
					if !publicAddr(v4) {
						t.Fatalf("publicAddr(%s) = true, but it carries %s", a, v4)
					}
				}
			}
			if a.Is4() && publicAddr(netip.AddrFrom16(a.As16())) != pub {
				t.Fatalf("publicAddr of %s and of its IPv4-mapped form differ", a)
			}
			if HostAllowed(a.String(), false) != pub {
				t.Fatalf("HostAllowed(%q) = %v, publicAddr = %v", a.String(), !pub, pub)
			}
		}
	})
}
