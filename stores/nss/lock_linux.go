//go:build linux

package nss

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// SQLite's lock bytes (sqlite3.c, "The Locking Protocol"): a reader takes
// a read lock on PENDING_BYTE, then on the SHARED range, then lets
// PENDING go; a writer needs the SHARED range exclusively to change the
// file, so while we hold a read lock on it the file is a consistent
// database.
const (
	pendingByte = 0x40000000
	sharedFirst = pendingByte + 2
	sharedSize  = 510
	// busyTimeout is how long a reader waits for a writer, as SQLite's
	// busy_timeout would.
	busyTimeout = 2 * time.Second
)

// sharedLock takes SQLite's SHARED lock on f with open file description
// locks (they conflict with SQLite's POSIX locks, and closing another
// descriptor of ours does not drop them). The returned func releases it.
func sharedLock(ctx context.Context, f *os.File) (func(), error) {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := trySharedLock(f)
		if err == nil {
			return func() { _ = ofdLock(f, unix.F_UNLCK, sharedFirst, sharedSize) }, nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the database is locked by a writer (database is busy)")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func trySharedLock(f *os.File) error {
	if err := ofdLock(f, unix.F_RDLCK, pendingByte, 1); err != nil {
		return err
	}
	err := ofdLock(f, unix.F_RDLCK, sharedFirst, sharedSize)
	_ = ofdLock(f, unix.F_UNLCK, pendingByte, 1)
	return err
}

func ofdLock(f *os.File, typ int16, start, n int64) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: n}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}
