package node_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
	"github.com/anchorwatch/anchorwatch/stores/node"
)

// nodeGet is the client: Node's https.get, exit 0 on a 200.
const nodeGet = `node -e 'require("https").get(process.argv[1], r => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", e => { console.error(e.code || e.message); process.exit(1) })' `

// nodeRoot is a Linux root with Node "installed" (discovery looks for
// the binary) and an /etc/environment holding something else.
func nodeRoot(t *testing.T) string {
	root := apptest.Root(t)
	write(t, filepath.Join(root, "etc/os-release"), "ID=debian\n")
	write(t, filepath.Join(root, "usr/bin/node"), "")
	write(t, filepath.Join(root, "etc/environment"), "LANG=C.UTF-8\n")
	return root
}

func discover(t *testing.T, root string) []stores.Store {
	t.Helper()
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindNode})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return ss
}

func byID(t *testing.T, ss []stores.Store, id string) stores.Store {
	t.Helper()
	for _, s := range ss {
		if s.Info().ID == id {
			return s
		}
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.Info().ID)
	}
	t.Fatalf("no store %s among %v", id, ids)
	return nil
}

// TestLoginSession proves NODE_EXTRA_CA_CERTS in /etc/environment with
// the real readers: node's https.get in a login session pam_env builds
// (su -l), and systemd's environment.d generator (the user manager's
// environment), before install, after, after remove; remove restores
// /etc/environment byte for byte.
func TestLoginSession(t *testing.T) {
	root := nodeRoot(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	login := func(stage string, wantOK bool) {
		t.Helper()
		out, err := apptest.Login(t, root, u, nodeGet+url, "/etc/ssl")
		t.Logf("%s: err=%v %s", stage, err, strings.TrimSpace(out))
		if (err == nil) != wantOK {
			t.Errorf("%s: node https.get ok=%v, want %v: %s", stage, err == nil, wantOK, strings.TrimSpace(out))
		}
	}
	os.MkdirAll(filepath.Join(root, "etc/ssl"), 0o755)
	login("before install", false)
	before, _ := os.ReadFile(filepath.Join(root, "etc/environment"))

	s := byID(t, discover(t, root), "node:/etc/environment")
	if i := s.Info(); !strings.Contains(i.Format, "pam_env") || !strings.Contains(i.App, "/usr/bin/node") {
		t.Errorf("store: %+v", i)
	}
	ctx := context.Background()
	if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusMissing {
		t.Errorf("audit before: %s %s", r.Status, r.Detail)
	}
	if ch, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil || !stores.Changed(ch) {
		t.Fatalf("install: %v %v", ch, err)
	}
	if ch, _ := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); stores.Changed(ch) {
		t.Errorf("second install changed the store: %v", ch)
	}
	if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusCompliant {
		t.Errorf("audit after: %s %s", r.Status, r.Detail)
	}
	login("after install", true)
	gen := generatorEnv(t, root)
	if !strings.Contains(gen, "NODE_EXTRA_CA_CERTS="+node.LinuxBundle) {
		t.Errorf("systemd's environment.d generator does not give the variable:\n%s", gen)
	}

	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	login("after remove", false)
	after, _ := os.ReadFile(filepath.Join(root, "etc/environment"))
	if string(after) != string(before) {
		t.Errorf("/etc/environment after remove:\n%q\nwant\n%q", after, before)
	}
	if _, err := os.Stat(filepath.Join(root, node.LinuxBundle)); !os.IsNotExist(err) {
		t.Errorf("our bundle is left after remove: %v", err)
	}
}

// TestEnvironmentD: where systemd does not read /etc/environment (no
// Debian link), the variable goes to environment.d as well, and the real
// generator reads it from there.
func TestEnvironmentD(t *testing.T) {
	root := nodeRoot(t)
	write(t, filepath.Join(root, "usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator"), "")
	ca := testpki.NewCA(t, "Corp Interception CA")
	s := byID(t, discover(t, root), "node:/etc/environment")
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(root, node.EnvironmentDFile))
	if err != nil || !strings.Contains(string(conf), "NODE_EXTRA_CA_CERTS=") {
		t.Fatalf("%s: %q %v", node.EnvironmentDFile, conf, err)
	}
	os.WriteFile(filepath.Join(root, "etc/environment"), nil, 0o644) // only environment.d now
	if gen := generatorEnv(t, root); !strings.Contains(gen, "NODE_EXTRA_CA_CERTS="+node.LinuxBundle) {
		t.Errorf("the generator does not read %s:\n%s", node.EnvironmentDFile, gen)
	}
}

// TestAdminFile: when an administrator already points the variable at a
// file, the CA goes into that file and the variable is left alone.
func TestAdminFile(t *testing.T) {
	root := nodeRoot(t)
	write(t, filepath.Join(root, "etc/environment"), "NODE_EXTRA_CA_CERTS=/opt/corp/extra.pem\n")
	other := testpki.NewCA(t, "Other Internal CA")
	write(t, filepath.Join(root, "opt/corp/extra.pem"), string(testpki.PEM(other.Cert)))
	ca := testpki.NewCA(t, "Corp Interception CA")
	s := byID(t, discover(t, root), "node:/etc/environment")
	ctx := context.Background()
	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(filepath.Join(root, "etc/environment"))
	if string(env) != "NODE_EXTRA_CA_CERTS=/opt/corp/extra.pem\n" {
		t.Errorf("/etc/environment changed: %q", env)
	}
	as, err := s.List(ctx)
	if err != nil || len(as) != 2 {
		t.Fatalf("list: %d anchors, %v", len(as), err)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "opt/corp/extra.pem")); string(got) != string(testpki.PEM(other.Cert)) {
		t.Errorf("the admin's file after remove: %q", got)
	}
}

// TestNpmCafile: a user's ~/.npmrc names a bundle with cafile; the real
// npm, as that user, reaches the registry only after install.
func TestNpmCafile(t *testing.T) {
	root := nodeRoot(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	u.WriteFile(t, filepath.Join(u.Home, "corp.pem"), apptest.SystemBundle(t))
	u.WriteFile(t, filepath.Join(u.Home, ".npmrc"), []byte("cafile=~/corp.pem\n"))
	npm := func(stage string, wantOK bool) {
		t.Helper()
		out, err := u.Cmd("npm", []string{"ping", "--registry", url + "/", "--fetch-retries=0"}).CombinedOutput()
		t.Logf("%s: err=%v %s", stage, err, lastLines(out))
		if (err == nil) != wantOK {
			t.Errorf("%s: npm ping ok=%v, want %v:\n%s", stage, err == nil, wantOK, out)
		}
	}
	npm("before install", false)
	s := byID(t, discover(t, root), "node:"+filepath.Join("/home", u.Name, "corp.pem"))
	if i := s.Info(); i.Owner != "" && i.Owner != u.Name && i.Owner != strconv.Itoa(u.UID) || !strings.Contains(i.App, "npm cafile") {
		t.Errorf("store: %+v", i)
	}
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	npm("after install", true)
	if _, err := s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	npm("after remove", false)
}

// generatorEnv runs systemd's environment.d generator with the root's
// /etc/environment and /etc/environment.d mounted over the host's in a
// private mount namespace, and returns what it prints.
func generatorEnv(t *testing.T, root string) string {
	t.Helper()
	mounts := "mount --bind " + filepath.Join(root, "etc/environment") + " /etc/environment"
	if _, err := os.Stat(filepath.Join(root, "etc/environment.d")); err == nil {
		mounts += " && mount --bind " + filepath.Join(root, "etc/environment.d") + " /etc/environment.d"
	}
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		mounts+" && /usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator").CombinedOutput()
	if err != nil {
		t.Fatalf("generator: %v\n%s", err, out)
	}
	return string(out)
}

func write(t *testing.T, p, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLines(out []byte) string {
	l := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(l) > 3 {
		l = l[len(l)-3:]
	}
	return strings.Join(l, " | ")
}
