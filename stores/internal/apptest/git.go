package apptest

import (
	"crypto/tls"
	"io"
	"log"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// GitHTTPBackend is Git's smart-HTTP CGI program (Debian package git).
const GitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// GitServer serves a bare repository holding one commit through the real
// git http-backend, as CGI behind a Go TLS server on 127.0.0.1 whose leaf
// the CA issued, and returns the repository's URL.
func GitServer(t testing.TB, ca *testpki.CA) string {
	t.Helper()
	dir := t.TempDir()
	work, bare := filepath.Join(dir, "work"), filepath.Join(dir, "repos", "repo.git")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main", work)
	os.WriteFile(filepath.Join(work, "README"), []byte("hello\n"), 0o644)
	run("-C", work, "add", "README")
	run("-C", work, "commit", "-q", "-m", "first")
	run("clone", "-q", "--bare", work, bare)
	h := &cgi.Handler{Path: GitHTTPBackend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Join(dir, "repos"), "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = testpki.ServerConfig(ca.Leaf(t, "127.0.0.1"))
	srv.TLS.MinVersion = tls.VersionTLS12
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/repo.git"
}

// InNamespace runs name with args in a private mount namespace in which
// each of binds (directories or files of the root) is mounted over the
// host path of the same name; env is the whole environment.
func InNamespace(t testing.TB, root string, binds []string, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	script := ""
	for _, b := range binds {
		script += "mount --bind \"$AW_ROOT" + b + "\" " + b + " && "
	}
	script += "exec \"$@\""
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", name}, args...)...)
	cmd.Env = append(env, "AW_ROOT="+root)
	return cmd.CombinedOutput()
}
