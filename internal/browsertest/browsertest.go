//go:build linux

// Package browsertest runs the real browsers of this machine — headless
// Firefox ESR and Chromium — as an unprivileged user against a TLS
// server of the test, to prove what a trust store change means to the
// program that reads the store. The observable is the server's: a page
// "loaded" when the browser completed the TLS handshake and sent the
// HTTP request for its path.
//
// Firefox runs in a private mount namespace (unshare -m) so the test can
// give it an /etc/firefox of its own (an overlay on /etc, bind mounts)
// without touching the host's. Test support only; it needs root (to
// unshare and to become the user) and the Debian packages firefox-esr,
// chromium and util-linux (unshare, setpriv).
package browsertest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
)

// Server is an HTTPS server on 127.0.0.1 that remembers the paths it was
// asked for and the handshakes a client refused. Use one per check: a
// refused handshake carries no path.
type Server struct {
	Addr    string
	mu      sync.Mutex
	seen    map[string]bool
	refused []error
}

// Serve serves cert (its chain as given: append the CA to send it too)
// until the test ends. Each connection serves one request.
func Serve(t testing.TB, cert tls.Certificate) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &Server{Addr: ln.Addr().String(), seen: map[string]bool{}}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(tls.Server(c, cfg))
		}
	}()
	return s
}

func (s *Server) serve(c *tls.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.Handshake(); err != nil {
		// A client's alert comes back as a net.OpError "remote error".
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "remote error" {
			s.mu.Lock()
			s.refused = append(s.refused, err) // the browser refused our certificate
			s.mu.Unlock()
		}
		return
	}
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.seen[req.URL.Path] = true
	s.mu.Unlock()
	body := "<html><body>anchorwatch-loaded</body></html>"
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// URL returns the address of path on s.
func (s *Server) URL(path string) string { return "https://" + s.Addr + "/" + path }

// Loaded reports whether a browser asked for path.
func (s *Server) Loaded(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen["/"+path]
}

// Refused reports whether a browser aborted a handshake with an alert
// (it did not trust the certificate).
func (s *Server) Refused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.refused) > 0
}

// decided says when a browser run may end: the page loaded, or the
// browser refused the server.
func (s *Server) decided(path string) func() bool {
	return func() bool { return s.Loaded(path) || s.Refused() }
}

// Mount makes Source (a host directory) appear at Target for Firefox.
type Mount struct{ Target, Source string }

// browserTimeout bounds one browser run.
const browserTimeout = 3 * time.Minute

// Firefox loads page of s in headless Firefox ESR as u with the profile
// directory profile (u's), in a mount namespace of its own where /etc is
// an overlay (so a Target under /etc can be created there) and every
// mount is in place. It reports whether the page loaded: true when the
// server served it, false when Firefox refused the server's certificate
// (a TLS alert); Firefox is ended as soon as either happened.
func Firefox(t testing.TB, u hostile.User, profile string, mounts []Mount, s *Server, page string) bool {
	t.Helper()
	work := t.TempDir()
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
shift
while [ "$1" != -- ]; do rm -rf "$1"; mkdir -p "$1"; mount --bind "$2" "$1"; shift 2; done
shift
exec "$@"`
	args := []string{"-m", "--propagation", "private", "/bin/sh", "-ec", script, "sh", work}
	for _, m := range mounts {
		args = append(args, m.Target, m.Source)
	}
	args = append(args, "--", "setpriv", "--reuid", strconv.Itoa(u.UID), "--regid", strconv.Itoa(u.GID), "--clear-groups",
		"env", "-i", "HOME="+u.Home, "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "MOZ_HEADLESS=1",
		"firefox-esr", "--headless", "--no-remote", "--profile", profile, "--screenshot", filepath.Join(profile, "shot.png"), s.URL(page))
	return run(t, "firefox-esr", exec.Command("unshare", args...), s, page)
}

// Chromium is Firefox for headless Chromium as u (whose ~/.pki/nssdb
// holds the trust it adds to its root store).
func Chromium(t testing.TB, u hostile.User, s *Server, page string) bool {
	t.Helper()
	url := s.URL(page)
	cmd := u.Cmd("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+filepath.Join(u.Home, ".anchorwatch-chromium"), "--dump-dom", url)
	return run(t, "chromium", cmd, s, page)
}

// run runs the browser in a process group of its own until the server
// decided (or the browser exited, or browserTimeout) and reports whether
// page loaded.
func run(t testing.TB, name string, cmd *exec.Cmd, s *Server, page string) bool {
	t.Helper()
	if _, err := exec.LookPath(cmd.Path); err != nil && !filepath.IsAbs(cmd.Path) {
		t.Fatalf("%s not found: install the Debian package %s (%v)", cmd.Path, name, err)
	}
	var out bytes.Buffer
	c := exec.Command(cmd.Path, cmd.Args[1:]...)
	c.Env, c.Dir, c.Stdout, c.Stderr = cmd.Env, cmd.Dir, &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.SysProcAttr != nil {
		c.SysProcAttr.Credential = cmd.SysProcAttr.Credential
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	// The browser's helper processes share its process group: end them
	// all once the outcome is known.
	defer syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	decided := s.decided(page)
	deadline := time.After(browserTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !decided() {
		select {
		case err := <-exited:
			if !decided() {
				t.Fatalf("%s exited (%v) before loading or refusing %s:\n%s", name, err, s.URL(page), tail(out.Bytes()))
			}
			return s.Loaded(page)
		case <-deadline:
			t.Fatalf("%s neither loaded nor refused %s in %s:\n%s", name, s.URL(page), browserTimeout, tail(out.Bytes()))
		case <-tick.C:
		}
	}
	syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	<-exited
	return s.Loaded(page)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
