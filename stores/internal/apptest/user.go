//go:build linux

package apptest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
)

// User is an unprivileged account made for one test.
type User struct {
	Name     string
	UID, GID int
	Home     string
}

// NewUser creates a user with a unique name and a home under homeBase
// (e.g. a test root's /home), removed with its home when the test ends.
// It needs root: the tests that use it prove what root does.
func NewUser(t testing.TB, homeBase string) User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a hostile user and must run as root (CI runs it as root)")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "awh" + hex.EncodeToString(rnd[:])
	home := filepath.Join(homeBase, name)
	if err := os.MkdirAll(homeBase, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("useradd", "-m", "-d", home, "-s", "/bin/sh", "-U", name).CombinedOutput()
	if err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if u, err := user.Lookup(name); err == nil {
			if uid, err := strconv.Atoi(u.Uid); err == nil {
				hostile.KillProcesses(uid) // never leave a process behind for the next user with this id
			}
		}
		if out, err := exec.Command("userdel", "-r", "-f", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v\n%s", name, err, out)
		}
		os.RemoveAll(home)
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, UID: uid, GID: gid, Home: home}
}

// Own gives p (not following a link) to the user, as if they made it.
func (u User) Own(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Lchown(p, u.UID, u.GID); err != nil {
			t.Fatal(err)
		}
	}
}

// MkdirAll creates dir and its missing parents owned by the user.
func (u User) MkdirAll(t testing.TB, dir string) {
	t.Helper()
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		made = append(made, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	u.Own(t, made...)
}

// WriteFile writes a file owned by the user.
func (u User) WriteFile(t testing.TB, p string, data []byte) {
	t.Helper()
	u.MkdirAll(t, filepath.Dir(p))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	u.Own(t, p)
}

// Symlink plants a link owned by the user.
func (u User) Symlink(t testing.TB, target, p string) {
	t.Helper()
	u.MkdirAll(t, filepath.Dir(p))
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	u.Own(t, p)
}

// Mkfifo plants a FIFO owned by the user.
func (u User) Mkfifo(t testing.TB, p string) {
	t.Helper()
	u.MkdirAll(t, filepath.Dir(p))
	os.Remove(p)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	u.Own(t, p)
}

// Huge plants a sparse file of size bytes owned by the user.
func (u User) Huge(t testing.TB, p string, size int64) {
	t.Helper()
	u.MkdirAll(t, filepath.Dir(p))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	u.Own(t, p)
}

// Cmd returns a command that runs as the user, in their home, with a
// minimal environment plus env.
func (u User) Cmd(name string, args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = u.Home
	cmd.Env = append([]string{"HOME=" + u.Home, "USER=" + u.Name, "PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID)}}
	return cmd
}

// RootSecret writes a root-owned 0600 file standing in for /etc/shadow,
// and returns its path and content.
func RootSecret(t testing.TB) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "shadow")
	data := []byte("root:$y$j9T$not-a-real-hash:19000:0:99999:7:::\n")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}
