//go:build linux

package system_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// makeReadOnly makes dir unwritable even for root: chattr +i where the
// filesystem supports it, else a read-only bind mount. Both are undone at
// cleanup.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("chattr", "+i", dir).CombinedOutput()
	if err == nil {
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })
		return
	}
	chattrErr := strings.TrimSpace(string(out))
	if merr := unix.Mount(dir, dir, "", unix.MS_BIND, ""); merr != nil {
		t.Fatalf("cannot make %s read-only: chattr +i: %s (Debian package e2fsprogs); bind mount: %v", dir, chattrErr, merr)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, 0) })
	if merr := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); merr != nil {
		t.Fatalf("cannot make %s read-only: chattr +i: %s; read-only remount: %v", dir, chattrErr, merr)
	}
}

func TestReadOnlyAnchorsDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root (CI does): it makes a directory read-only for root")
	}
	root, s := debianStore(t)
	anchors := filepath.Join(root, systemtest.DebianAnchorsDir)
	bundle := filepath.Join(root, systemtest.DebianBundle)
	makeReadOnly(t, anchors)
	before := dirState(t, root)
	orig, _ := os.ReadFile(bundle)

	if info := s.Info(); info.Writable {
		t.Fatalf("Info reports a read-only anchors dir writable: %+v", info)
	}
	ca, _ := systemtest.CA(t, "Some CA")
	_, err := s.Install(context.Background(), []*x509.Certificate{ca}, stores.Options{})
	if err == nil || !strings.Contains(err.Error(), systemtest.DebianAnchorsDir) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Install into a read-only dir: %v", err)
	}
	if got, _ := os.ReadFile(bundle); !bytes.Equal(got, orig) {
		t.Fatal("bundle changed")
	}
	if after := dirState(t, root); after != before {
		t.Fatal("root changed")
	}
	// Audit still works.
	if r := stores.Audit(context.Background(), s, []*x509.Certificate{ca}); r.Status != stores.StatusMissing {
		t.Fatalf("%s %s", r.Status, r.Detail)
	}
}

func TestDiscover(t *testing.T) {
	ctx := context.Background()
	// No os-release: not a Linux tree, no system store.
	found, errs := stores.Discover(ctx, stores.Env{Root: t.TempDir()}, []stores.Kind{stores.KindSystem})
	if len(found) != 0 || len(errs) != 0 {
		t.Fatalf("empty root: %v %v", found, errs)
	}
	// Unknown family: reported with a Note, audit is an error, no writes.
	root := t.TempDir()
	data, _ := os.ReadFile("testdata/os-release/gentoo")
	writeFile(t, filepath.Join(root, "etc/os-release"), data)
	found, errs = stores.Discover(ctx, stores.Env{Root: root}, []stores.Kind{stores.KindSystem})
	if len(found) != 1 || len(errs) != 0 {
		t.Fatalf("gentoo root: %v %v", found, errs)
	}
	info := found[0].Info()
	if info.ID != "system:unknown" || !strings.Contains(info.Note, `ID="gentoo"`) || info.Writable {
		t.Fatalf("Info = %+v", info)
	}
	ca, _ := systemtest.CA(t, "Some CA")
	if r := stores.Audit(ctx, found[0], []*x509.Certificate{ca}); r.Status != stores.StatusError {
		t.Fatalf("audit: %+v", r)
	}
	if _, err := found[0].Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err == nil {
		t.Fatal("Install into an unknown family succeeded")
	}
	// A Debian root is found under its bundle's id, with the watch list.
	root, _ = debianStore(t)
	found, errs = stores.Discover(ctx, stores.Env{Root: root}, []stores.Kind{stores.KindSystem})
	if len(found) != 1 || len(errs) != 0 || found[0].Info().ID != "system:/etc/ssl/certs/ca-certificates.crt" {
		t.Fatalf("debian root: %v %v", found, errs)
	}
	want := map[string]bool{
		filepath.Join(root, systemtest.DebianAnchorsDir): true,
		filepath.Join(root, systemtest.DebianBundle):     true,
		filepath.Join(root, "/etc/ssl/certs"):            true,
		filepath.Join(root, systemtest.DebianCertsConf):  true,
	}
	for _, p := range found[0].Watch().Paths {
		delete(want, p)
	}
	if len(want) != 0 {
		t.Fatalf("Watch misses %v", want)
	}
	_ = system.Families
}
