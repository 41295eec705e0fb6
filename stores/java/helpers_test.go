//go:build linux

package java

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB, cn string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Anchorwatch test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: c, key: key}
}

// serverCert issues a leaf for 127.0.0.1 from ca.
func (ca testCA) serverCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t testing.TB, dir string, c *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(dir, stores.Label(c)+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

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
