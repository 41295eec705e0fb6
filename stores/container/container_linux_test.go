package container_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/container"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
)

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		names   []string
		cas     string
		ignored string
		err     bool
	}{
		{[]string{"ca.crt", "client.cert", "client.key"}, "ca.crt", "", false},
		{[]string{"ca.pem", "corp.cer", "x.crt"}, "x.crt", "ca.pem,corp.cer", false},
		{[]string{"ca.cert"}, "", "", true}, // a CA named .cert: docker wants its key
		{[]string{"a.crt", "lone.key"}, "a.crt", "", true},
		{[]string{"README", "hosts.toml"}, "", "", false},
	} {
		l := container.Rules(tc.names)
		if strings.Join(l.CAFiles, ",") != tc.cas || strings.Join(l.Ignored, ",") != tc.ignored || (l.Err != nil) != tc.err {
			t.Errorf("%v: %+v", tc.names, l)
		}
	}
}

// dockerPull loads a registry directory the way dockerd does
// (registry.ReadCertsDirectory: the system pool plus every *.crt through
// AppendCertsFromPEM; a .cert without its .key fails) and makes an HTTPS
// request to the registry with it. No Docker daemon runs here: this is
// that loading code, not the daemon.
func dockerPull(dir, rawURL string) error {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return err
	}
	ents, _ := os.ReadDir(dir)
	has := map[string]bool{}
	for _, e := range ents {
		has[e.Name()] = true
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".crt":
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			pool.AppendCertsFromPEM(data)
		case ".cert":
			if !has[strings.TrimSuffix(e.Name(), ".cert")+".key"] {
				return errors.New("missing key for client certificate " + e.Name())
			}
		}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(rawURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// TestCertsD: an admin left the CA as ca.pem (ignored by Docker): audit
// says untrusted; install writes a .crt; the Docker-rules client reaches
// the registry only then; remove deletes our file.
func TestCertsD(t *testing.T) {
	root := apptest.Root(t)
	ca := testpki.NewCA(t, "Corp Interception CA")
	reg := apptest.HTTPS(t, ca)
	u, _ := url.Parse(reg)
	dir := filepath.Join(root, "etc/docker/certs.d", u.Host)
	testpki.WritePEM(t, filepath.Join(dir, "ca.pem"), ca.Cert)
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindContainer})
	if len(errs) > 0 || len(ss) != 1 {
		t.Fatalf("discover: %v %v", ss, errs)
	}
	s := ss[0]
	if i := s.Info(); i.ID != "container:/etc/docker/certs.d/"+u.Host || i.Format != "docker-certs.d" || !i.Writable {
		t.Errorf("store: %+v", i)
	}
	ctx := context.Background()
	certs := []*x509.Certificate{ca.Cert}
	if r := stores.Audit(ctx, s, certs); r.Status != stores.StatusUntrusted {
		t.Errorf("audit with ca.pem only: %s %s", r.Status, r.Detail)
	}
	if err := dockerPull(dir, reg+"/v2/"); err == nil {
		t.Error("the Docker-rules client trusted ca.pem")
	}
	if _, err := s.Install(ctx, certs, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, stores.Label(ca.Cert)+".crt")); err != nil {
		t.Fatal(err)
	}
	if r := stores.Audit(ctx, s, certs); r.Status != stores.StatusCompliant {
		t.Errorf("audit after install: %s %s", r.Status, r.Detail)
	}
	if err := dockerPull(dir, reg+"/v2/"); err != nil {
		t.Errorf("after install: %v", err)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, stores.Label(ca.Cert)+".crt")); !os.IsNotExist(err) {
		t.Errorf("our .crt left after remove: %v", err)
	}
	if err := dockerPull(dir, reg+"/v2/"); err == nil {
		t.Error("after remove the client still trusts the CA")
	}
	// A client certificate without its key breaks the registry for the
	// daemon: the store says so and is not written.
	os.WriteFile(filepath.Join(dir, "client.cert"), testpki.PEM(ca.Cert), 0o644)
	if r := stores.Audit(ctx, s, certs); r.Status != stores.StatusError || !strings.Contains(r.Detail, "fails every pull") {
		t.Errorf("audit with a lone client.cert: %s %s", r.Status, r.Detail)
	}
	if _, err := s.Install(ctx, certs, stores.Options{}); err == nil {
		t.Error("install into a registry directory the daemon rejects")
	}
}

// TestHostsToml: containerd with a hosts.toml reads only its ca files.
func TestHostsToml(t *testing.T) {
	root := apptest.Root(t)
	ca := testpki.NewCA(t, "Corp Interception CA")
	dir := filepath.Join(root, "etc/containerd/certs.d/registry.corp:5000")
	testpki.WritePEM(t, filepath.Join(dir, "corp.pem"), ca.Cert)
	os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte("server = \"https://registry.corp:5000\"\n[host.\"https://mirror.corp\"]\n  ca = [\"corp.pem\", \"/abs/ignored.pem\"]\n"), 0o644)
	ss, _ := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindContainer})
	if len(ss) != 1 {
		t.Fatalf("discover: %v", ss)
	}
	if r := stores.Audit(context.Background(), ss[0], []*x509.Certificate{ca.Cert}); r.Status != stores.StatusCompliant {
		t.Errorf("audit: %s %s", r.Status, r.Detail)
	}
	other := testpki.NewCA(t, "Other")
	if _, err := ss[0].Install(context.Background(), []*x509.Certificate{other.Cert}, stores.Options{}); !errors.Is(err, stores.ErrNotSupported) || !strings.Contains(err.Error(), "hosts.toml") {
		t.Errorf("install with hosts.toml: %v", err)
	}
}

// TestRootlessHostile: a user's rootless podman certs.d with a registry
// directory linked to /etc/ssl/certs and a ca.crt linked to a root-only
// file: the linked directory is no store, the linked file is not read.
func TestRootlessHostile(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	secret, _ := apptest.RootSecret(t)
	tree := filepath.Join(u.Home, ".config/containers/certs.d")
	u.Symlink(t, "/etc/ssl/certs", filepath.Join(tree, "linked.example"))
	u.MkdirAll(t, filepath.Join(tree, "reg.example"))
	u.Symlink(t, secret, filepath.Join(tree, "reg.example/ca.crt"))
	ss, _ := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindContainer})
	if len(ss) != 1 || !strings.HasSuffix(ss[0].Info().Path, "reg.example") {
		t.Fatalf("stores: %v", ss)
	}
	ca := testpki.NewCA(t, "Corp Interception CA")
	r := stores.Audit(context.Background(), ss[0], []*x509.Certificate{ca.Cert})
	if r.Status != stores.StatusError || !strings.Contains(r.Detail, "symbolic link") {
		t.Errorf("audit: %s %s", r.Status, r.Detail)
	}
	if _, err := ss[0].Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err == nil {
		t.Error("install through a planted link succeeded")
	}
}

func testWrite(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
