//go:build unix

package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestJournalRefusesTraps: the agent opens its journal files for writing
// as root, so whatever stands in their place is checked on the open
// descriptor before a byte is written: a symbolic link (to a file a user
// owns, or to a root file), a FIFO, a hard link to another file and a
// file a local user owns are refused, nothing they point at changes, and
// the FIFO does not block the open.
func TestJournalRefusesTraps(t *testing.T) {
	u := hostile.NewUser(t)
	theirs := filepath.Join(u.Home, "theirs")
	u.Run(t, "sh", "-c", "printf keep > "+theirs)
	rootFile := filepath.Join(t.TempDir(), "root-file")
	if err := os.WriteFile(rootFile, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p string)
		want  error
	}{
		{"link to a user's file", func(t *testing.T, p string) { must(t, os.Symlink(theirs, p)) }, fsroot.ErrSymlink},
		{"link to a root file", func(t *testing.T, p string) { must(t, os.Symlink(rootFile, p)) }, fsroot.ErrSymlink},
		{"FIFO", func(t *testing.T, p string) { must(t, syscall.Mkfifo(p, 0o600)) }, fsroot.ErrNotRegular},
		{"hard link", func(t *testing.T, p string) { must(t, os.Link(rootFile, p)) }, fsroot.ErrHardLinked},
		{"a user's file", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, nil, 0o600))
			must(t, os.Chown(p, u.UID, u.GID))
		}, fsroot.ErrWrongOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.plant(t, filepath.Join(dir, journalFiles[0]))
			j, _, err := openJournal(dir, slog.New(slog.DiscardHandler))
			if err == nil {
				j.close()
				t.Fatal("the journal opened over the trap")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			for _, p := range []string{theirs, rootFile} {
				if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, []byte("keep")) {
					t.Fatalf("%s changed: %q %v", p, b, err)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
