package python_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
	"github.com/anchorwatch/anchorwatch/stores/python"
)

// certifiInit is a certifi package as it is on PyPI: where() names the
// cacert.pem beside it.
const certifiInit = `import os
def where():
    return os.path.join(os.path.dirname(__file__), "cacert.pem")
def contents():
    with open(where()) as f:
        return f.read()
`

// makeVenv makes a virtualenv with Debian's /usr/bin/python3 -m venv, as
// the user, with the system site-packages (Debian's python3-requests) and
// a certifi package holding a copy of the system bundle.
func makeVenv(t *testing.T, u apptest.User, dir string) string {
	t.Helper()
	out, err := u.Cmd("/usr/bin/python3", []string{"-m", "venv", "--system-site-packages", dir}).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	site := filepath.Join(dir, "lib", "python3.11", "site-packages")
	if m, _ := filepath.Glob(filepath.Join(dir, "lib", "python3*", "site-packages")); len(m) == 1 {
		site = m[0]
	}
	u.WriteFile(t, filepath.Join(site, "certifi", "__init__.py"), []byte(certifiInit))
	u.WriteFile(t, filepath.Join(site, "certifi", "cacert.pem"), apptest.SystemBundle(t))
	return site
}

func find(t *testing.T, ss []stores.Store, suffix string) stores.Store {
	t.Helper()
	for _, s := range ss {
		if strings.HasSuffix(s.Info().Path, suffix) {
			return s
		}
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.Info().ID)
	}
	t.Fatalf("no store ending in %s among %v", suffix, ids)
	return nil
}

// TestVenvClients proves the certifi and pip-vendored stores with the
// real clients: Debian's requests in a venv (certifi), pip's vendored
// requests (pip's own certifi copy), before install, after, after remove.
// Debian patches pip's vendored certifi to return the system bundle: that
// copy is not a store until the patch is taken out (pip as PyPI ships it).
func TestVenvClients(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	copyPasswd(t, root)
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	venv := filepath.Join(u.Home, "src", "proj", ".venv")
	u.MkdirAll(t, filepath.Dir(venv))
	site := makeVenv(t, u, venv)
	py := filepath.Join(venv, "bin", "python")
	ctx := context.Background()
	discover := func() []stores.Store {
		ss, errs := stores.Discover(ctx, stores.Env{Root: root}, []stores.Kind{stores.KindPython})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return ss
	}
	for _, s := range discover() {
		if strings.Contains(s.Info().Path, "pip/_vendor") {
			t.Errorf("Debian's pip reads the system bundle, yet its vendored copy is a store: %s", s.Info().ID)
		}
	}
	core := filepath.Join(site, "pip/_vendor/certifi/core.py")
	b, err := os.ReadFile(core)
	i := strings.Index(string(b), "# Debian: Use system CA certs:")
	if err != nil || i < 0 {
		t.Fatalf("Debian's patch in %s: %v", core, err)
	}
	u.WriteFile(t, core, b[:i])

	clients := map[string]string{
		"requests (certifi)":   "import requests,sys; requests.get(sys.argv[1], timeout=10)",
		"pip's vendored certs": "from pip._vendor import requests; import sys; requests.get(sys.argv[1], timeout=10)",
	}
	check := func(stage string, wantOK bool) {
		t.Helper()
		for name, code := range clients {
			out, err := u.Cmd(py, []string{"-c", code, url}).CombinedOutput()
			if (err == nil) != wantOK {
				t.Errorf("%s: %s: ok=%v, want %v\n%s", stage, name, err == nil, wantOK, lastLine(out))
			}
		}
	}
	check("before install", false)
	ss := discover()
	certifi := find(t, ss, "site-packages/certifi/cacert.pem")
	vendored := find(t, ss, "pip/_vendor/certifi/cacert.pem")
	if i := certifi.Info(); i.Format != python.FormatCertifi || i.Owner != u.Name || !i.Writable {
		t.Errorf("certifi store: %+v", i)
	}
	if i := vendored.Info(); i.Format != python.FormatVendored || !strings.Contains(i.App, "pip 23.") {
		t.Errorf("vendored store: %+v", i)
	}
	for _, s := range []stores.Store{certifi, vendored} {
		if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusMissing {
			t.Errorf("audit before install %s: %s %s", s.Info().ID, r.Status, r.Detail)
		}
		if ch, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil || !stores.Changed(ch) {
			t.Fatalf("install %s: %v %v", s.Info().ID, ch, err)
		}
		if ch, _ := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); stores.Changed(ch) {
			t.Errorf("second install of %s changed it", s.Info().ID)
		}
		assertOwner(t, root, s.Info().Path, u.UID)
	}
	check("after install", true)
	for _, s := range []stores.Store{certifi, vendored} {
		if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusCompliant {
			t.Errorf("audit after install %s: %s %s", s.Info().ID, r.Status, r.Detail)
		}
		if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
			t.Fatalf("remove %s: %v", s.Info().ID, err)
		}
	}
	check("after remove", false)
}

// copyPasswd gives the root the host's /etc/passwd (where the test user is).
func copyPasswd(t *testing.T, root string) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "etc/passwd"), string(b))
}

// TestSSLCertFileLogin: a system-wide SSL_CERT_FILE in /etc/environment
// names a bundle; Debian's /usr/bin/python3 ssl module, in a login
// session built by pam_env (su -l), trusts it only after install.
func TestSSLCertFileLogin(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	write(t, filepath.Join(root, "etc/environment"), "LANG=C.UTF-8\nSSL_CERT_FILE=\"/opt/corp/bundle.pem\"\n")
	write(t, filepath.Join(root, "opt/corp/bundle.pem"), string(apptest.SystemBundle(t)))
	script := "/usr/bin/python3 -I -c 'import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=10)' " + url
	login := func(stage string, wantOK bool) {
		t.Helper()
		out, err := apptest.Login(t, root, u, script, "/opt")
		if (err == nil) != wantOK {
			t.Errorf("%s: python3 ssl ok=%v, want %v\n%s", stage, err == nil, wantOK, lastLine([]byte(out)))
		}
	}
	login("before install", false)
	ss, _ := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindPython})
	s := find(t, ss, "/opt/corp/bundle.pem")
	if i := s.Info(); i.Format != python.FormatConfigured || !strings.Contains(i.App, "SSL_CERT_FILE in /etc/environment") {
		t.Errorf("store: %+v", i)
	}
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	login("after install", true)
	if _, err := s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	login("after remove", false)
}

// TestHostileVenvs: a user plants, as cacert.pem of three venvs, a link
// to a root-only file, a FIFO and a 1 TiB sparse file, and names the
// root-only file as pip's cert in their pip.conf. Discovery, audit,
// install and remove neither follow, block nor write the root file; the
// stores report errors; a good venv of the same user still works.
func TestHostileVenvs(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	secretHost, secretData := apptest.RootSecret(t)
	// the root-only file inside the root, where a reference can name it
	secret := filepath.Join(root, "etc", "shadow")
	write(t, secret, string(secretData))
	os.Chmod(secret, 0o600)
	site := func(venv string) string { return filepath.Join(u.Home, venv, "lib/python3.11/site-packages/certifi") }
	u.WriteFile(t, filepath.Join(u.Home, "a/.venv/pyvenv.cfg"), []byte("version = 3.11.2\n"))
	u.Symlink(t, "/etc/shadow", filepath.Join(site("a/.venv"), "cacert.pem"))
	u.WriteFile(t, filepath.Join(u.Home, "b/.venv/pyvenv.cfg"), []byte("version = 3.11.2\n"))
	u.Mkfifo(t, filepath.Join(site("b/.venv"), "cacert.pem"))
	u.WriteFile(t, filepath.Join(u.Home, "c/.venv/pyvenv.cfg"), []byte("version = 3.11.2\n"))
	u.Huge(t, filepath.Join(site("c/.venv"), "cacert.pem"), 1<<40)
	u.WriteFile(t, filepath.Join(u.Home, "good/.venv/pyvenv.cfg"), []byte("version = 3.11.2\n"))
	u.WriteFile(t, filepath.Join(site("good/.venv"), "cacert.pem"), apptest.SystemBundle(t))
	u.WriteFile(t, filepath.Join(u.Home, ".config/pip/pip.conf"), []byte("[global]\ncert = /etc/shadow\n"))
	u.Symlink(t, secretHost, filepath.Join(u.Home, "linked.pem"))
	u.WriteFile(t, filepath.Join(u.Home, ".condarc"), []byte("ssl_verify: ~/linked.pem\n"))

	ca := testpki.NewCA(t, "Corp Interception CA")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	ss, errs := stores.Discover(ctx, stores.Env{Root: root}, []stores.Kind{stores.KindPython})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	bad := map[string]string{
		"a/.venv/lib/python3.11/site-packages/certifi/cacert.pem": "symbolic link",
		"b/.venv/lib/python3.11/site-packages/certifi/cacert.pem": "FIFO",
		"c/.venv/lib/python3.11/site-packages/certifi/cacert.pem": "larger than the limit",
		"/etc/shadow": "",
		"/linked.pem": "symbolic link",
	}
	for suffix, want := range bad {
		s := find(t, ss, suffix)
		r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert})
		t.Logf("%s: %s: %s", s.Info().ID, r.Status, r.Detail)
		if r.Status != stores.StatusError || !strings.Contains(r.Detail, want) {
			t.Errorf("audit %s: %s %q, want error containing %q", s.Info().ID, r.Status, r.Detail, want)
		}
		if strings.Contains(r.Detail, "19000") || strings.Contains(r.Detail, "not-a-real-hash") {
			t.Errorf("audit %s leaks the root file: %s", s.Info().ID, r.Detail)
		}
		if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err == nil {
			t.Errorf("install into %s succeeded", s.Info().ID)
		}
		if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err == nil {
			t.Errorf("remove from %s succeeded", s.Info().ID)
		}
	}
	good := find(t, ss, "good/.venv/lib/python3.11/site-packages/certifi/cacert.pem")
	if _, err := good.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Errorf("install into the good venv: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("hostile stores took %v", d)
	}
	for p, want := range map[string][]byte{secret: secretData, secretHost: secretData} {
		if got, _ := os.ReadFile(p); string(got) != string(want) {
			t.Errorf("%s changed: %q", p, got)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode changed: %v", p, fi.Mode())
		}
	}
}

func assertOwner(t *testing.T, root, p string, uid int) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != uid {
		t.Errorf("%s is owned by uid %d after the write, want %d", p, got, uid)
	}
}

func write(t *testing.T, p, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
