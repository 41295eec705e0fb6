//go:build linux

package java

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
)

// sandbox lays out Debian's JDK 17 (JKS, symlinked) and a JDK 25
// (password-less PKCS12) under a temporary root.
func sandbox(t testing.TB) (root string, rts []javatest.Runtime) {
	t.Helper()
	root = t.TempDir()
	rts, err := javatest.Standard(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, rts
}

func openStore(t testing.TB, root, path string, pw map[string]string) *Store {
	t.Helper()
	s, err := Open(stores.Env{Root: root, JavaPasswords: pw}, path)
	if err != nil {
		t.Fatal(err)
	}
	s.settle = 50 * time.Millisecond // no concurrent keytool in these tests
	return s
}

func jdk(t testing.TB, major int) javatest.JDK {
	t.Helper()
	j, err := javatest.FindJDK(major)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// keytool runs the JDK's keytool and returns its combined output.
func keytool(t testing.TB, j javatest.JDK, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.Keytool(), append([]string{"-J-XX:TieredStopAtLevel=1", "-J-Xshare:auto"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// keytoolList lists a keystore with keytool and returns its output; the
// listing failing fails the test.
func keytoolList(t testing.TB, j javatest.JDK, file, storetype, password string) string {
	t.Helper()
	args := []string{"-list", "-keystore", file, "-storetype", storetype}
	if password != "" {
		args = append(args, "-storepass", password)
	} else {
		args = append(args, "-storepass", "")
	}
	out, err := keytool(t, j, args...)
	if err != nil {
		t.Fatalf("keytool %d -list %s: %v\n%s", j.Major, file, err, out)
	}
	return out
}

func fileSum(t testing.TB, hp string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func hostPath(root, p string) string { return fsroot.Join(root, p) }

func findAnchor(as []stores.Anchor, c *x509.Certificate) (stores.Anchor, bool) {
	sha := stores.SHA256(c)
	for _, a := range as {
		if a.SHA256 == sha {
			return a, true
		}
	}
	return stores.Anchor{}, false
}

func actions(cs []stores.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Action)
	}
	return strings.Join(s, ",")
}

func mustVendor(t testing.TB) []javatest.VendorCert {
	t.Helper()
	v, err := javatest.VendorCerts()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
