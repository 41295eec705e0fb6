//go:build unix

package proxytest

import (
	"crypto/rand"
	"math/big"
	"net"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
)

// LoopbackListen picks an address on 127.0.0.0/8, port 443 (Debian's
// default Squid allows CONNECT to port 443 only), that no other test
// uses: a random 127.x.y.z outside 127.0.0.0/16.
func LoopbackListen(t testing.TB) string {
	t.Helper()
	for range 20 {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<23))
		v := n.Int64() + 1<<16 // skip 127.0.x.x
		ip := net.IPv4(127, byte(v>>16), byte(v>>8), byte(v))
		if ip[15] == 0 || ip[15] == 255 {
			continue
		}
		addr := net.JoinHostPort(ip.String(), "443")
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free loopback address with port 443 (the test binds port 443: run it as root)")
	return ""
}

// Squid is a real ssl-bump Squid and the interception CA it signs with.
type Squid struct {
	*squidtest.Squid
	CAPEM []byte
}

// StartSquid starts a real Squid with ssl-bump and a fresh interception CA
// that trusts roots (PEM) upstream, with Debian's CONNECT-to-443-only rule.
func StartSquid(t testing.TB, roots []byte, o squidtest.Options) Squid {
	t.Helper()
	_, caPEM, caKey := squidtest.NewCA(t, "Anchorwatch test interception CA")
	o.InterceptCert, o.InterceptKey, o.UpstreamCAs, o.SSLPortsOnly = caPEM, caKey, roots, true
	return Squid{Squid: squidtest.Start(t, o), CAPEM: caPEM}
}
