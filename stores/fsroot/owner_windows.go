//go:build windows

package fsroot

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

func owner(fs.FileInfo) (uid, gid int) { return -1, -1 }

func chown(*os.File, int, int) error { return nil }

// Owner is not meaningful on Windows (ACLs are kept by the rename).
func Owner(string) (uid, gid int) { return -1, -1 }

// Lock takes an exclusive lock (LockFileEx) on the file hp.
func Lock(hp string) (unlock func(), err error) {
	f, err := os.Open(hp)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", hp, err)
	}
	ol := new(windows.Overlapped)
	if err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, ol); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", hp, err)
	}
	return func() {
		_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
		f.Close()
	}, nil
}

// LockContext is Lock, checking ctx first (LockFileEx is not waited on
// with a deadline here).
func LockContext(ctx context.Context, hp string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return Lock(hp)
}
