package system_test

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// The system store is root's: when a user owns a directory on the way to
// the anchors directory (they could swap it for their own and have root
// write there, and the refresh tool trust what they put there), or a
// group may write it, Install refuses with ErrUnsafe and writes nothing.
// A FIFO a user could never plant there, but a broken image might hold,
// as the bundle is an error at once, not a hang.
func TestSystemStoreWhereAUserControls(t *testing.T) {
	u := hostile.NewUser(t)
	root, s := debianStore(t)
	anchors := filepath.Join(root, systemtest.DebianAnchorsDir)
	ca, _ := systemtest.CA(t, "Some CA")
	ctx := context.Background()
	for name, trap := range map[string]func(){
		"user-owned parent": func() { os.Chown(filepath.Dir(anchors), u.UID, u.GID) },
		"group-writable":    func() { os.Chmod(anchors, 0o775) },
	} {
		trap()
		before := dirState(t, root)
		_, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{})
		if !errors.Is(err, stores.ErrUnsafe) {
			t.Errorf("%s: Install error %v, want ErrUnsafe", name, err)
		}
		if after := dirState(t, root); after != before {
			t.Errorf("%s: the root changed", name)
		}
		os.Chown(filepath.Dir(anchors), 0, 0)
		os.Chmod(anchors, 0o755)
	}
	if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatalf("Install once fixed: %v", err)
	}

	bundle := filepath.Join(root, systemtest.DebianBundle)
	os.Remove(bundle)
	if err := unix.Mkfifo(bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.List(ctx); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, fsroot.ErrNotRegular) {
			t.Errorf("List with a FIFO bundle: %v, want ErrNotRegular", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("List blocked on a FIFO bundle")
	}
}
