//go:build unix

package fsroot

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

func chown(f *os.File, uid, gid int) error { return f.Chown(uid, gid) }

// Owner returns the uid and gid owning hp, or -1, -1 when unknown.
func Owner(hp string) (uid, gid int) {
	fi, err := os.Stat(hp)
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
