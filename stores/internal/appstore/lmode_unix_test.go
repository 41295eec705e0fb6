//go:build unix

package appstore

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLmode(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o640))
	must(os.Mkdir(filepath.Join(root, "dir"), 0o750))
	must(os.Symlink("file", filepath.Join(root, "link")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	for name, want := range map[string]fs.FileMode{
		"file": 0o640, "dir": fs.ModeDir | 0o750, "link": fs.ModeSymlink | 0o777, "fifo": fs.ModeNamedPipe | 0o600,
	} {
		got, ok := Lmode(root, "/"+name)
		fi, err := os.Lstat(filepath.Join(root, name))
		must(err)
		if !ok || got != want || got != fi.Mode() {
			t.Errorf("Lmode(%s) = %v, %v; want %v (os.Lstat says %v)", name, got, ok, want, fi.Mode())
		}
	}
	if _, ok := Lmode(root, "/missing"); ok {
		t.Error("Lmode of a missing path says it exists")
	}
}
