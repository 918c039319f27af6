// Package forwarded decides what the forwarding headers of a request may
// say: X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto, or the
// standard Forwarded (RFC 7239) with its for, host and proto parameters.
// Anyone can write them, so they are believed only when the direct peer
// (the address the connection comes from) is one of the operator's trusted
// proxies (cofferd serve --trusted-proxy), and only the family the
// operator names (--trusted-proxy-header): a proxy passes on the other
// family as the client wrote it. Behind such a proxy the client's address
// is the rightmost address of X-Forwarded-For (or of Forwarded's for
// parameters) that is not itself a trusted proxy: the addresses to its left
// were written by the client and prove nothing.
package forwarded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is a set of trusted proxies and the headers they write. The nil
// *Trusted trusts no one.
type Trusted struct {
	prefixes []netip.Prefix
	header   Header
}

// Header is the family of headers the trusted proxies write.
type Header int

const (
	// XForwarded is X-Forwarded-For, X-Forwarded-Host and
	// X-Forwarded-Proto, as nginx, HAProxy, Caddy, Traefik and Go's
	// httputil.ReverseProxy write them.
	XForwarded Header = iota
	// Standard is Forwarded (RFC 7239): for, host and proto.
	Standard
)

// ParseHeader reads a --trusted-proxy-header value: "x-forwarded" or
// "forwarded".
func ParseHeader(s string) (Header, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "x-forwarded", "x-forwarded-for":
		return XForwarded, nil
	case "forwarded":
		return Standard, nil
	}
	return 0, fmt.Errorf("proxy header %q: want x-forwarded or forwarded", s)
}

// String is the header's name as ParseHeader reads it.
func (h Header) String() string {
	if h == Standard {
		return "forwarded"
	}
	return "x-forwarded"
}

// Parse reads proxies that write X-Forwarded-* headers, given as addresses
// (192.0.2.1, 2001:db8::1) or CIDR prefixes (10.0.0.0/8); an entry may
// hold several separated by commas. No entries give a set that trusts no
// one.
func Parse(entries []string) (*Trusted, error) { return ParseWith(entries, XForwarded) }

// ParseWith is Parse for proxies that write the headers h.
func ParseWith(entries []string, h Header) (*Trusted, error) {
	t := &Trusted{header: h}
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

// viaProxy marks a request that Request found to come from a trusted
// proxy; its value is the proxyInfo.
type viaProxy struct{}

// proxyInfo is what the nearest trusted proxy said of the request.
type proxyInfo struct {
	host, proto string
}

// Request returns r as the handlers should see it. When r's peer is a
// trusted proxy, RemoteAddr becomes the client's address (with port 0) and
// the request is marked so that Host and Proto answer; otherwise r is
// returned unchanged and its forwarding headers mean nothing. Calling
// Request again on its result changes nothing.
func (t *Trusted) Request(r *http.Request) *http.Request {
	if t.Empty() || r.Context().Value(viaProxy{}) != nil {
		return r
	}
	peer, ok := remoteAddr(r.RemoteAddr)
	if !ok || !t.Contains(peer) {
		return r
	}
	var hops []string
	var info proxyInfo
	if t.header == Standard {
		elems, err := parseForwarded(r.Header.Values("Forwarded"))
		if err != nil {
			// A header that does not parse names no one: the
			// client is the proxy, as with an entry that is not
			// an address.
			hops = []string{"malformed"}
		}
		for _, e := range elems {
			hops = append(hops, e["for"])
		}
		if len(elems) > 0 {
			last := elems[len(elems)-1]
			info = proxyInfo{host: last["host"], proto: strings.ToLower(last["proto"])}
		}
	} else {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		info = proxyInfo{host: lastValue(r.Header, "X-Forwarded-Host"), proto: strings.ToLower(lastValue(r.Header, "X-Forwarded-Proto"))}
	}
	client := t.client(peer, hops)
	r2 := r.WithContext(context.WithValue(r.Context(), viaProxy{}, info))
	r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
	return r2
}

// client walks the hops from the right, past trusted proxies, to the
// first address that is not one: the client as the nearest untrusted hop
// saw it. An entry that is not an address ends the walk at the last good
// one, so garbage cannot hide the real peer.
func (t *Trusted) client(peer netip.Addr, hops []string) netip.Addr {
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

// Host is the public host a trusted proxy named (X-Forwarded-Host, or
// Forwarded's host): the rightmost value, which the nearest proxy wrote.
// It is "" for a request that did not come from a trusted proxy (see
// Request).
func Host(r *http.Request) string {
	info, _ := r.Context().Value(viaProxy{}).(proxyInfo)
	return info.host
}

// Proto is the scheme a trusted proxy named (X-Forwarded-Proto, or
// Forwarded's proto), such as "https", in lower case; "" as for Host.
func Proto(r *http.Request) string {
	info, _ := r.Context().Value(viaProxy{}).(proxyInfo)
	return info.proto
}

// lastValue is the rightmost comma-separated value of the header.
func lastValue(h http.Header, name string) string {
	vs := h.Values(name)
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// errMalformed is a Forwarded field that is not RFC 7239's grammar.
var errMalformed = errors.New("forwarded: malformed Forwarded field")

// parseForwarded reads Forwarded field lines (RFC 7239 §4): elements
// separated by commas, each of parameters separated by semicolons, each
// parameter token=value with the value a token or a quoted string.
// Parameter names are returned in lower case; an element names each at
// most once. Empty elements are skipped.
func parseForwarded(lines []string) ([]map[string]string, error) {
	var out []map[string]string
	for _, v := range lines {
		e := map[string]string{}
		for i := 0; ; {
			i = skipOWS(v, i)
			if i < len(v) && v[i] != ',' && v[i] != ';' {
				j := i
				for j < len(v) && isTokenChar(v[j]) {
					j++
				}
				if j == i || j == len(v) || v[j] != '=' {
					return nil, errMalformed
				}
				name := strings.ToLower(v[i:j])
				val, k, err := forwardedValue(v, j+1)
				if err != nil {
					return nil, err
				}
				if _, dup := e[name]; dup {
					return nil, errMalformed
				}
				e[name] = val
				i = skipOWS(v, k)
			}
			if i == len(v) {
				if len(e) > 0 {
					out = append(out, e)
				}
				break
			}
			switch v[i] {
			case ';':
			case ',':
				if len(e) > 0 {
					out = append(out, e)
				}
				e = map[string]string{}
			default:
				return nil, errMalformed
			}
			i++
		}
	}
	return out, nil
}

// forwardedValue reads a token or a quoted string at v[i:] and returns it
// (unquoted) and the index after it.
func forwardedValue(v string, i int) (string, int, error) {
	if i < len(v) && v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch c := v[i]; {
			case c == '"':
				return b.String(), i + 1, nil
			case c == '\\':
				// quoted-pair: any visible character, space or tab
				if i++; i == len(v) || !quotable(v[i]) {
					return "", 0, errMalformed
				}
				b.WriteByte(v[i])
			case !quotable(c):
				return "", 0, errMalformed
			default:
				b.WriteByte(c)
			}
		}
		return "", 0, errMalformed // not closed
	}
	j := i
	for j < len(v) && isTokenChar(v[j]) {
		j++
	}
	if j == i {
		return "", 0, errMalformed
	}
	return v[i:j], j, nil
}

// quotable reports whether c may stand in a quoted string: not a control
// character other than tab.
func quotable(c byte) bool { return (c >= ' ' || c == '\t') && c != 0x7f }

func skipOWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// isTokenChar reports whether c may be in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
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

// hopAddr parses one X-Forwarded-For entry or Forwarded for value: an
// address, possibly with a port ("192.0.2.1:4711", "[2001:db8::1]:4711")
// or in brackets. "unknown" and obfuscated names ("_hidden") are not
// addresses.
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
