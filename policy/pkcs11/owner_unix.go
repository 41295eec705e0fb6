//go:build unix

package pkcs11

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// checkOwner refuses a path owned by anyone but root or uid, or writable
// by group or others (a root-owned sticky directory such as /tmp aside:
// nobody else can replace what is in it).
func checkOwner(p string, uid int) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot read the owner")
	}
	if st.Uid != 0 && int(st.Uid) != uid {
		return fmt.Errorf("owned by uid %d", st.Uid)
	}
	sticky := fi.IsDir() && fi.Mode()&os.ModeSticky != 0 && st.Uid == 0
	if fi.Mode().Perm()&0o022 != 0 && !sticky {
		return fmt.Errorf("writable by group or others (mode %v)", fi.Mode().Perm())
	}
	return nil
}

// openPINFile opens a PIN file (no symlink, no blocking on a FIFO) and
// checks on the descriptor that it is a regular file of the user or root
// that only its owner can read.
func openPINFile(path string) (*os.File, fs.FileInfo, error) {
	f, fi, err := fsroot.Open(path, fsroot.Want{})
	switch {
	case errors.Is(err, fsroot.ErrSymlink):
		return nil, nil, fmt.Errorf("%s is a symlink: give the file itself", path)
	case errors.Is(err, fsroot.ErrNotRegular):
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	case err != nil:
		return nil, nil, err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case st == nil || (st.Uid != 0 && int(st.Uid) != os.Geteuid()):
		err = fmt.Errorf("%s belongs to another user", path)
	case fi.Mode().Perm()&0o077 != 0:
		err = fmt.Errorf("%s has mode %v: make it readable by you alone (chmod 600)", path, fi.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
