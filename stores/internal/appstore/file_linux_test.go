package appstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestVendorHeaders: certifi's "# SHA256 Fingerprint:" header marks a
// root as the vendor's in a root-owned bundle; a header that names
// another certificate, or any header in a user's file, does not.
func TestVendorHeaders(t *testing.T) {
	root := t.TempDir()
	a, b := testpki.NewCA(t, "Vendor A"), testpki.NewCA(t, "Planted B")
	header := func(der []byte) string {
		sum := sha256.Sum256(der)
		var parts []string
		for _, x := range sum {
			parts = append(parts, fmt.Sprintf("%02X", x))
		}
		return "# Label: \"x\"\n# SHA256 Fingerprint: " + strings.Join(parts, ":") + "\n"
	}
	data := header(a.Cert.Raw) + string(testpki.PEM(a.Cert)) + header(a.Cert.Raw) + string(testpki.PEM(b.Cert))
	p := "/usr/lib/python3/site-packages/certifi/cacert.pem"
	os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
	os.WriteFile(filepath.Join(root, p), []byte(data), 0o644)
	f := NewFile(stores.Env{Root: root}, nil, FileConfig{Kind: stores.KindPython, Path: p, VendorHeaders: true})
	as, err := f.List(context.Background())
	if err != nil || len(as) != 2 {
		t.Fatalf("list: %v %v", as, err)
	}
	if !as[0].Vendor || as[1].Vendor {
		t.Errorf("vendor flags %v %v, want true false", as[0].Vendor, as[1].Vendor)
	}
	os.Chown(filepath.Join(root, p), 1000, 1000)
	as, _ = f.List(context.Background())
	if as[0].Vendor {
		t.Error("a user-owned bundle speaks for the vendor")
	}
}
