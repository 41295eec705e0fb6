package nss

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// tlsServer serves TLS on 127.0.0.1 with cert until the test ends and
// reports each handshake's result.
func tlsServer(t *testing.T, cert tls.Certificate) (port int, results <-chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan error, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
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
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// tstclnt connects NSS's own TLS client to 127.0.0.1:port with the
// database in dir, verifying the server certificate against it.
func tstclnt(t *testing.T, hostDir string, port int) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("tstclnt")
	if err != nil {
		t.Fatalf("tstclnt not found: install the Debian package libnss3-tools (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-d", "sql:"+hostDir, "-V", "tls1.2:tls1.3")
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd.Stdin = devnull
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The real peer: NSS's tstclnt trusts a server whose leaf is issued by
// the CA after Install, and refuses it again after Remove.
func TestTLSHandshakeWithTstclnt(t *testing.T) {
	root := t.TempDir()
	prof := nsstest.FirefoxProfile(t, root, "/home/alice", "tls.default-release")
	ca := nsstest.NewCA(t, "Anchorwatch TLS test CA")
	port, results := tlsServer(t, ca.Leaf(t, "127.0.0.1"))
	s := openStore(t, root, prof, "firefox")
	hostDir := fsroot.Join(root, prof)
	ctx := context.Background()

	out, err := tstclnt(t, hostDir, port)
	if err == nil || !strings.Contains(out, "SEC_ERROR_UNKNOWN_ISSUER") {
		t.Fatalf("before install: tstclnt err=%v, want SEC_ERROR_UNKNOWN_ISSUER\n%s", err, out)
	}
	if herr := <-results; herr == nil {
		t.Error("before install: the server saw a successful handshake")
	}

	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err = tstclnt(t, hostDir, port)
	if err != nil {
		t.Fatalf("after install: tstclnt failed: %v\n%s", err, out)
	}
	if herr := <-results; herr != nil {
		t.Errorf("after install: server handshake: %v", herr)
	}

	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err = tstclnt(t, hostDir, port)
	if err == nil || !strings.Contains(out, "SEC_ERROR_UNKNOWN_ISSUER") {
		t.Fatalf("after remove: tstclnt err=%v, want SEC_ERROR_UNKNOWN_ISSUER\n%s", err, out)
	}
	<-results
}
