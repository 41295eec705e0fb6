package server

import "net/netip"

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
