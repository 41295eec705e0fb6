//go:build unix

package fsroot

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

func chown(f *os.File, uid, gid int) error { return f.Chown(uid, gid) }

// Owner returns the uid and gid owning hp itself (a symbolic link is not
// followed), or -1, -1 when unknown.
func Owner(hp string) (uid, gid int) {
	fi, err := os.Lstat(hp)
	if err != nil {
		return -1, -1
	}
	return owner(fi)
}

// Lock takes an exclusive advisory lock (flock) on the file hp, so
// cooperating writers of the same store serialize with us. The returned
// func releases it.
func Lock(hp string) (unlock func(), err error) {
	f, err := os.Open(hp)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", hp, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", hp, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// LockContext is Lock that gives up when ctx is done: anyone who can open
// hp can hold its lock, so waiting for it must be bounded.
func LockContext(ctx context.Context, hp string) (unlock func(), err error) {
	f, err := os.OpenFile(hp, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", hp, err)
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", hp, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: another process holds it: %w", hp, ctx.Err())
		case <-t.C:
		}
	}
}
