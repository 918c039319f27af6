// Package webhooksend posts webhook deliveries to the endpoints members
// name. The server calls them from inside the operator's network, so the
// client it uses connects to public addresses only, checked on the address
// actually dialled; failures are reduced to categories that name nothing
// of that network.
package webhooksend

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// Addresses that URLs members give may reach. The server calls webhook
// endpoints from inside the operator's network, so a member must not be
// able to point it at anything but the public Internet: every range of the
// IANA IPv4 and IPv6 Special-Purpose Address Registries is refused, and so
// is every IPv4 address that an IPv6 form carries (IPv4-mapped, NAT64,
// 6to4, Teredo) when that IPv4 address would be refused itself.

// special4 lists the IPv4 special-purpose ranges (RFC 6890 and its
// updates), those marked globally reachable included: none of them is a
// place for a webhook.
var special4 = prefixes(
	"0.0.0.0/8",          // "this network"
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // carrier-grade NAT
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation (TEST-NET-1)
	"192.31.196.0/24",    // AS112-v4
	"192.52.193.0/24",    // AMT
	"192.88.99.0/24",     // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",     // private
	"192.175.48.0/24",    // AS112 direct delegation
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation (TEST-NET-2)
	"203.0.113.0/24",     // documentation (TEST-NET-3)
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // limited broadcast (inside 240/4; named for the reader)
)

// global6 is the only IPv6 space allocated for global unicast; anything
// outside it (::/128, ::1, 100::/64, fc00::/7, fe80::/10, ff00::/8, the
// deprecated IPv4-compatible ::/96, 5f00::/16 …) is refused, except the
// translation prefixes in nat64, whose IPv4 address decides.
var global6 = netip.MustParsePrefix("2000::/3")

// special6 lists the special-purpose ranges inside 2000::/3.
var special6 = prefixes(
	"2001::/23",         // IETF protocol assignments, Teredo (2001::/32) included
	"2001:db8::/32",     // documentation
	"2002::/16",         // 6to4
	"2620:4f:8000::/48", // AS112 direct delegation
	"3fff::/20",         // documentation
)

// nat64 lists the IPv4/IPv6 translation prefixes: the well-known one
// (RFC 6052) and the local-use one (RFC 8215). Their last 32 bits are the
// IPv4 address the translator connects to, in the /96 layout DNS64 uses.
var nat64 = prefixes("64:ff9b::/96", "64:ff9b:1::/48")

var (
	teredo = netip.MustParsePrefix("2001::/32")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// publicAddr reports whether a is a global unicast address a member's URL
// may reach: outside every special-purpose range, and, for an IPv6 form
// that carries an IPv4 address, with that address public too. A zoned
// address is scoped to a link and never public.
func publicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap() // ::ffff:a.b.c.d is a.b.c.d
	if a.Is4() {
		return !inAny(a, special4)
	}
	for _, v4 := range embeddedIPv4(a) {
		if !publicAddr(v4) {
			return false
		}
	}
	if inAny(a, nat64) {
		return true // its IPv4 address, checked above, decides
	}
	return global6.Contains(a) && !inAny(a, special6)
}

// embeddedIPv4 returns the IPv4 addresses an IPv6 address carries: the
// target of a NAT64 form, the site of a 6to4 one, the server and the
// client of a Teredo one (the client's bits inverted). 6to4 and Teredo
// are refused as ranges already; decoding them as well keeps the IPv4
// rules in force for them should that ever change.
func embeddedIPv4(a netip.Addr) []netip.Addr {
	if !a.Is6() || a.Is4In6() {
		return nil
	}
	b := a.As16()
	v4 := func(p []byte) netip.Addr { return netip.AddrFrom4([4]byte(p)) }
	switch {
	case inAny(a, nat64):
		return []netip.Addr{v4(b[12:16])}
	case sixTo4.Contains(a):
		return []netip.Addr{v4(b[2:6])}
	case teredo.Contains(a):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return []netip.Addr{v4(b[4:8]), netip.AddrFrom4(client)}
	}
	return nil
}

// allowedTarget reports whether the server may connect to a: a public
// address, or, with allowLoopback (development), a loopback one.
func allowedTarget(a netip.Addr, allowLoopback bool) bool {
	return publicAddr(a) || (allowLoopback && a.Zone() == "" && a.Unmap().IsLoopback())
}

// errRefusedAddress is what the dialler answers for an address that is
// not allowedTarget. It names no address: it may end up before a member.
var errRefusedAddress = errors.New("the endpoint's address is not a public one")

// dialControl refuses, at connect time, an address that is not
// allowedTarget. It sees the address actually dialled, after resolution,
// for every attempt (each address of a name, each happy-eyeballs race),
// so a name that resolves to a public address when the endpoint is
// registered and to a private one later (DNS rebinding) gets nowhere.
func dialControl(allowLoopback bool) func(ctx context.Context, network, address string, _ syscall.RawConn) error {
	return func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !allowedTarget(ap.Addr(), allowLoopback) {
			return errRefusedAddress
		}
		return nil
	}
}

// HostAllowed checks the host of a URL a member gives, before any
// resolution: an IP literal must be allowedTarget; a name must be one DNS
// can hold (a last label of digits only is an IP address in disguise,
// such as 2130706433 or 0x7f.1, which some resolvers would take as one).
func HostAllowed(host string, allowLoopback bool) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return allowedTarget(a, allowLoopback)
	}
	if host == "" || strings.Contains(host, "%") {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if last == "" {
		return false
	}
	if _, err := strconv.ParseUint(last, 0, 64); err == nil || strings.HasPrefix(last, "0x") {
		return false
	}
	return true
}
