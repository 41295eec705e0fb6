package pki

import "net/netip"

// Default subnet sizes of the collector's reachability view.
const (
	DefaultV4Bits = 24
	DefaultV6Bits = 64
)

// Subnet returns the network of ip with the given prefix lengths (IPv4
// and IPv6), e.g. "10.20.3.0/24". Addresses that say nothing about where
// a host sits (loopback, link-local, unspecified, multicast) and what
// does not parse give false.
func Subnet(ip string, v4Bits, v6Bits int) (string, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	a = a.Unmap().WithZone("")
	if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalMulticast() {
		return "", false
	}
	bits := v6Bits
	if a.Is4() {
		bits = v4Bits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "", false
	}
	return p.String(), true
}
