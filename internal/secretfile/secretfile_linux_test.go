package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
)

// TestReadHostile: root reads a secret path in a directory an unprivileged
// user controls; whatever the user plants there — a link to a root-only
// file, a hard link to one, a FIFO (which would block), a huge file, a
// directory — is refused with its typed reason, never read, and nothing
// of a root-only file leaks into an error. A plain file of the user's is
// read, with its mode for the caller's warning.
func TestReadHostile(t *testing.T) {
	h := hostile.NewUser(t)
	shadowLike := filepath.Join(t.TempDir(), "root-only")
	rootSecret := "root-only-secret-do-not-leak"
	if err := os.WriteFile(shadowLike, []byte(rootSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.Home, "secrets")
	h.Shell(t, "mkdir -p "+dir+" && chmod 0777 "+dir) // a writable parent
	h.Shell(t, "cd "+dir+` && printf 'awt_plain\n' > plain && chmod 0644 plain && ln -s `+shadowLike+` link && mkfifo fifo && mkdir adir && head -c 70000 /dev/zero > huge`)
	// A hard link to root's file in the user's directory (same file
	// system): the user could not read it, root would.
	hard := filepath.Join(dir, "hard")
	if err := os.Link(shadowLike, hard); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want error
	}{
		{"link", ErrNotRegular},
		{"fifo", ErrNotRegular},
		{"adir", ErrNotRegular},
		{"hard", ErrHardLinks},
		{"huge", ErrTooLarge},
		{"missing", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, _, err := Read(filepath.Join(dir, tt.name), Max)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Read blocked")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read: %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), rootSecret) {
				t.Errorf("the error leaks the file: %v", err)
			}
		})
	}
	data, perm, err := Read(filepath.Join(dir, "plain"), Max)
	if err != nil || string(data) != "awt_plain\n" || perm != 0o644 {
		t.Fatalf("plain file: %q %04o %v", data, perm, err)
	}
}

// TestReadBound: the bound is the caller's, and the error says it.
func TestReadBound(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 11), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(filepath.Join(dir, "big"), 10); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10 bytes") {
		t.Fatalf("11 bytes over a bound of 10: %v", err)
	}
	if got := size(64 << 10); got != "64 KiB" {
		t.Errorf("size(64 KiB) = %q", got)
	}
}

// TestReadResolvedFollowsMounts: a secret named on a command line may be
// a link, as a Kubernetes secret volume mounts it (token -> ..data/token
// -> ..2026_12_03/token); the file reached passes every check, and a
// link to something else than a plain file of its own is still refused.
func TestReadResolvedFollowsMounts(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "..2026_12_03")
	if err := os.Mkdir(gen, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gen, "token"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026_12_03", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "token")
	if err := os.Symlink("..data/token", link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(link, Max); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Read of a link: %v, want ErrNotRegular", err)
	}
	data, perm, err := ReadResolved(link, Max)
	if err != nil || string(data) != "s3cret\n" || perm != 0o600 {
		t.Fatalf("ReadResolved = %q, %04o, %v", data, perm, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fifo, filepath.Join(dir, "tofifo")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadResolved(filepath.Join(dir, "tofifo"), Max); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadResolved of a link to a FIFO: %v, want ErrNotRegular", err)
	}
}
