//go:build unix

package fsroot_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestResolveChecked: the check sees each link with its directory; a
// refused link ends the walk with its path, an accepted one is followed
// inside the root (an absolute target is the root's, not the host's).
func TestResolveChecked(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/real", filepath.Join(root, "etc/link")); err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("refused")
	var seen []string
	got, err := fsroot.ResolveChecked(root, "/etc/link/file", func(dir, next string, fi fs.FileInfo) error {
		seen = append(seen, dir+" "+next)
		return errRefused
	})
	if !errors.Is(err, errRefused) || got != "/etc/link" || len(seen) != 1 || seen[0] != "/etc /etc/link" {
		t.Errorf("refused: %q, %v, check saw %q", got, err, seen)
	}
	if _, err := os.Create(filepath.Join(root, "etc/real/file")); err != nil {
		t.Fatal(err)
	}
	got, err = fsroot.ResolveChecked(root, "/etc/link/file", func(string, string, fs.FileInfo) error { return nil })
	if err != nil || got != "/etc/real/file" {
		t.Errorf("accepted: %q, %v", got, err)
	}
	if plain, err := fsroot.Resolve(root, "/etc/link/file"); err != nil || plain != got {
		t.Errorf("Resolve = %q, %v; want %q as ResolveChecked without a check", plain, err, got)
	}
}
