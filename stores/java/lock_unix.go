//go:build unix

package java

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockKeystore takes an exclusive flock on the keystore at hp, so two
// anchorwatch processes (agent and CLI) serialize. Because writers replace
// the file by rename, the lock is taken on the inode the path names when
// the lock is granted: after locking, the path is checked to still name the
// locked inode, else the lock is retaken on the new file.
func lockKeystore(ctx context.Context, hp string) (unlock func(), err error) {
	for {
		f, _, err := openKeystore(hp)
		if err != nil {
			return nil, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock: %w", err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(hp)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		f.Close() // replaced while we waited: lock the new file
	}
}

// removeStaleTemps deletes temporary files a killed writer of hp left
// behind. Call it only under lockKeystore: every cooperating writer holds
// the lock while its temporary file exists.
func removeStaleTemps(hp string) {
	dir, base := filepath.Split(hp)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".anchorwatch-"
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writable reports whether the process may replace the file at hp: write
// access to the file and its directory (root included, so a read-only
// mount or an immutable file shows).
func writable(hp string) bool {
	return unix.Access(hp, unix.W_OK) == nil && unix.Access(filepath.Dir(hp), unix.W_OK|unix.X_OK) == nil
}
