package nss

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// tstclnt connects NSS's own TLS client to addr (127.0.0.1:port) with
// the database in dir, verifying the server certificate against it.
func tstclnt(t *testing.T, hostDir, addr string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("tstclnt")
	if err != nil {
		t.Fatalf("tstclnt not found: install the Debian package libnss3-tools (%v)", err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-d", "sql:"+hostDir, "-V", "tls1.2:tls1.3")
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
	ca := testpki.NewCA(t, "Anchorwatch TLS test CA")
	addr, results := testpki.ServeTLS(t, ca.Leaf(t, "127.0.0.1"))
	s := openStore(t, root, prof, "firefox")
	hostDir := fsroot.Join(root, prof)
	ctx := context.Background()

	out, err := tstclnt(t, hostDir, addr)
	if err == nil || !strings.Contains(out, "SEC_ERROR_UNKNOWN_ISSUER") {
		t.Fatalf("before install: tstclnt err=%v, want SEC_ERROR_UNKNOWN_ISSUER\n%s", err, out)
	}
	if herr := <-results; herr == nil {
		t.Error("before install: the server saw a successful handshake")
	}

	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err = tstclnt(t, hostDir, addr)
	if err != nil {
		t.Fatalf("after install: tstclnt failed: %v\n%s", err, out)
	}
	if herr := <-results; herr != nil {
		t.Errorf("after install: server handshake: %v", herr)
	}

	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err = tstclnt(t, hostDir, addr)
	if err == nil || !strings.Contains(out, "SEC_ERROR_UNKNOWN_ISSUER") {
		t.Fatalf("after remove: tstclnt err=%v, want SEC_ERROR_UNKNOWN_ISSUER\n%s", err, out)
	}
	<-results
}
