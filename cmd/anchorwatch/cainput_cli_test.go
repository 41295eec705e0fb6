package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// openssl runs the real openssl in dir and fails the test when it fails.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestInstallLegacyInputs: a legacy v1 root made by the real openssl, and
// a CA saved by Notepad (UTF-8 byte-order mark, CRLF), are installed;
// the v1 root with a warning on stderr. openssl then verifies a server
// certificate the v1 root issued against the system bundle we wrote.
func TestInstallLegacyInputs(t *testing.T) {
	w := newWorkstation(t)
	dir := t.TempDir()
	openssl(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "v1.key",
		"-out", "v1.csr", "-subj", "/CN=Old Corp Legacy Root")
	openssl(t, dir, "x509", "-req", "-in", "v1.csr", "-signkey", "v1.key", "-days", "30", "-out", "v1.pem")
	openssl(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key",
		"-out", "leaf.csr", "-subj", "/CN=old-intranet.example")
	if err := os.WriteFile(filepath.Join(dir, "san.ext"), []byte("subjectAltName=DNS:old-intranet.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl(t, dir, "x509", "-req", "-in", "leaf.csr", "-CA", "v1.pem", "-CAkey", "v1.key", "-set_serial", "2",
		"-days", "30", "-extfile", "san.ext", "-out", "leaf.pem")
	pem, err := os.ReadFile(w.caFile)
	if err != nil {
		t.Fatal(err)
	}
	notepad := filepath.Join(dir, "corp-ca-notepad.crt")
	crlf := strings.ReplaceAll(string(pem), "\n", "\r\n")
	if err := os.WriteFile(notepad, append([]byte{0xEF, 0xBB, 0xBF}, crlf...), 0o644); err != nil {
		t.Fatal(err)
	}

	v1 := filepath.Join(dir, "v1.pem")
	out, errOut, code := w.cli(t, "install", "--ca", v1, "--ca", notepad, "--stores", "system")
	if code != 0 || !strings.Contains(out, "1 store changed") {
		t.Fatalf("install v1 root and Notepad PEM: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "warning: "+v1+": ") || !strings.Contains(errOut, "legacy X.509 v1 root") || strings.Contains(errOut, notepad) {
		t.Errorf("want one warning, for the v1 root only; stderr:\n%s", errOut)
	}
	leaf, err := os.ReadFile(filepath.Join(dir, "leaf.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := systemtest.Verify(filepath.Join(w.root, systemtest.DebianBundle), leaf); err != nil {
		t.Fatalf("openssl rejects the v1 root's server certificate after install: %v", err)
	}
	out, errOut, code = w.cli(t, "audit", "--ca", v1, "--ca", notepad, "--stores", "system")
	if code != 0 || !strings.Contains(out, "compliant: 1 store checked") {
		t.Fatalf("audit: exit %d\n%s%s", code, out, errOut)
	}
	// The v1 leaf itself is still no CA: refused, input error.
	_, errOut, code = w.cli(t, "install", "--ca", filepath.Join(dir, "leaf.pem"))
	if code != 2 || !strings.Contains(errOut, "not a CA certificate") {
		t.Fatalf("install --ca leaf: exit %d\n%s", code, errOut)
	}
}
