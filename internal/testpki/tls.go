package testpki

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// ServerConfig is the server side of a test TLS endpoint: cert, TLS 1.2
// at least.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// ServeTLS serves TLS on 127.0.0.1 with cert until the test ends. Each
// connection is handshaken, answered with "anchorwatch-ok\n" when the
// handshake succeeds, and closed; the handshake's result is reported on
// results (buffered; results nobody reads are dropped). It returns the
// listening address, host:port.
func ServeTLS(tb testing.TB, cert tls.Certificate) (addr string, results <-chan error) {
	tb.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(cert))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	ch := make(chan error, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				err := c.(*tls.Conn).Handshake()
				if err == nil {
					_, err = c.Write([]byte("anchorwatch-ok\n"))
				}
				select {
				case ch <- err:
				default:
				}
			}(c)
		}
	}()
	return ln.Addr().String(), ch
}
