package fsroot_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syscall"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
)

// openRoot makes a test root traversable by other users (t.TempDir is 0700).
func openRoot(t *testing.T) string {
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func appendLine(old []byte, exists bool) ([]byte, error) {
	return append(append([]byte{}, old...), "added\n"...), nil
}

// TestHostileUser: a user plants a symlink to a root-only file, a FIFO, a
// huge sparse file, a symlinked directory and a hard link in their home;
// root reading and updating through safefs neither follows, blocks nor
// writes anything outside what the user could write themselves.
func TestHostileUser(t *testing.T) {
	root := openRoot(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	secret, secretData := apptest.RootSecret(t)
	in := func(p string) string { return "/home/" + u.Name + "/" + p } // inside root
	host := func(p string) string { return filepath.Join(root, in(p)) }

	u.Symlink(t, secret, host("venv/certifi/cacert.pem"))
	u.Mkfifo(t, host("fifo/cacert.pem"))
	u.Huge(t, host("huge/cacert.pem"), 1<<40)
	u.Symlink(t, filepath.Dir(secret), host("linkdir"))
	u.MkdirAll(t, host("hard"))
	if err := os.Link(secret, host("hard/cacert.pem")); err != nil { // as if protected_hardlinks were off
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		p    string
		want error
	}{
		{"venv/certifi/cacert.pem", fsroot.ErrSymlink},
		{"fifo/cacert.pem", fsroot.ErrNotRegular},
		{"huge/cacert.pem", fsroot.ErrTooLarge},
		{"linkdir/shadow", fsroot.ErrSymlink},
	} {
		start := time.Now()
		data, _, err := fsroot.ReadBeneath(ctx, root, in(tc.p), 1<<20)
		if !errors.Is(err, tc.want) || data != nil {
			t.Errorf("ReadFile %s: %v (%d bytes), want %v", tc.p, err, len(data), tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("ReadFile %s took %v", tc.p, d)
		}
		_, err = fsroot.Update(ctx, root, in(tc.p), fsroot.UpdateOptions{Max: 1 << 20}, appendLine)
		if err == nil {
			t.Errorf("Update %s: no error", tc.p)
		}
	}
	// The hard link: root could read it, but the update runs as the user,
	// who may not even open the root-only file.
	if _, err := fsroot.Update(ctx, root, in("hard/cacert.pem"), fsroot.UpdateOptions{}, appendLine); !errors.Is(err, fs.ErrPermission) && !errors.Is(err, fsroot.ErrOwner) {
		t.Errorf("Update through a hard link to a root file: %v, want permission denied", err)
	}
	if got, _ := os.ReadFile(secret); !bytes.Equal(got, secretData) {
		t.Fatalf("the root-only file changed: %q", got)
	}
	if fi, _ := os.Lstat(secret); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the root-only file's mode changed: %v", fi.Mode())
	}
	assertRootThreads(t)
}

// TestUpdateAsOwner: a file in a user's directory is replaced by a file
// the user owns (written as the user), with the old mode, atomically.
func TestUpdateAsOwner(t *testing.T) {
	root := openRoot(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	p := "/home/" + u.Name + "/venv/cacert.pem"
	u.WriteFile(t, filepath.Join(root, p), []byte("old\n"))
	os.Chmod(filepath.Join(root, p), 0o640)
	changed, err := fsroot.Update(context.Background(), root, p, fsroot.UpdateOptions{}, appendLine)
	if err != nil || !changed {
		t.Fatalf("Update: %v changed=%v", err, changed)
	}
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != u.UID || fi.Mode().Perm() != 0o640 {
		t.Errorf("after update: uid %d mode %v, want uid %d mode 0640", st.Uid, fi.Mode().Perm(), u.UID)
	}
	if got, _ := os.ReadFile(filepath.Join(root, p)); string(got) != "old\nadded\n" {
		t.Errorf("content %q", got)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(filepath.Join(root, p)))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after the update", len(ents))
	}
	// A root-owned directory inside the user's home is root's: written as
	// root, keeping the file's owner.
	sys := filepath.Join(root, "/home/"+u.Name+"/sysvenv")
	os.MkdirAll(sys, 0o755)
	os.WriteFile(filepath.Join(sys, "cacert.pem"), []byte("x\n"), 0o644)
	if _, err := fsroot.Update(context.Background(), root, "/home/"+u.Name+"/sysvenv/cacert.pem", fsroot.UpdateOptions{}, appendLine); err != nil {
		t.Errorf("root-owned directory: %v", err)
	}
	assertRootThreads(t)
}

// TestUnsafeDirAndLock: a world-writable directory is refused for writes;
// a lock the user holds on their directory makes the update fail at the
// deadline instead of hanging.
func TestUnsafeDirAndLock(t *testing.T) {
	root := openRoot(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ww := filepath.Join(root, "opt/shared")
	os.MkdirAll(ww, 0o755)
	os.Chmod(ww, 0o777)
	os.WriteFile(filepath.Join(ww, "b.pem"), []byte("x"), 0o644)
	if _, err := fsroot.Update(context.Background(), root, "/opt/shared/b.pem", fsroot.UpdateOptions{}, appendLine); !errors.Is(err, fsroot.ErrUnsafeDir) {
		t.Errorf("world-writable directory: %v, want ErrUnsafeDir", err)
	}
	if _, _, err := fsroot.ReadBeneath(context.Background(), root, "/opt/shared/b.pem", 100); err != nil {
		t.Errorf("reading from a world-writable directory: %v", err)
	}

	dir := filepath.Join(root, "home", u.Name, "locked")
	u.WriteFile(t, filepath.Join(dir, "cacert.pem"), []byte("x\n"))
	holder := u.Cmd("flock", []string{dir, "sleep", "30"})
	holder.SysProcAttr.Setpgid = true // flock and its sleep end together
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); holder.Wait() })
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := fsroot.Update(ctx, root, "/home/"+u.Name+"/locked/cacert.pem", fsroot.UpdateOptions{}, appendLine)
	if !errors.Is(err, fsroot.ErrLocked) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("update of a directory the user keeps locked: %v, want a lock timeout", err)
	}
}

// TestMkdirRoot refuses to create our directory through a user's one.
func TestMkdirRoot(t *testing.T) {
	root := openRoot(t)
	if err := fsroot.MkdirRoot(root, "/etc/ssl/anchorwatch", 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "etc/ssl/anchorwatch"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("mkdir: %v %v", err, fi)
	}
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	u.MkdirAll(t, filepath.Join(root, "srv/app"))
	if err := fsroot.MkdirRoot(root, "/srv/app/ca", 0o755); !errors.Is(err, fsroot.ErrUnsafeDir) {
		t.Errorf("MkdirRoot under a user's directory: %v, want ErrUnsafeDir", err)
	}
}

// assertRootThreads checks that no thread of this process kept a user's
// file-system identity.
func assertRootThreads(t *testing.T) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // let discarded threads exit
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Uid:") && strings.Fields(l)[4] != "0" {
				t.Errorf("thread %s still has a user's fsuid: %s", task.Name(), l)
			}
		}
	}
}
