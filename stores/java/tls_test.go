//go:build linux

package java

import (
	"context"
	"crypto/x509"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestJSSEHandshake: a Java client using our keystore as its trust store
// completes a handshake with a server whose leaf the CA issued after
// Install, and fails after Remove. JDK 17 with Debian's JKS, JDK 25 with
// the password-less PKCS12.
func TestJSSEHandshake(t *testing.T) {
	root, rts := sandbox(t)
	ca := testpki.NewCA(t, "Anchorwatch JSSE CA")
	addr, _ := testpki.ServeTLS(t, ca.Leaf(t, "127.0.0.1"))

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
		if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
		if out, ok := client(); !ok || !strings.Contains(out, "HANDSHAKE OK") {
			t.Fatalf("JDK %d handshake failed after install:\n%s", c.major, out)
		}
		if _, err := s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
		if out, ok := client(); ok || !strings.Contains(out, "HANDSHAKE FAILED") {
			t.Fatalf("JDK %d handshake after remove:\n%s", c.major, out)
		}
	}
}
