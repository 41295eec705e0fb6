package systemtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Paths inside a RHEL root.
const (
	RHELAnchorsDir  = "/etc/pki/ca-trust/source/anchors"
	RHELBlocklist   = "/etc/pki/ca-trust/source/blocklist"
	RHELTLSBundle   = "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"
	RHELEmail       = "/etc/pki/ca-trust/extracted/pem/email-ca-bundle.pem"
	RHELObjSign     = "/etc/pki/ca-trust/extracted/pem/objsign-ca-bundle.pem"
	RHELTrustBundle = "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt"
)

// RHELOSRelease is /etc/os-release of RHEL 9.
const RHELOSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
`

// updateCATrust is the extraction RHEL's update-ca-trust runs (its
// "extract" command, less the Java and EDK2 outputs), on the real
// p11-kit `trust`.
const updateCATrust = `#!/bin/sh
set -e
DEST=/etc/pki/ca-trust/extracted
trust extract --overwrite --format=pem-bundle --filter=ca-anchors --purpose server-auth $DEST/pem/tls-ca-bundle.pem
trust extract --overwrite --format=pem-bundle --filter=ca-anchors --purpose email $DEST/pem/email-ca-bundle.pem
trust extract --overwrite --format=pem-bundle --filter=ca-anchors --purpose code-signing $DEST/pem/objsign-ca-bundle.pem
trust extract --overwrite --format=openssl-bundle --filter=certificates $DEST/openssl/ca-bundle.trust.crt
`

// trustModule is the p11-kit trust module's configuration: the RHEL
// source directories as its paths (p11-kit treats their anchors/ and
// blocklist/ subdirectories as such).
const trustModule = `module: p11-kit-trust.so
priority: 1
trust-policy: yes
x-init-reserved: paths=/etc/pki/ca-trust/source:/usr/share/pki/ca-trust-source
`

// P11KitRoot turns root into a RHEL-family root whose refresh tool is
// the real p11-kit of this machine: the host's `trust` (Debian package
// p11-kit), its libraries and trust module and a shell are copied in, an
// update-ca-trust running RHEL's extraction is written, and it is run
// once. The adapter then refreshes it with chroot as on a RHEL host, and
// tests can ask p11-kit itself with Trust.
func P11KitRoot(t testing.TB, root string) {
	t.Helper()
	trust, err := exec.LookPath("trust")
	if err != nil {
		t.Fatal("trust not found: install the Debian package p11-kit")
	}
	module := firstExisting(t, "p11-kit trust module (Debian package p11-kit-modules)",
		"/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-trust.so", "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-trust.so", "/usr/lib64/pkcs11/p11-kit-trust.so")
	for _, bin := range []string{trust, "/bin/sh", module} {
		copyWithLibs(t, root, bin)
	}
	files := map[string]string{
		"etc/os-release": RHELOSRelease,
		"usr/share/p11-kit/modules/p11-kit-trust.module": trustModule,
		"usr/bin/update-ca-trust":                        updateCATrust,
	}
	for p, data := range files {
		writeFile(t, filepath.Join(root, p), []byte(data), 0o755)
	}
	for _, d := range []string{RHELAnchorsDir, RHELBlocklist, "/usr/share/pki/ca-trust-source/anchors", "/etc/pki/ca-trust/extracted/pem", "/etc/pki/ca-trust/extracted/openssl", "/tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	Trust(t, root, "/usr/bin/update-ca-trust")
}

// Trust runs a program of a P11KitRoot (the real `trust`, or
// update-ca-trust) with chroot and returns its output.
func Trust(t testing.TB, root string, args ...string) string {
	t.Helper()
	if !strings.HasPrefix(args[0], "/") {
		args = append([]string{"/usr/bin/trust"}, args...)
	}
	cmd := exec.Command("chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s %s: %v\n%s", root, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func firstExisting(t testing.TB, what string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found in %v", what, paths)
	return ""
}

var lddPath = regexp.MustCompile(`(?m)(/\S+) \(0x`)

// copyWithLibs copies the host file bin into root at the same path, with
// every library ldd says it needs.
func copyWithLibs(t testing.TB, root, bin string) {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	paths := []string{bin}
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		paths = append(paths, m[1])
	}
	for _, p := range paths {
		data, err := os.ReadFile(p) // follows links: the copy is a plain file
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, p), data, 0o755)
	}
}

func writeFile(t testing.TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}
