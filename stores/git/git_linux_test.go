package git_test

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
	"github.com/anchorwatch/anchorwatch/stores/git"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
)

func discover(t *testing.T, root string) []stores.Store {
	t.Helper()
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindGit})
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

// cycle audits, installs, removes, running client after each step.
func cycle(t *testing.T, s stores.Store, ca *testpki.CA, client func(stage string, wantOK bool)) {
	t.Helper()
	ctx := context.Background()
	certs := []*x509.Certificate{ca.Cert}
	client("before install", false)
	if r := stores.Audit(ctx, s, certs); r.Status != stores.StatusMissing {
		t.Errorf("audit before install: %s %s", r.Status, r.Detail)
	}
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

// TestSystemGitconfig: http.sslCAInfo in the system gitconfig; the real
// `git ls-remote` (reading the root's gitconfig through
// GIT_CONFIG_SYSTEM, the root's /opt mounted over the host's in a private
// namespace) against git http-backend behind a TLS server.
func TestSystemGitconfig(t *testing.T) {
	root := apptest.Root(t)
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.GitServer(t, ca)
	write(t, filepath.Join(root, "etc/gitconfig"), "[http]\n\tsslCAInfo = /opt/corp/git-ca.pem\n")
	write(t, filepath.Join(root, "opt/corp/git-ca.pem"), string(apptest.SystemBundle(t)))
	s := byID(t, discover(t, root), "git:/opt/corp/git-ca.pem")
	if i := s.Info(); i.Format != git.FormatConfigured || !strings.Contains(i.App, "http.sslCAInfo in /etc/gitconfig") {
		t.Errorf("store: %+v", i)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_SYSTEM=" + filepath.Join(root, "etc/gitconfig")}
	cycle(t, s, ca, func(stage string, wantOK bool) {
		out, err := apptest.InNamespace(t, root, []string{"/opt"}, env, "git", "ls-remote", url)
		t.Logf("%s: %v %s", stage, err, strings.TrimSpace(string(out)))
		if (err == nil) != wantOK || wantOK && !strings.Contains(string(out), "refs/heads/main") {
			t.Errorf("%s: git ls-remote ok=%v, want %v:\n%s", stage, err == nil, wantOK, out)
		}
	})
}

// TestUserGitconfig: a user's ~/.gitconfig names ~/corp.pem for one URL;
// git as that user; the file is written as the user.
func TestUserGitconfig(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.GitServer(t, ca)
	base := url[:strings.Index(url[len("https://"):], "/")+len("https://")+1]
	u.WriteFile(t, filepath.Join(u.Home, "corp.pem"), apptest.SystemBundle(t))
	u.WriteFile(t, filepath.Join(u.Home, ".gitconfig"), []byte("[http \""+base+"\"]\n\tsslCAInfo = ~/corp.pem\n"))
	s := byID(t, discover(t, root), "git:"+filepath.Join("/home", u.Name, "corp.pem"))
	cycle(t, s, ca, func(stage string, wantOK bool) {
		out, err := u.Cmd("git", []string{"ls-remote", url}, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0").CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("%s: git ls-remote as the user ok=%v, want %v:\n%s", stage, err == nil, wantOK, out)
		}
	})
	fi, _ := os.Stat(filepath.Join(u.Home, "corp.pem"))
	if uid := ownerUID(fi); uid != u.UID {
		t.Errorf("corp.pem owned by %d after the writes, want %d", uid, u.UID)
	}
}

// TestHostileGitconfig: a user's .gitconfig naming a root-only file gets
// a store that can neither read nor write it.
func TestHostileGitconfig(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	write(t, filepath.Join(root, "etc/shadow"), "root:x:1:::\n")
	os.Chmod(filepath.Join(root, "etc/shadow"), 0o600)
	u.WriteFile(t, filepath.Join(u.Home, ".gitconfig"), []byte("[http]\nsslCAInfo = /etc/shadow\n"))
	s := byID(t, discover(t, root), "git:/etc/shadow")
	ca := testpki.NewCA(t, "Corp Interception CA")
	r := stores.Audit(context.Background(), s, []*x509.Certificate{ca.Cert})
	if r.Status != stores.StatusError || !strings.Contains(r.Detail, "permission denied") {
		t.Errorf("audit: %s %s", r.Status, r.Detail)
	}
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err == nil {
		t.Error("install into a root file a user's config names succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/shadow")); string(b) != "root:x:1:::\n" {
		t.Errorf("the root file changed: %q", b)
	}
}

// TestGitForWindowsLayout: a Windows image (as a root) with Git for
// Windows: its bundle is a store with the OpenSSL backend, is not with
// schannel; the bundle after install verifies a leaf with openssl.
func TestGitForWindowsLayout(t *testing.T) {
	root := apptest.Root(t)
	gfw := filepath.Join(root, "Program Files/Git")
	write(t, filepath.Join(gfw, "cmd/git.exe"), "MZ")
	write(t, filepath.Join(gfw, "mingw64/etc/ssl/certs/ca-bundle.crt"), string(apptest.SystemBundle(t)))
	id := "git:/Program Files/Git/mingw64/etc/ssl/certs/ca-bundle.crt"
	for _, tc := range []struct {
		config string
		want   bool
	}{
		{"", true},
		{"[http]\n\tsslBackend = openssl\n\tsslCAInfo = C:/Program Files/Git/mingw64/etc/ssl/certs/ca-bundle.crt\n", true},
		{"[http]\n\tsslBackend = schannel\n", false},
	} {
		write(t, filepath.Join(gfw, "etc/gitconfig"), tc.config)
		found := false
		for _, s := range discover(t, root) {
			if s.Info().ID == id {
				found = true
				if s.Info().Format != git.FormatGitForWindows {
					t.Errorf("format %s", s.Info().Format)
				}
			}
		}
		if found != tc.want {
			t.Errorf("config %q: store found=%v, want %v", tc.config, found, tc.want)
		}
	}
	write(t, filepath.Join(gfw, "etc/gitconfig"), "")
	s := byID(t, discover(t, root), id)
	ca := testpki.NewCA(t, "Corp Interception CA")
	leaf := testpki.WritePEM(t, filepath.Join(t.TempDir(), "leaf.pem"), ca.Leaf(t, "git.corp.example").Leaf)
	cycle(t, s, ca, func(stage string, wantOK bool) {
		out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(root, s.Info().Path), leaf).CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("%s: openssl verify ok=%v, want %v: %s", stage, err == nil, wantOK, out)
		}
	})
}

func write(t *testing.T, p, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
