package installers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestStaticBinaryRunsOnBullseye: the binary `make build` makes has no
// ELF interpreter, no dynamic section and no GLIBC version needs
// (readelf), and it runs inside a Debian 11 root (glibc 2.31) in a
// chroot: it finds the system store, and installs a CA into an NSS
// database with bullseye's own certutil. The same program built with cgo does not
// start there (GLIBC_2.34 not found), which shows the root really is
// older than the build machine's glibc.
func TestStaticBinaryRunsOnBullseye(t *testing.T) {
	makeTool := needTool(t, "make", "make")
	readelf := needTool(t, "readelf", "binutils")
	needTool(t, "gcc", "gcc")
	dir := t.TempDir()
	bin := filepath.Join(dir, "anchorwatch")
	build := exec.Command(makeTool, "build", "BIN="+bin)
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	if out := string(run(t, readelf, "-lW", bin)); strings.Contains(out, "INTERP") {
		t.Errorf("readelf -l: the binary asks for a dynamic loader:\n%s", out)
	}
	if out := string(run(t, readelf, "-dW", bin)); !strings.Contains(out, "There is no dynamic section") {
		t.Errorf("readelf -d: the binary has a dynamic section:\n%s", out)
	}
	if out := string(run(t, readelf, "-VW", bin)); strings.Contains(out, "GLIBC_") {
		t.Errorf("readelf -V: the binary needs glibc versions:\n%s", out)
	}

	root := bullseyeRoot(t)
	if err := copyFile(bin, filepath.Join(root, "usr/local/bin/anchorwatch"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := chroot(root, "anchorwatch", "--version"); err != nil {
		t.Fatalf("anchorwatch --version in bullseye: %v\n%s", err, out)
	}
	if out, err := chroot(root, "anchorwatch", "stores", "--stores", "system"); err != nil || !strings.Contains(out, "system  /etc/ssl/certs/ca-certificates.crt  debian") {
		t.Fatalf("anchorwatch stores in bullseye: %v\n%s", err, out)
	}
	// A system-wide NSS database made by bullseye's certutil (NSS 3.61);
	// the agent installs the CA with that certutil and audits it.
	if out, err := chroot(root, "sh", "-c", "mkdir -p /etc/pki/nssdb && certutil -N -d sql:/etc/pki/nssdb --empty-password"); err != nil {
		t.Fatalf("certutil -N in bullseye: %v\n%s", err, out)
	}
	ca := testpki.NewCA(t, "Anchorwatch Bullseye Test CA")
	testpki.WritePEM(t, filepath.Join(root, "tmp/ca.pem"), ca.Cert)
	if out, err := chroot(root, "anchorwatch", "install", "--ca", "/tmp/ca.pem", "--stores", "nss"); err != nil {
		t.Fatalf("anchorwatch install in bullseye: %v\n%s", err, out)
	}
	if out, err := chroot(root, "anchorwatch", "audit", "--ca", "/tmp/ca.pem", "--stores", "nss"); err != nil {
		t.Fatalf("anchorwatch audit in bullseye: %v\n%s", err, out)
	}
	if out, err := chroot(root, "certutil", "-L", "-d", "sql:/etc/pki/nssdb"); err != nil || !strings.Contains(out, "C,,") {
		t.Errorf("bullseye's certutil -L does not list the CA as a trusted CA (%v):\n%s", err, out)
	}

	// The negative control: the same program with cgo.
	cgo := filepath.Join(dir, "anchorwatch-cgo")
	cb := exec.Command("go", "build", "-o", cgo, "./cmd/anchorwatch")
	cb.Dir = repoRoot(t)
	cb.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cb.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=1 go build: %v\n%s", err, out)
	}
	if err := copyFile(cgo, filepath.Join(root, "usr/local/bin/anchorwatch-cgo"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := chroot(root, "anchorwatch-cgo", "--version")
	if err == nil || !strings.Contains(out, "GLIBC_2.3") {
		t.Errorf("the cgo build ran in bullseye (err %v): the root is not the old glibc the test needs\n%s", err, out)
	}
	t.Logf("cgo build in bullseye: %s", out)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
