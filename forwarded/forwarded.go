// Package forwarded decides what the X-Forwarded-* headers of a request may
// say. Anyone can write them, so they are believed only when the direct peer
// (the address the connection comes from) is one of the operator's trusted
// proxies (cofferd serve --trusted-proxy). Behind such a proxy the client's
// address is the rightmost address of X-Forwarded-For that is not itself a
// trusted proxy: the addresses to its left were written by the client and
// prove nothing.
package forwarded

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is a set of trusted proxies. The nil *Trusted trusts no one.
type Trusted struct {
	prefixes []netip.Prefix
}

// Parse reads proxies given as addresses (192.0.2.1, 2001:db8::1) or CIDR
// prefixes (10.0.0.0/8); an entry may hold several separated by commas. No
// entries give a set that trusts no one.
func Parse(entries []string) (*Trusted, error) {
	t := &Trusted{}
	for _, e := range entries {
		for s := range strings.SplitSeq(e, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			var p netip.Prefix
			if strings.Contains(s, "/") {
				q, err := netip.ParsePrefix(s)
				if err != nil {
					return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
				}
				if q.Addr().Is4In6() && q.Bits() < 96 {
					return nil, fmt.Errorf("trusted proxy %q: an IPv4-mapped prefix must be at least /96", s)
				}
				p = q.Masked()
			} else {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
				}
				a = a.WithZone("").Unmap()
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if p.Addr().Is4In6() {
				// ::ffff:10.0.0.0/104 means 10.0.0.0/8: addresses are
				// unmapped before they are compared.
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			t.prefixes = append(t.prefixes, p)
		}
	}
	return t, nil
}

// String lists the proxies, comma-separated.
func (t *Trusted) String() string {
	if t == nil {
		return ""
	}
	s := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Empty reports whether the set trusts no one.
func (t *Trusted) Empty() bool { return t == nil || len(t.prefixes) == 0 }

// Contains reports whether a is a trusted proxy.
func (t *Trusted) Contains(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// viaProxy marks a request that Request found to come from a trusted proxy.
type viaProxy struct{}

// Request returns r as the handlers should see it. When r's peer is a
// trusted proxy, RemoteAddr becomes the client's address (with port 0) and
// the request is marked so that Host and Proto answer; otherwise r is
// returned unchanged and its X-Forwarded-* headers mean nothing. Calling
// Request again on its result changes nothing.
func (t *Trusted) Request(r *http.Request) *http.Request {
	if t.Empty() || r.Context().Value(viaProxy{}) != nil {
		return r
	}
	peer, ok := remoteAddr(r.RemoteAddr)
	if !ok || !t.Contains(peer) {
		return r
	}
	client := t.client(peer, r.Header.Values("X-Forwarded-For"))
	r2 := r.WithContext(context.WithValue(r.Context(), viaProxy{}, r.RemoteAddr))
	r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
	return r2
}

// client walks X-Forwarded-For from the right, past trusted proxies, to
// the first address that is not one: the client as the nearest untrusted
// hop saw it. An entry that is not an address ends the walk at the last
// good one, so garbage cannot hide the real peer.
func (t *Trusted) client(peer netip.Addr, xff []string) netip.Addr {
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer.WithZone("").Unmap()
	for i := len(hops) - 1; i >= 0 && t.Contains(client); i-- {
		a, ok := hopAddr(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		client = a
	}
	return client
}

// FromProxy reports whether Request found r to come from a trusted proxy.
func FromProxy(r *http.Request) bool { return r.Context().Value(viaProxy{}) != nil }

// Host is the public host a trusted proxy named in X-Forwarded-Host: the
// rightmost value, which the nearest proxy wrote. It is "" for a request
// that did not come from a trusted proxy (see Request).
func Host(r *http.Request) string { return lastValue(r, "X-Forwarded-Host") }

// Proto is the scheme a trusted proxy named in X-Forwarded-Proto ("https"),
// in lower case; "" as for Host.
func Proto(r *http.Request) string { return strings.ToLower(lastValue(r, "X-Forwarded-Proto")) }

func lastValue(r *http.Request, name string) string {
	if !FromProxy(r) {
		return ""
	}
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// remoteAddr parses an http.Request's RemoteAddr (host:port, or a bare
// address as some test harnesses set it).
func remoteAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// hopAddr parses one X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets.
func hopAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	if t, ok := strings.CutPrefix(s, "["); ok {
		if t, ok := strings.CutSuffix(t, "]"); ok {
			if a, err := netip.ParseAddr(t); err == nil && a.Is6() {
				return a.WithZone("").Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}
