//go:build unix

package fsroot

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CanWrite reports whether this process, with its effective user and
// groups, may change what the host path hp names: a directory it may
// write and search; an existing file it may write, in such a directory;
// a missing path whose nearest existing directory it may write. It asks
// the kernel (faccessat with AT_EACCESS), so root, ACLs and capabilities
// count as they do for a write. It is a look for reporting, not a
// security decision: every write opens and checks again.
func CanWrite(hp string) bool {
	fi, err := os.Stat(hp)
	switch {
	case err == nil && fi.IsDir():
		return access(hp, unix.W_OK|unix.X_OK)
	case err == nil:
		return access(hp, unix.W_OK) && access(filepath.Dir(hp), unix.W_OK|unix.X_OK)
	case errors.Is(err, fs.ErrNotExist):
		d, err := existing(filepath.Dir(hp))
		return err == nil && access(d, unix.W_OK|unix.X_OK)
	}
	return false
}

func access(p string, mode uint32) bool {
	return unix.Faccessat(unix.AT_FDCWD, p, mode, unix.AT_EACCESS) == nil
}
