package bundle_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/bundle"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
)

func discover(t *testing.T, root string) map[string]stores.Store {
	t.Helper()
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindBundle})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m := map[string]stores.Store{}
	for _, s := range ss {
		m[s.Info().ID] = s
	}
	return m
}

func cycle(t *testing.T, s stores.Store, ca *testpki.CA, client func(stage string, wantOK bool)) {
	t.Helper()
	ctx := context.Background()
	certs := []*x509.Certificate{ca.Cert}
	client("before install", false)
	if _, err := s.Install(ctx, certs, stores.Options{}); err != nil {
		t.Fatalf("install: %v", err)
	}
	if r := stores.Audit(ctx, s, certs); r.Status != stores.StatusCompliant {
		t.Errorf("audit after install: %s %s", r.Status, r.Detail)
	}
	client("after install", true)
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	client("after remove", false)
}

// TestCopiedBundleCurl: a vendor's bundle without a telling name is found
// by its content (decoys are not), and curl using it trusts the CA only
// after install.
func TestCopiedBundleCurl(t *testing.T) {
	root := apptest.Root(t)
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	sys := apptest.SystemBundle(t)
	write(t, filepath.Join(root, "opt/vendorapp/etc/trust"), sys)
	key := append(append([]byte{}, testpki.PEM(ca.Cert, ca.Cert)...), "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"...)
	write(t, filepath.Join(root, "opt/vendorapp/etc/client.pem"), append(key, make([]byte, 1024)...))
	write(t, filepath.Join(root, "opt/vendorapp/etc/one.pem"), append(testpki.PEM(ca.Cert), make([]byte, 1024)...))
	write(t, filepath.Join(root, "opt/vendorapp/lib/libfoo.so"), sys)
	write(t, filepath.Join(root, "opt/vendorapp/lib/python3.11/site-packages/certifi/cacert.pem"), sys)
	write(t, filepath.Join(root, "opt/corp/git.pem"), sys)
	write(t, filepath.Join(root, "etc/gitconfig"), []byte("[http]\n sslCAInfo = /opt/corp/git.pem\n"))
	found := discover(t, root)
	if len(found) != 1 || found["bundle:/opt/vendorapp/etc/trust"] == nil {
		t.Fatalf("found %v, want only bundle:/opt/vendorapp/etc/trust", keys(found))
	}
	s := found["bundle:/opt/vendorapp/etc/trust"]
	if i := s.Info(); i.Format != bundle.FormatCopied || !strings.HasPrefix(i.App, "vendorapp") {
		t.Errorf("store: %+v", i)
	}
	cycle(t, s, ca, func(stage string, wantOK bool) {
		out, err := exec.Command("curl", "-sS", "--cacert", filepath.Join(root, s.Info().Path), url).CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("%s: curl ok=%v, want %v: %s", stage, err == nil, wantOK, out)
		}
	})
}

// TestCurlCABundleLogin: CURL_CA_BUNDLE in /etc/environment; curl in a
// login session built by pam_env.
func TestCurlCABundleLogin(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	write(t, filepath.Join(root, "etc/environment"), []byte("CURL_CA_BUNDLE=/opt/corp/curl.pem\n"))
	write(t, filepath.Join(root, "opt/corp/curl.pem"), apptest.SystemBundle(t))
	s := discover(t, root)["bundle:/opt/corp/curl.pem"]
	if s == nil || s.Info().Format != bundle.FormatConfigured {
		t.Fatalf("no configured store: %v", s)
	}
	cycle(t, s, ca, func(stage string, wantOK bool) {
		out, err := apptest.Login(t, root, u, "curl -sS "+url, "/opt")
		if (err == nil) != wantOK {
			t.Errorf("%s: curl in a login session ok=%v, want %v: %s", stage, err == nil, wantOK, out)
		}
	})
}

// TestWgetrc: a user's ~/.wgetrc names a bundle; the real wget as the
// user.
func TestWgetrc(t *testing.T) {
	if _, err := exec.LookPath("wget"); err != nil {
		t.Fatal("wget (Debian package wget) is needed")
	}
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	u.WriteFile(t, filepath.Join(u.Home, "ca.pem"), apptest.SystemBundle(t))
	u.WriteFile(t, filepath.Join(u.Home, ".wgetrc"), []byte("ca_certificate = "+filepath.Join("/home", u.Name, "ca.pem")+"\n"))
	s := discover(t, root)["bundle:"+filepath.Join("/home", u.Name, "ca.pem")]
	if s == nil {
		t.Fatal("no store for ~/.wgetrc's ca_certificate")
	}
	// wget reads the path as written: inside the root it is the same as
	// on the host only through the root, so give the user's wget a
	// wgetrc naming the host path.
	hostRC := filepath.Join(u.Home, "host.wgetrc")
	u.WriteFile(t, hostRC, []byte("ca_certificate = "+filepath.Join(u.Home, "ca.pem")+"\n"))
	cycle(t, s, ca, func(stage string, wantOK bool) {
		out, err := u.Cmd("wget", []string{"-q", "-O", "/dev/null", "--tries=1", url}, "WGETRC="+hostRC).CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("%s: wget ok=%v, want %v: %s", stage, err == nil, wantOK, out)
		}
	})
}

func FuzzRCValue(f *testing.F) {
	f.Add([]byte("--cacert \"/a b\"\ncacert=/c\n"), "cacert")
	f.Add([]byte("ca_certificate = /x\n# c\n"), "ca_certificate")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		if v, ok := bundle.RCValue(data, key); ok && v == "" {
			t.Fatal("empty value reported as set")
		}
	})
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]stores.Store) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
