//go:build linux

package java

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// TestJSSEHandshake: a Java client using our keystore as its trust store
// completes a handshake with a server whose leaf the CA issued after
// Install, and fails after Remove. JDK 17 with Debian's JKS, JDK 25 with
// the password-less PKCS12.
func TestJSSEHandshake(t *testing.T) {
	root, rts := sandbox(t)
	ca := newCA(t, "Anchorwatch JSSE CA")
	addr := serveTLS(t, ca.serverCert(t))

	j17 := jdk(t, 17)
	classes := t.TempDir()
	if out, err := exec.Command(filepath.Join(j17.Home, "bin", "javac"), "-d", classes, "testdata/Client.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	for _, c := range []struct {
		major     int
		rt        int
		storetype string
		password  string
	}{
		{17, 0, "JKS", "changeit"},
		{25, 1, "PKCS12", ""},
	} {
		j := jdk(t, c.major)
		s := openStore(t, root, rts[c.rt].Cacerts, nil)
		hp := hostPath(root, s.Info().Path)
		client := func() (string, bool) {
			t.Helper()
			args := []string{"-Djavax.net.ssl.trustStore=" + hp, "-Djavax.net.ssl.trustStoreType=" + c.storetype}
			if c.password != "" {
				args = append(args, "-Djavax.net.ssl.trustStorePassword="+c.password)
			}
			host, port, _ := net.SplitHostPort(addr)
			args = append(args, "-XX:TieredStopAtLevel=1", "-cp", classes, "Client", host, port)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, j.Java(), args...).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 2) {
				t.Fatalf("java client: %v\n%s", err, out)
			}
			return string(out), err == nil
		}
		if out, ok := client(); ok {
			t.Fatalf("JDK %d handshake succeeded before install:\n%s", c.major, out)
		}
		if _, err := s.Install(context.Background(), []*x509.Certificate{ca.cert}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
		if out, ok := client(); !ok || !strings.Contains(out, "HANDSHAKE OK") {
			t.Fatalf("JDK %d handshake failed after install:\n%s", c.major, out)
		}
		if _, err := s.Remove(context.Background(), []string{stores.SHA256(ca.cert)}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
		if out, ok := client(); ok || !strings.Contains(out, "HANDSHAKE FAILED") {
			t.Fatalf("JDK %d handshake after remove:\n%s", c.major, out)
		}
	}
}

// serveTLS serves TLS handshakes on 127.0.0.1 until the test ends.
func serveTLS(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if tc, ok := c.(*tls.Conn); ok {
					_ = tc.Handshake()
				}
			}()
		}
	}()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}
