package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestStateDirRefusesUserControlledPaths: root's agent keeps its node
// key and host key in the state directory, so a local user must not be
// able to put their own directory in its place — through a directory
// they own, a parent anyone may write, or a link.
func TestStateDirRefusesUserControlledPaths(t *testing.T) {
	u := hostile.NewUser(t)
	base := t.TempDir()

	inHome := filepath.Join(u.Home, "anchorwatch-state")
	if _, err := openStateDir(inHome); err == nil || !strings.Contains(err.Error(), "choose a directory only root can change") {
		t.Errorf("state directory in %s's home: %v, want refused", u.Name, err)
	}
	if _, err := os.Lstat(inHome); err == nil {
		t.Errorf("root created %s in the user's home before refusing it", inHome)
	}

	shared := filepath.Join(base, "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	if _, err := openStateDir(filepath.Join(shared, "state")); !errors.Is(err, fsroot.ErrShared) {
		t.Errorf("state directory below a directory everyone may write: %v, want ErrShared", err)
	}

	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := openStateDir(link); !errors.Is(err, fsroot.ErrSymlink) {
		t.Errorf("state directory that is a symbolic link: %v, want ErrSymlink", err)
	}

	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	if _, err := openStateDir(theirs); err == nil {
		t.Errorf("state directory owned by %s accepted", u.Name)
	}
}

// TestStateDirMadePrivate: an existing state directory left open (0755)
// is made 0700 on the descriptor.
func TestStateDirMadePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := openStateDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %04o, want 0700", fi.Mode().Perm())
	}
}
