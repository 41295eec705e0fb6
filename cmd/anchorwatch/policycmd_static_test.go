//go:build !pkcs11

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestPolicySignPKCS11NeedsSignerBuild: the static build says which build
// signs on a token.
func TestPolicySignPKCS11NeedsSignerBuild(t *testing.T) {
	dir := t.TempDir()
	cert := testpki.WritePEM(t, filepath.Join(dir, "s.pem"), testpki.NewCA(t, "s").Cert)
	t.Setenv(pinEnv, "1234")
	doc := `{"serial": 1, "anchors": [{"pem": ` + strconv.Quote(string(testpki.PEM(testpki.NewCA(t, "CA").Cert))) + `}]}`
	os.WriteFile(filepath.Join(dir, "p.json"), []byte(doc), 0o600)
	_, errOut, code := runCLI(t, newRootCmd(), "policy", "sign", "--cert", cert, "--pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so",
		"--pkcs11-token", "t", "--pkcs11-key-label", "k", filepath.Join(dir, "p.json"), "-o", filepath.Join(dir, "p.p7m"))
	if code != 1 || !strings.Contains(errOut, "make signer") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
