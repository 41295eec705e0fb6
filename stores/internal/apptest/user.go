//go:build linux

package apptest

import (
	"os"
	"os/exec"
	"path/filepath"
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
// The account is internal/hostile's (one way to make and remove a test
// user); this type adds the planting helpers the store tests share.
func NewUser(t testing.TB, homeBase string) User {
	t.Helper()
	h := hostile.NewUserIn(t, homeBase)
	return User{Name: h.Name, UID: h.UID, GID: h.GID, Home: h.Home}
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
