package fsroot_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// A hostile user plants every kind of trap where a root process reads a
// file of theirs. ReadFile refuses each at once, with the reason, and
// never blocks (a FIFO with no writer would block a plain open forever).
func TestReadFileRefusesTraps(t *testing.T) {
	u := hostile.NewUser(t)
	dir := filepath.Join(u.Home, "traps")
	u.Run(t, "mkdir", dir)
	u.Shell(t, `cd `+dir+`
printf 'real' > real
mkfifo fifo
ln -s /etc/shadow symlink
ln real hardlink
truncate -s 20G sparse
printf 'mine' > mine`)
	cases := []struct {
		name string
		want fsroot.Want
		err  error
	}{
		{"fifo", fsroot.Want{Max: 1 << 20}, fsroot.ErrNotRegular},
		{"symlink", fsroot.Want{Max: 1 << 20}, fsroot.ErrSymlink},
		{"hardlink", fsroot.Want{Max: 1 << 20, OneLink: true}, fsroot.ErrHardLinked},
		{"sparse", fsroot.Want{Max: 1 << 20}, fsroot.ErrTooLarge},
		{"mine", fsroot.Want{Max: 1 << 20}.OwnedBy(0), fsroot.ErrWrongOwner},
		{".", fsroot.Want{Max: 1 << 20}, fsroot.ErrNotRegular},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := fsroot.ReadFile(filepath.Join(dir, tc.name), tc.want)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tc.err) {
					t.Fatalf("ReadFile(%s): %v, want %v", tc.name, err, tc.err)
				}
				var fe *fsroot.FileError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), filepath.Clean(filepath.Join(dir, tc.name))) {
					t.Errorf("error %q does not name the file", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("ReadFile(%s) blocked", tc.name)
			}
		})
	}
	data, err := fsroot.ReadFile(filepath.Join(dir, "mine"), fsroot.Want{Max: 4}.OwnedBy(u.UID))
	if err != nil || string(data) != "mine" {
		t.Fatalf("ReadFile(mine) = %q, %v", data, err)
	}
	if _, err := fsroot.ReadFile(filepath.Join(dir, "mine"), fsroot.Want{Max: 3}); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("4 bytes with limit 3: %v", err)
	}
	if _, err := fsroot.ReadFile(filepath.Join(dir, "missing"), fsroot.Want{Max: 3}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// AsUser writes with the user's file-system identity: what it creates is
// theirs, and what the user may not touch (root's files, files only
// root's group may write) it may not touch either.
func TestAsUser(t *testing.T) {
	u := hostile.NewUser(t)
	rootOnly := filepath.Join(t.TempDir(), "root-group-writable")
	if err := os.WriteFile(rootOnly, []byte("x"), 0o664); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(rootOnly), 0o755)
	mine := filepath.Join(u.Home, "made-by-root-as-user")
	err := fsroot.AsUser(u.UID, u.GID, func() error {
		if err := os.WriteFile(mine, []byte("x"), 0o600); err != nil {
			return err
		}
		if f, err := os.OpenFile(rootOnly, os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Error("as the user, a root:root 0664 file opened for writing (supplementary groups kept?)")
		} else if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("open root's file: %v, want permission denied", err)
		}
		if err := os.WriteFile("/etc/anchorwatch-asuser-test", nil, 0o600); err == nil {
			os.Remove("/etc/anchorwatch-asuser-test")
			t.Error("as the user, a file was created in /etc")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(mine)
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid := fsroot.FileOwner(fi); uid != u.UID || gid != u.GID {
		t.Errorf("file made as the user is owned by %d:%d, want %d:%d", uid, gid, u.UID, u.GID)
	}
	// The identity does not leak to the caller's thread.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "after"), nil, 0o600); err != nil {
		t.Errorf("as root after AsUser: %v", err)
	}
}

func TestController(t *testing.T) {
	u := hostile.NewUser(t)
	sub := filepath.Join(u.Home, ".pki", "nssdb")
	u.Run(t, "mkdir", "-p", sub)
	c, err := fsroot.Controller(sub)
	if err != nil || c.UID != u.UID || c.By != u.Home {
		t.Fatalf("Controller(%s) = %+v, %v; want uid %d by %s", sub, c, err, u.UID, u.Home)
	}
	// Through a symbolic link the user made: still theirs.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(sub, link)
	if c, err := fsroot.Controller(link); err != nil || c.UID != u.UID {
		t.Errorf("Controller(link) = %+v, %v", c, err)
	}
	if c, err := fsroot.Controller("/etc/ssl/certs"); err != nil || c.UID != 0 {
		t.Errorf("Controller(/etc/ssl/certs) = %+v, %v", c, err)
	}
	shared := filepath.Join(t.TempDir(), "shared")
	os.Mkdir(shared, 0o775)
	os.Chmod(shared, 0o775)
	if _, err := fsroot.Controller(filepath.Join(shared, "missing", "db")); !errors.Is(err, fsroot.ErrShared) || !strings.Contains(err.Error(), "group") {
		t.Errorf("group-writable directory: %v, want ErrShared naming the group", err)
	}
	// A second user's directory inside the first user's home.
	other := hostile.NewUser(t)
	nested := filepath.Join(u.Home, "theirs")
	os.Mkdir(nested, 0o755)
	os.Chown(nested, other.UID, other.GID)
	if _, err := fsroot.Controller(nested); !errors.Is(err, fsroot.ErrShared) {
		t.Errorf("two owners on the way: %v, want ErrShared", err)
	}
}

// Tool runs as the user with no groups, and a run past its deadline is
// killed with everything it started.
func TestTool(t *testing.T) {
	u := hostile.NewUser(t)
	out, err := fsroot.Tool{Path: "/usr/bin/id", User: &fsroot.User{UID: u.UID, GID: u.GID}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "uid=" + strconv.Itoa(u.UID) + "(" + u.Name + ") gid=" + strconv.Itoa(u.GID) + "(" + u.Name + ") groups=" + strconv.Itoa(u.GID) + "(" + u.Name + ")"
	if strings.TrimSpace(string(out)) != want {
		t.Errorf("id as the user: %q, want %q", out, want)
	}
	pidFile := filepath.Join(t.TempDir(), "child")
	start := time.Now()
	_, err = fsroot.Tool{Path: "/bin/sh", Args: []string{"-c", "sleep 300 & echo $! > " + pidFile + "; wait"}, Timeout: 500 * time.Millisecond}.Run(context.Background())
	if !errors.Is(err, fsroot.ErrToolTimeout) {
		t.Fatalf("err %v, want ErrToolTimeout", err)
	}
	t.Logf("killed after %s", time.Since(start))
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatal("the tool's child did not start")
	}
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // the kernel reaps the orphan
	}
	t.Errorf("the tool's child %d survived the kill", pid)
}
