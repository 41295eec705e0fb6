package wsl

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestRootFS reads distributions' stores through their root file
// systems: a Debian one holding the CA in its bundle, a RHEL one without,
// this host's own (whose bundle openssl and everything else read), and
// one that cannot be reached. Install says what to run inside.
func TestRootFS(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Interception CA")
	deb := t.TempDir()
	write(t, filepath.Join(deb, "etc/os-release"), []byte("ID=ubuntu\nID_LIKE=debian\n"))
	write(t, filepath.Join(deb, "etc/ssl/certs/ca-certificates.crt"), testpki.PEM(testpki.NewCA(t, "Public Root").Cert, ca.Cert))
	rhel := t.TempDir()
	write(t, filepath.Join(rhel, "etc/os-release"), []byte("ID=\"fedora\"\n"))
	write(t, filepath.Join(rhel, "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"), testpki.PEM(testpki.NewCA(t, "Public Root").Cert))
	ctx := context.Background()
	want := []*x509.Certificate{ca.Cert}
	for _, tc := range []struct {
		d      Distro
		status stores.Status
	}{
		{Distro{Name: "Ubuntu", Version: 1, RootFS: deb}, stores.StatusCompliant},
		{Distro{Name: "Fedora", Version: 1, RootFS: rhel}, stores.StatusMissing},
		{Distro{Name: "Host", Version: 2, RootFS: "/"}, stores.StatusMissing},
		{Distro{Name: "Stopped", Version: 2, Note: "cannot be read"}, stores.StatusError},
	} {
		s := NewStore(tc.d)
		r := stores.Audit(ctx, s, want)
		if r.Status != tc.status {
			t.Errorf("%s: %s %s, want %s", tc.d.Name, r.Status, r.Detail, tc.status)
		}
		if tc.d.Name == "Host" {
			as, _ := s.List(ctx)
			if len(as) < 50 {
				t.Errorf("the host's bundle through its root: %d certificates", len(as))
			}
		}
		_, err := s.Install(ctx, want, stores.Options{})
		if !errors.Is(err, stores.ErrNotSupported) || !strings.Contains(err.Error(), "wsl -d "+tc.d.Name+" -u root") {
			t.Errorf("%s install: %v", tc.d.Name, err)
		}
	}
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
