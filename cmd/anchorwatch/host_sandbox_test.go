package main

import (
	"crypto"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// workstation is a sandbox root that looks like a Debian 12 workstation:
// the Debian system store with the full Mozilla bundle, alice's Firefox
// profile and Chromium nssdb, Debian's OpenJDK 17 (shared JKS) and a
// Temurin 25 (password-less PKCS12), all made with the real tools.
type workstation struct {
	root     string
	firefox  string // profile dir inside root
	chromium string // nssdb dir inside root
	java     []javatest.Runtime
	ca       *x509.Certificate
	caKey    crypto.Signer
	caFile   string // PEM of ca on the host
}

func newWorkstation(t testing.TB) *workstation {
	t.Helper()
	w := &workstation{root: t.TempDir()}
	systemtest.DebianRoot(t, w.root)
	if err := os.WriteFile(filepath.Join(w.root, "etc/passwd"),
		[]byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.firefox = nsstest.FirefoxProfile(t, w.root, "/home/alice", "k3x9w2p1.default-release")
	w.chromium = nsstest.ChromiumDB(t, w.root, "/home/alice")
	nsstest.Chown(t, w.root, "/home/alice", 1000, 1000)
	rts, err := javatest.Standard(w.root)
	if err != nil {
		t.Fatalf("java runtimes: %v", err)
	}
	w.java = rts
	w.ca, w.caKey = systemtest.CA(t, "Example Corp TLS Inspection CA")
	w.caFile = filepath.Join(t.TempDir(), "corp-ca.pem")
	if err := os.WriteFile(w.caFile, systemtest.PEM(w.ca), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// keytool returns the path of the JDK 17 keytool, failing the test with
// the Debian package to install when it is missing.
func keytool(t testing.TB) string {
	t.Helper()
	if jdk, err := javatest.FindJDK(17); err == nil {
		return jdk.Keytool()
	}
	p, err := exec.LookPath("keytool")
	if err != nil {
		t.Fatal("keytool not found: install the Debian package openjdk-17-jdk-headless")
	}
	return p
}
