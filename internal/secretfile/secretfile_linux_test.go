package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
