package probe_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
	"github.com/anchorwatch/anchorwatch/stores/probe"
)

// connectProxy is a minimal HTTP CONNECT proxy on 127.0.0.1 counting
// the tunnels it opens.
func connectProxy(t *testing.T) (string, *atomic.Int32) {
	var n atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil || req.Method != http.MethodConnect {
					io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer up.Close()
				n.Add(1)
				io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n")
				go io.Copy(up, c)
				io.Copy(c, up)
			}(c)
		}
	}()
	return "http://" + ln.Addr().String(), &n
}

// TestProbe runs the host's real clients (Debian's python3 with
// requests, the pyenv interpreters, a user's virtualenv run as that user,
// node, git, curl, wget) against a local TLS server through a CONNECT
// proxy: every one rejects the test CA; given the environment variables
// a login session would carry, every one trusts it but wget, which has
// no variable for its CA file (only wgetrc).
func TestProbe(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	proxy, tunnels := connectProxy(t)
	t.Setenv("HTTPS_PROXY", proxy)
	t.Setenv("https_proxy", proxy)
	t.Setenv("NO_PROXY", "")
	u := apptest.NewUser(t, "/home")
	venv := filepath.Join(u.Home, "proj", ".venv")
	u.MkdirAll(t, filepath.Dir(venv))
	if out, err := u.Cmd("/usr/bin/python3", []string{"-m", "venv", "--without-pip", "--system-site-packages", venv}).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v %s", err, out)
	}
	ctx := context.Background()
	env := stores.Env{Root: "/"}
	rts := probe.Runtimes(ctx, env)
	names := map[string]bool{}
	var mine *probe.Runtime
	for i, rt := range rts {
		names[rt.Name] = true
		if strings.HasPrefix(rt.Path, venv) {
			mine = &rts[i]
		}
	}
	for _, want := range []string{"node", "git", "curl", "wget"} {
		if !names[want] {
			t.Errorf("runtime %s not found among %v", want, names)
		}
	}
	if mine == nil || mine.Owner != u.Name {
		t.Fatalf("the user's venv: %+v", mine)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	os.WriteFile(bundle, append(apptest.SystemBundle(t), testpki.PEM(ca.Cert)...), 0o644)
	os.Chmod(filepath.Dir(bundle), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(bundle)), 0o755)
	for _, tc := range []struct {
		name string
		env  []string
		want probe.Outcome
	}{
		{"no configuration", nil, probe.Untrusted},
		{"login session variables", []string{"NODE_EXTRA_CA_CERTS=" + bundle, "REQUESTS_CA_BUNDLE=" + bundle, "SSL_CERT_FILE=" + bundle,
			"CURL_CA_BUNDLE=" + bundle, "GIT_SSL_CAINFO=" + bundle}, probe.Trusted},
	} {
		before := tunnels.Load()
		for _, r := range probe.RunAll(ctx, rts, url, tc.env) {
			t.Logf("%s: %-22s %-60s %s: %s", tc.name, r.Name, r.Path, r.Outcome, r.Detail)
			want := tc.want
			if r.Name == "wget" {
				want = probe.Untrusted
			}
			if r.Outcome != want {
				t.Errorf("%s: %s %s: %s (%s), want %s", tc.name, r.Name, r.Path, r.Outcome, r.Detail, want)
			}
		}
		if got := tunnels.Load() - before; int(got) < len(rts)-1 {
			t.Errorf("%s: %d tunnels through the proxy for %d runtimes", tc.name, got, len(rts))
		}
	}
}
