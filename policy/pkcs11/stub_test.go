//go:build !pkcs11

package pkcs11

import (
	"errors"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestStaticBuildSaysSo: without -tags pkcs11 Open explains which build
// signs with a token.
func TestStaticBuildSaysSo(t *testing.T) {
	c, _ := testpki.SelfSigned(t, "s")
	_, err := Open(Config{Module: "/usr/lib/softhsm/libsofthsm2.so", Token: "t", KeyLabel: "k"}, c)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "make signer") {
		t.Fatalf("Open in the static build: %v", err)
	}
}
