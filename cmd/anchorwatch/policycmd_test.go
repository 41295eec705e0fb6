package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// writeSigner writes a signer certificate and key (PEM) into dir.
func writeSigner(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	c, k := testpki.SelfSigned(t, "Policy Signer "+name)
	cert = testpki.WritePEM(t, filepath.Join(dir, name+".pem"), c)
	key = filepath.Join(dir, name+".key")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=Policy Signer "+name).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	_ = k
	return cert, key
}

// TestPolicyRotateCLI is the "when the CA leaks" runbook of
// docs/policy.md, command by command: rotate the signed policy in force,
// sign, verify as an agent holding the old one would (and with openssl),
// and show what it does; then a planned rotation.
func TestPolicyRotateCLI(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSigner(t, dir, "A")
	old := testpki.NewCA(t, "Corp Interception CA 1").Cert
	next := testpki.NewCA(t, "Corp Interception CA 2").Cert
	oldFile := testpki.WritePEM(t, filepath.Join(dir, "old.pem"), old)
	newFile := testpki.WritePEM(t, filepath.Join(dir, "new.pem"), next)
	p := func(name string) string { return filepath.Join(dir, name) }
	cli := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runCLI(t, newRootCmd(), args...)
		if code != 0 {
			t.Fatalf("anchorwatch %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out, errOut
	}
	cli("policy", "init", "--ca", oldFile, "-o", p("policy.json"))
	raw, _ := os.ReadFile(p("policy.json"))
	os.WriteFile(p("policy.json"), []byte(strings.Replace(string(raw), `{"sha256": "0000000000000000000000000000000000000000000000000000000000000000", "reason": "example entry: replace or delete"}`, "", 1)), 0o600)
	cli("policy", "sign", "--key", key, "--cert", cert, p("policy.json"), "-o", p("policy.p7m"))

	_, errOut := cli("policy", "rotate", "--from", oldFile, "--to", newFile, "--policy", p("policy.p7m"), "-o", p("rotated.json"))
	if !strings.Contains(errOut, "policy serial 2") || !strings.Contains(errOut, "emergency") {
		t.Errorf("rotate said: %s", errOut)
	}
	cli("policy", "sign", "--key", key, "--cert", cert, p("rotated.json"), "-o", p("rotated.p7m"))
	out, _ := cli("policy", "verify", "--signer", cert, "--held", p("policy.p7m"), p("rotated.p7m"))
	if !strings.Contains(out, "OK: serial 2, 1 anchor(s), 1 distrusted") {
		t.Errorf("verify: %s", out)
	}
	if o, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p("rotated.p7m"), "-CAfile", cert,
		"-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, o)
	}
	out, _ = cli("policy", "show", "--signer", cert, p("rotated.p7m"))
	for _, want := range []string{stores.SHA256(next)[:16] + " CN=Corp Interception CA 2", "Distrust: CN=Corp Interception CA 1,O=Anchorwatch test sha256=" + stores.SHA256(old),
		"spki=" + stores.SPKIHash(old) + " now: compromised", "Signature 1: CN=Policy Signer A"} {
		if !strings.Contains(oneLine(out), want) { // lines wrap at 80 columns
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// A planned rotation keeps OLD for 14 days.
	_, errOut = cli("policy", "rotate", "--from", oldFile, "--to", newFile, "--policy", p("policy.json"), "--overlap", "14d", "-o", p("planned.json"))
	if !strings.Contains(errOut, "planned: OLD trusted until") {
		t.Errorf("planned rotate said: %s", errOut)
	}
	cli("policy", "sign", "--key", key, "--cert", cert, p("planned.json"), "-o", p("planned.p7m"))
	out, _ = cli("policy", "show", p("planned.p7m"))
	if !strings.Contains(out, "removed after") || !strings.Contains(out, "retired") {
		t.Errorf("planned show:\n%s", out)
	}
	// Usage errors exit 2 with the reason.
	for _, args := range [][]string{
		{"policy", "rotate", "--from", oldFile, "--to", oldFile, "--policy", p("policy.json"), "-o", p("x.json")},
		{"policy", "rotate", "--from", oldFile, "--to", newFile, "-o", p("x.json")},
		{"policy", "sign", "--key", key, "--cert", cert, "--pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so", p("policy.json"), "-o", p("x.p7m")},
	} {
		if _, errOut, code := runCLI(t, newRootCmd(), args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

// TestPolicyCosignCLI: 1 of 2 signatures is refused for an anchor change
// by `policy verify --signatures-required 2`; after `policy cosign` by the
// second signer it passes.
func TestPolicyCosignCLI(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writeSigner(t, dir, "A")
	certB, keyB := writeSigner(t, dir, "B")
	bundle := filepath.Join(dir, "signers.pem")
	a, _ := os.ReadFile(certA)
	b, _ := os.ReadFile(certB)
	os.WriteFile(bundle, append(a, b...), 0o644)
	ca := testpki.WritePEM(t, filepath.Join(dir, "ca.pem"), testpki.NewCA(t, "Corp CA").Cert)
	p := func(name string) string { return filepath.Join(dir, name) }
	if _, errOut, code := runCLI(t, newRootCmd(), "policy", "init", "--ca", ca, "-o", p("policy.json")); code != 0 {
		t.Fatal(errOut)
	}
	raw, _ := os.ReadFile(p("policy.json"))
	os.WriteFile(p("policy.json"), []byte(strings.Replace(string(raw), `{"sha256": "0000000000000000000000000000000000000000000000000000000000000000", "reason": "example entry: replace or delete"}`, "", 1)), 0o600)
	if _, errOut, code := runCLI(t, newRootCmd(), "policy", "sign", "--key", keyA, "--cert", certA, p("policy.json"), "-o", p("policy.p7m")); code != 0 {
		t.Fatal(errOut)
	}
	_, errOut, code := runCLI(t, newRootCmd(), "policy", "verify", "--signer", bundle, "--signatures-required", "2", p("policy.p7m"))
	if code == 0 || !strings.Contains(errOut, "needs 2 signatures by distinct pinned signers; it carries 1 valid") || !strings.Contains(errOut, "anchorwatch policy cosign") {
		t.Fatalf("1 of 2: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, newRootCmd(), "policy", "cosign", "--key", keyB, "--cert", certB, p("policy.p7m"), "-o", p("policy.p7m")); code != 0 || !strings.Contains(errOut, "(2 signatures)") {
		t.Fatalf("cosign: %d %s", code, errOut)
	}
	out, errOut, code := runCLI(t, newRootCmd(), "policy", "verify", "--signer", bundle, "--signatures-required", "2", p("policy.p7m"))
	if code != 0 || !strings.Contains(oneLine(out), `signed by "CN=Policy Signer A" and "CN=Policy Signer B"`) {
		t.Fatalf("2 of 2: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, newRootCmd(), "policy", "cosign", "--key", keyB, "--cert", certB, p("policy.p7m"), "-o", p("x.p7m")); code == 0 || !strings.Contains(errOut, "has signed it already") {
		t.Errorf("cosign twice: %d %s", code, errOut)
	}
}

// TestReleaseBuildIsStatic: the default build does not link purego (whose
// fakecgo would make the agent binary dynamically linked); the signing
// build (-tags pkcs11) does.
func TestReleaseBuildIsStatic(t *testing.T) {
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return string(out)
	}
	if strings.Contains(deps(), "github.com/ebitengine/purego") {
		t.Error("the release build links purego: the agent binary would need the glibc loader")
	}
	if !strings.Contains(deps("-tags", "pkcs11"), "github.com/ebitengine/purego") {
		t.Error("the signing build (-tags pkcs11) does not link purego")
	}
}
