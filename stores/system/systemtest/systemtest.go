// Package systemtest builds sandbox roots that look like a Linux system to
// the system trust-store adapter, using the real tools of this (Debian)
// machine, and makes test CAs and leaves. It is for tests and demos only:
// it calls t.Fatal on any failure.
//
// DebianRoot copies the host's /usr/share/ca-certificates and
// /etc/ca-certificates.conf into root, writes a Debian 12 os-release and
// runs the host's update-ca-certificates with directory flags pointing
// inside root, so root/etc/ssl/certs/ca-certificates.crt is a real,
// full Mozilla bundle built by the real tool. It needs the Debian packages
// ca-certificates and openssl.
//
//	root := t.TempDir()
//	systemtest.DebianRoot(t, root)
//	ca, key := systemtest.CA(t, "Test Interception CA")
//	leaf := systemtest.Leaf(t, ca, key, "intranet.example")
//	// … install ca with anchorwatch --root root …
//	err := systemtest.Verify(root+systemtest.DebianBundle, leaf)
package systemtest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// Paths inside a Debian root.
const (
	DebianBundle     = "/etc/ssl/certs/ca-certificates.crt"
	DebianAnchorsDir = "/usr/local/share/ca-certificates"
	DebianCertsConf  = "/etc/ca-certificates.conf"
	DebianCertsDir   = "/usr/share/ca-certificates"
)

// DebianOSRelease is /etc/os-release of Debian 12 (bookworm).
const DebianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

// Tool returns the path of the host's update-ca-certificates, failing the
// test with the Debian package to install when it is missing.
func Tool(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("update-ca-certificates not found: install the Debian package ca-certificates")
	return ""
}

// DebianRoot turns root (an existing, normally empty directory) into a
// Debian system trust store with the host's full Mozilla set selected, and
// builds its bundle with the real update-ca-certificates.
func DebianRoot(t testing.TB, root string) {
	t.Helper()
	Tool(t)
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found (update-ca-certificates runs openssl rehash): install the Debian package openssl")
	}
	for _, d := range []string{"/etc/ssl/certs", DebianAnchorsDir, DebianCertsDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(DebianOSRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyTree("/usr/share/ca-certificates", filepath.Join(root, DebianCertsDir)); err != nil {
		t.Fatalf("copy the host's CA set (Debian package ca-certificates): %v", err)
	}
	conf, err := os.ReadFile("/etc/ca-certificates.conf")
	if err != nil {
		t.Fatalf("read the host's CA selection (Debian package ca-certificates): %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, DebianCertsConf), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	Refresh(t, root)
}

// Refresh runs the host's update-ca-certificates on root with directory
// flags (and no hooks), as an administrator of that root would after
// editing it by hand.
func Refresh(t testing.TB, root string) {
	t.Helper()
	hooks := filepath.Join(t.TempDir(), "no-hooks")
	cmd := exec.Command(Tool(t),
		"--certsconf", filepath.Join(root, DebianCertsConf),
		"--certsdir", filepath.Join(root, DebianCertsDir),
		"--localcertsdir", filepath.Join(root, DebianAnchorsDir),
		"--etccertsdir", filepath.Join(root, "/etc/ssl/certs"),
		"--hooksdir", hooks)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-ca-certificates on %s: %v\n%s", root, err, out)
	}
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p) // follows symlinks: the copy holds plain files
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// CA makes a self-signed root CA with common name cn (testpki.NewCA).
func CA(t testing.TB, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	ca := testpki.NewCA(t, cn)
	return ca.Cert, ca.Key
}

// Leaf issues a TLS server certificate for dns from ca and returns it as PEM.
func Leaf(t testing.TB, ca *x509.Certificate, caKey crypto.Signer, dns string) []byte {
	t.Helper()
	return testpki.PEM((&testpki.CA{Cert: ca, Key: caKey}).Leaf(t, dns).Leaf)
}

// PEM encodes c.
func PEM(c *x509.Certificate) []byte { return testpki.PEM(c) }

// Verify runs `openssl verify -CAfile bundle -purpose sslserver` on the
// PEM leaf, the way an OpenSSL client checks a server: nil when OpenSSL
// accepts the chain, else an error with OpenSSL's output.
func Verify(bundle string, leafPEM []byte) error {
	f, err := os.CreateTemp("", "anchorwatch-leaf-*.pem")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(leafPEM); err != nil {
		f.Close()
		return err
	}
	f.Close()
	out, err := exec.Command("openssl", "verify", "-CAfile", bundle, "-purpose", "sslserver", f.Name()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl verify: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
