//go:build unix

package hostile

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// User is a throwaway unprivileged account.
type User struct {
	Name     string
	UID, GID int
	Home     string // on the host, made by useradd -m
}

// NewUser creates an account with a unique name and its own group, and
// removes both (and its home) when the test ends.
func NewUser(t testing.TB) User {
	t.Helper()
	return NewUserIn(t, "")
}

// NewUserIn is NewUser with the home made under homeBase (e.g. a test
// root's /home, created when missing); "" means useradd's default.
func NewUserIn(t testing.TB, homeBase string) User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a local user with useradd and must run as root (CI runs the tests as root)")
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "awhostile" + hex.EncodeToString(b)
	args := []string{"--create-home", "--user-group", "--shell", "/bin/sh"}
	if homeBase != "" {
		if err := os.MkdirAll(homeBase, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--home-dir", filepath.Join(homeBase, name))
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if u, err := user.Lookup(name); err == nil {
			if uid, err := strconv.Atoi(u.Uid); err == nil {
				KillProcesses(uid)
			}
		}
		// A process of the user killed a moment ago (a tool the product
		// ran as them) may still be on its way out: userdel refuses then.
		var out []byte
		var err error
		for i := 0; i < 50; i++ {
			if out, err = exec.Command("userdel", "--remove", name).CombinedOutput(); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("userdel -r %s: %v\n%s%s", name, err, out, processesOf(name))
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, UID: uid, GID: gid, Home: u.HomeDir}
}

// processesOf describes the processes userdel says still use the
// account, for the error message.
func processesOf(name string) string {
	out, _ := exec.Command("ps", "-o", "pid,ppid,stat,args", "-u", name).CombinedOutput()
	return string(out)
}

// Cmd returns a command that runs as the user, with no supplementary
// groups and a minimal environment.
func (u User) Cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + u.Home, "LC_ALL=C"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	return cmd
}

// Run runs a command as the user and fails the test when it fails.
func (u User) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := u.Cmd(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("as %s: %s %s: %v\n%s", u.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Shell runs a shell script as the user and fails the test when it fails.
func (u User) Shell(t testing.TB, script string) string {
	t.Helper()
	return u.Run(t, "/bin/sh", "-ec", script)
}

// Give hands the tree at hp (a host path) to the user, as if they had
// made it, and opens every directory above it up to stop for traversal
// (0755), so the user can reach it as they would their home. stop is
// not changed; "" means "/".
func (u User) Give(t testing.TB, hp, stop string) {
	t.Helper()
	err := filepath.Walk(hp, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.UID, u.GID)
	})
	if err != nil {
		t.Fatal(err)
	}
	stop = filepath.Clean("/" + stop)
	for d := filepath.Dir(filepath.Clean(hp)); d != stop && d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// KillProcesses sends SIGKILL to every process whose real user id is uid:
// whatever a throwaway user left running (a child its parent's kill
// orphaned) would otherwise hold its user id when the next test's
// useradd reuses it.
func KillProcesses(uid int) {
	if uid < 1000 {
		return // never a system account (nor root): test users are regular ones
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
				if f[1] == strconv.Itoa(uid) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
		}
	}
}
