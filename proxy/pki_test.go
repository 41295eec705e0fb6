package proxy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found: install the Debian package openssl")
	}
	return p
}

func writePEM(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPKISaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	p, created, err := OpenPKI(dir, DefaultDomain, time.Now())
	if err != nil || !created {
		t.Fatalf("OpenPKI: created %v, %v", created, err)
	}
	again, created, err := OpenPKI(dir, DefaultDomain, time.Now())
	if err != nil || created || !again.Root.Equal(p.Root) || !again.CA.Equal(p.CA) || !publicKeysEqual(again.CAKey.Public(), p.CA.PublicKey) {
		t.Fatalf("reopened PKI differs: created %v, %v", created, err)
	}
	if _, _, err := OpenPKI(dir, "other.example", time.Now()); err == nil || !strings.Contains(err.Error(), DefaultDomain) {
		t.Errorf("a PKI for another domain: %v", err)
	}
	if runtime.GOOS != "windows" {
		for name, want := range map[string]os.FileMode{caKeyFile: 0o600, modernKeyFile: 0o600, RootsFile: 0o644, "": 0o700} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v (%v)", name, fi.Mode().Perm(), want, err)
			}
		}
	}
	// A key file replaced by a symbolic link is refused.
	os.Rename(filepath.Join(dir, caKeyFile), filepath.Join(dir, "elsewhere.key"))
	os.Symlink(filepath.Join(dir, "elsewhere.key"), filepath.Join(dir, caKeyFile))
	if _, err := LoadPKI(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlinked key: %v", err)
	}
	if _, err := NewPKI("*.example", time.Now()); err == nil {
		t.Error("a wildcard grading domain was accepted")
	}
}

// TestPKIWithOpenSSL checks the grading PKI with the real openssl: a leaf
// verifies against roots.pem, a leaf outside the grading domain does not
// (the name constraint), the CRL fetched from the origins' service revokes
// the revoked-crl leaf, and `openssl ocsp` gets "revoked" for the
// revoked-ocsp leaf and "good" for the baseline.
func TestPKIWithOpenSSL(t *testing.T) {
	ossl := openssl(t)
	now := time.Now()
	p, err := NewPKI(DefaultDomain, now)
	if err != nil {
		t.Fatal(err)
	}
	og, err := StartOrigins(context.Background(), p, OriginsOptions{Listen: "127.0.0.1:0", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer og.Close()
	dir := t.TempDir()
	roots := writePEM(t, dir, "roots.pem", p.RootsPEM())
	ca := writePEM(t, dir, "ca.pem", certPEM(p.CA))
	leafFile := func(id string) string { return writePEM(t, dir, id+".pem", certPEM(og.spec(id).leaf())) }
	run := func(args ...string) (string, error) {
		out, err := exec.Command(ossl, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("verify", "-CAfile", roots, "-untrusted", ca, leafFile(CheckValid)); err != nil || !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify of the baseline leaf: %v\n%s", err, out)
	}
	// The name constraint: the grading CA cannot sign for another domain.
	outside, err := sign(leafTemplate([]string{"www.bank.example"}, now.Add(-time.Hour), now.Add(time.Hour)), p.CA, p.CAKey.Public(), p.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("verify", "-CAfile", roots, "-untrusted", ca, writePEM(t, dir, "outside.pem", certPEM(outside))); err == nil || !strings.Contains(out, "permitted subtree violation") {
		t.Errorf("a leaf outside the grading domain verified: %v\n%s", err, out)
	}
	// CRL: downloaded by openssl from the distribution point in the leaf.
	if out, err := run("verify", "-crl_download", "-crl_check", "-CAfile", roots, "-untrusted", ca, leafFile(CheckRevokedCRL)); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify -crl_download of the revoked-crl leaf: %v\n%s", err, out)
	}
	// OCSP: the responder named in the leaf.
	ocspURL := og.spec(CheckRevokedOCSP).leaf().OCSPServer[0]
	for id, want := range map[string]string{CheckRevokedOCSP: ": revoked", CheckValid: ": good"} {
		out, err := run("ocsp", "-issuer", ca, "-cert", leafFile(id), "-url", ocspURL, "-CAfile", roots, "-verify_other", ca)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "Response verify OK") {
			t.Errorf("openssl ocsp for %s: %v, want %q and a verified response\n%s", id, err, want, out)
		}
	}
}
