package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/installers"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

func TestPackageCommands(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found: install the Debian package openssl")
	}
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Fatal("dpkg-deb not found: install the Debian package dpkg")
	}
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Corp Interception CA")
	caPEM := testpki.WritePEM(t, filepath.Join(dir, "corp-ca.pem"), ca.Cert)
	leafPEM := testpki.WritePEM(t, filepath.Join(dir, "leaf.pem"), ca.Leaf(t, "proxy.example").Leaf)
	signer, key := testpki.SelfSigned(t, "Profile Signer")
	signerPEM := testpki.WritePEM(t, filepath.Join(dir, "signer.pem"), signer)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := filepath.Join(dir, "signer.key")
	if err := os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	// mobileconfig: openssl verifies it and finds the CA's DER inside.
	mc := filepath.Join(dir, "corp-ca.mobileconfig")
	if _, stderr, code := runCLI(t, newRootCmd(), "package", "mobileconfig", "--ca", caPEM, "--sign-key", keyPEM, "--sign-cert", signerPEM, "-o", mc); code != 0 {
		t.Fatalf("mobileconfig: exit %d: %s", code, stderr)
	}
	out, err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", mc, "-CAfile", signerPEM, "-purpose", "any").Output()
	if err != nil {
		t.Fatalf("openssl cms -verify: %v", err)
	}
	if !bytes.Contains(out, []byte("<string>com.apple.security.root</string>")) {
		t.Errorf("verified profile lacks the root payload:\n%s", out)
	}

	// gpo: Registry.pol alone, and the kit
	pol := filepath.Join(dir, "Registry.pol")
	if _, stderr, code := runCLI(t, newRootCmd(), "package", "gpo", "--ca", caPEM, "-o", pol); code != 0 {
		t.Fatalf("gpo: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(pol); !bytes.HasPrefix(b, []byte("PReg\x01\x00\x00\x00")) || !bytes.Contains(b, ca.Cert.Raw) {
		t.Errorf("Registry.pol lacks the header or the CA")
	}
	gdir := filepath.Join(dir, "gpo")
	if _, stderr, code := runCLI(t, newRootCmd(), "package", "gpo", "--ca", caPEM, "-o", gdir); code != 0 {
		t.Fatalf("gpo kit: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(gdir, "Machine", "Registry.pol")); !bytes.Contains(b, ca.Cert.Raw) {
		t.Error("the GPO kit's Machine/Registry.pol lacks the CA")
	}
	for _, f := range []string{"Install-AnchorwatchGPO.ps1", "GPT.INI", "gPCMachineExtensionNames.txt", "README.txt", installers.SHA1Hex(ca.Cert) + ".cer"} {
		if _, err := os.Stat(filepath.Join(gdir, f)); err != nil {
			t.Errorf("gpo kit: %v", err)
		}
	}

	// intune
	idir := filepath.Join(dir, "intune")
	if _, stderr, code := runCLI(t, newRootCmd(), "package", "intune", "--ca", caPEM, "-o", idir); code != 0 {
		t.Fatalf("intune: exit %d: %s", code, stderr)
	}
	for _, f := range []string{"intune-oma-uri.json", "intune-oma-uri.csv", installers.SHA1Hex(ca.Cert) + ".cer", "Import-AnchorwatchIntune.ps1",
		"graph/windows-trusted-certificate-" + installers.SHA1Hex(ca.Cert)[:16] + ".json"} {
		if _, err := os.Stat(filepath.Join(idir, f)); err != nil {
			t.Errorf("intune: %v", err)
		}
	}

	// deb
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	binPath := filepath.Join(dir, "anchorwatch")
	cfg := filepath.Join(dir, "agent.json")
	writeFiles(t, map[string][]byte{
		binPath: bin,
		cfg:     []byte(`{"collector_url":"https://c.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) + `","enroll_secret":"x","policy_signer_file":"/etc/anchorwatch/policy-signer.pem"}`),
	})
	stdout, stderr, code := runCLI(t, newRootCmd(), "package", "deb", "--binary", binPath, "--config", cfg, "--signer", signerPEM, "--version", "1.2.3",
		"--maintainer", "Corp IT <it@example.com>", "-o", filepath.Join(dir, "dist"))
	if code != 0 {
		t.Fatalf("deb: exit %d: %s", code, stderr)
	}
	deb := strings.TrimSpace(stdout)
	if c, err := exec.Command(dpkgDeb, "--contents", deb).Output(); err != nil || !strings.Contains(string(c), "./etc/anchorwatch/agent.json") {
		t.Errorf("dpkg-deb --contents %s: %v\n%s", deb, err, c)
	}

	// Refusals: exit status and a message that says what to do.
	bareCfg := filepath.Join(dir, "bare.json") // file names relative to the config: right for every package
	writeFiles(t, map[string][]byte{bareCfg: []byte(`{"collector_url":"https://c.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) + `","enroll_secret":"x","policy_signer_file":"policy-signer.pem"}`)})
	badCfg := filepath.Join(dir, "bad.json")
	writeFiles(t, map[string][]byte{badCfg: []byte(`{"collector_url":"https://c.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) + `","enroll_secret":"x","policy_signer_file":"/opt/signer.pem"}`)})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"package", "gpo", "--ca", leafPEM, "-o", filepath.Join(dir, "x.pol")}, 2, "not a CA"},
		{[]string{"package", "gpo", "-o", filepath.Join(dir, "x.pol")}, 2, "--ca FILE is required"},
		{[]string{"package", "mobileconfig", "--ca", caPEM, "-o", mc}, 2, "--sign-key and --sign-cert are required"},
		{[]string{"package", "mobileconfig", "--ca", caPEM, "--sign-key", keyPEM, "--sign-cert", caPEM, "-o", mc}, 2, "does not belong"},
		{[]string{"package", "deb", "--binary", binPath, "--config", badCfg, "--signer", signerPEM, "--version", "1", "--maintainer", "A <a@b.c>", "-o", dir}, 2, `(or "/etc/anchorwatch/policy-signer.pem")`},
		{[]string{"package", "deb", "--binary", binPath, "--config", signerPEM, "--signer", signerPEM, "--version", "1", "--maintainer", "A <a@b.c>", "-o", dir}, 2, "--config"},
		{[]string{"package", "deb", "--binary", binPath, "--config", cfg, "--signer", signerPEM, "--version", "1", "-o", dir}, 2, "--maintainer"},
		{[]string{"package", "rpm", "--config", cfg, "--signer", signerPEM, "--version", "1", "--maintainer", "A <a@b.c>", "-o", dir}, 2, "--binary"},
		{[]string{"package", "msi", "--binary", binPath, "--config", cfg, "--signer", signerPEM, "--version", "1.2.3", "--sign-cert", signerPEM, "-o", dir}, 2, "--sign-key together"},
		{[]string{"package", "msi", "--binary", binPath, "--config", bareCfg, "--signer", signerPEM, "--version", "1.2.3", "-o", dir}, 2, "not a Windows executable"},
		{[]string{"package", "pkg", "--binary", binPath, "--config", bareCfg, "--signer", signerPEM, "--version", "1.2.3", "-o", dir}, 2, "not a macOS executable"},
		{[]string{"package", "intune", "--ca", caPEM, "--msi", pol, "-o", filepath.Join(dir, "i2")}, 1, "msiinfo export"},
	} {
		_, stderr, code := runCLI(t, newRootCmd(), tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pol")); err == nil {
		t.Error("a refused gpo build left an output file")
	}
}

func writeFiles(t *testing.T, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
