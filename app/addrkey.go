package app

import "net/netip"

// AddrKey is the key of a client address in per-address limits: the
// address itself for IPv4, its /64 for IPv6. One subscriber usually holds
// a whole /64, so a limit keyed on single IPv6 addresses would be 2^64
// limits for them. A string that is not an address is its own key.
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
