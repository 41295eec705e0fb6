package container_test

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	_ "github.com/anchorwatch/anchorwatch/stores/bundle"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
	_ "github.com/anchorwatch/anchorwatch/stores/python"
)

// TestImageRootfs audits and fixes an unpacked image offline (the layout
// of the python:3.12 images: Python under /usr/local, pip 24.0): the
// application stores are found under --root with the paths they have in
// the container, reported missing, and installed into.
func TestImageRootfs(t *testing.T) {
	root := apptest.Root(t)
	sys := apptest.SystemBundle(t)
	site := filepath.Join(root, "usr/local/lib/python3.12/site-packages")
	for p, data := range map[string][]byte{
		"etc/os-release":                    []byte("ID=debian\nVERSION_ID=12\n"),
		"etc/ssl/certs/ca-certificates.crt": sys,
		"opt/app/conf/ca-bundle.crt":        sys,
	} {
		testWrite(t, filepath.Join(root, p), data)
	}
	testWrite(t, filepath.Join(site, "certifi/cacert.pem"), sys)
	testWrite(t, filepath.Join(site, "certifi/core.py"), []byte("def where():\n    return _CACERT_PATH\n"))
	testWrite(t, filepath.Join(site, "pip/__init__.py"), []byte("__version__ = \"24.0\"\n"))
	testWrite(t, filepath.Join(site, "pip/_vendor/certifi/cacert.pem"), sys)
	ca := testpki.NewCA(t, "Corp Interception CA")
	ctx := context.Background()
	env := stores.Env{Root: root}
	ss, errs := stores.Discover(ctx, env, []stores.Kind{stores.KindPython, stores.KindBundle})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.Info().ID)
		if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusMissing {
			t.Errorf("%s before: %s %s", s.Info().ID, r.Status, r.Detail)
		}
		if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
			t.Errorf("%s install: %v", s.Info().ID, err)
		}
		if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusCompliant {
			t.Errorf("%s after: %s %s", s.Info().ID, r.Status, r.Detail)
		}
	}
	sort.Strings(ids)
	want := "bundle:/opt/app/conf/ca-bundle.crt python:/usr/local/lib/python3.12/site-packages/certifi/cacert.pem python:/usr/local/lib/python3.12/site-packages/pip/_vendor/certifi/cacert.pem"
	if strings.Join(ids, " ") != want {
		t.Errorf("stores in the image:\n%s\nwant\n%s", strings.Join(ids, " "), want)
	}
}
