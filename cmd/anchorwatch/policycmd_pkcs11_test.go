//go:build pkcs11 && linux

package main

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/policy/pkcs11/softhsmtest"
)

// TestPolicySignPKCS11: `policy sign` and `policy cosign` with keys on a
// real SoftHSM token, the PIN from a file and from the environment; the
// result verifies with `policy verify` (2 of 2) and `openssl cms
// -verify`. A wrong PIN exits 1 with a precise error that never shows
// the PIN.
func TestPolicySignPKCS11(t *testing.T) {
	tok := softhsmtest.New(t, "awcli")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	ec := testpki.WritePEM(t, p("ec.pem"), tok.GenKey(t, "ec-signer", "01", "EC:prime256v1"))
	rsa := testpki.WritePEM(t, p("rsa.pem"), tok.GenKey(t, "rsa-signer", "02", "rsa:2048"))
	bundle := testpki.WritePEM(t, p("signers.pem"), mustCert(t, ec), mustCert(t, rsa))
	pinFile := p("pin")
	os.WriteFile(pinFile, []byte(tok.PIN+"\n"), 0o600)
	doc := `{"serial": 3, "anchors": [{"pem": ` + strconv.Quote(string(testpki.PEM(testpki.NewCA(t, "Corp CA").Cert))) + `}]}`
	os.WriteFile(p("policy.json"), []byte(doc), 0o600)
	token := func(label string) []string {
		return []string{"--pkcs11-module", softhsmtest.Module, "--pkcs11-token", tok.Label, "--pkcs11-key-label", label}
	}
	args := append([]string{"policy", "sign", "--cert", ec, "--pkcs11-pin-file", pinFile}, token("ec-signer")...)
	if _, errOut, code := runCLI(t, newRootCmd(), append(args, p("policy.json"), "-o", p("policy.p7m"))...); code != 0 {
		t.Fatalf("policy sign on the token: %d\n%s", code, errOut)
	}
	t.Setenv(pinEnv, tok.PIN)
	args = append([]string{"policy", "cosign", "--cert", rsa}, token("rsa-signer")...)
	if _, errOut, code := runCLI(t, newRootCmd(), append(args, p("policy.p7m"), "-o", p("policy.p7m"))...); code != 0 {
		t.Fatalf("policy cosign on the token (PIN from %s): %d\n%s", pinEnv, code, errOut)
	}
	out, errOut, code := runCLI(t, newRootCmd(), "policy", "verify", "--signer", bundle, "--signatures-required", "2", p("policy.p7m"))
	if code != 0 || !strings.Contains(out, "OK: serial 3") {
		t.Fatalf("policy verify 2 of 2: %d\n%s%s", code, out, errOut)
	}
	caFile := testpki.WritePEM(t, p("ca.pem"), tok.CA.Cert)
	if o, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p("policy.p7m"), "-CAfile", caFile,
		"-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, o)
	}
	t.Setenv(pinEnv, "wrong-pin-1234")
	args = append([]string{"policy", "sign", "--cert", ec}, token("ec-signer")...)
	_, errOut, code = runCLI(t, newRootCmd(), append(args, p("policy.json"), "-o", p("x.p7m"))...)
	if code != 1 || !strings.Contains(errOut, `token "awcli" refused the PIN (CKR_PIN_INCORRECT from C_Login)`) || strings.Contains(errOut, "wrong-pin-1234") {
		t.Fatalf("wrong PIN: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(p("x.p7m")); err == nil {
		t.Error("a failed signing left a file")
	}
}

func mustCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	c, err := policy.LoadCertificate(file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
