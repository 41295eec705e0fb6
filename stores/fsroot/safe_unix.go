//go:build unix

package fsroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Open opens the file at hp for reading the safe way: without following
// a symbolic link in the last component (unless w.Follow), without
// blocking (a FIFO or a device planted as the file cannot hang the
// caller), and only once fstat on the open descriptor shows a regular
// file meeting w. The type is also checked before opening, so a device
// node is never opened at all.
func Open(hp string, w Want) (*os.File, fs.FileInfo, error) {
	return openAt(unix.AT_FDCWD, hp, hp, w)
}

// OpenAt is Open for name relative to the open directory dir: nothing
// above dir is looked up again.
func OpenAt(dir *os.File, name string, w Want) (*os.File, fs.FileInfo, error) {
	return openAt(int(dir.Fd()), name, dir.Name()+"/"+name, w)
}

func openAt(dirfd int, name, display string, w Want) (*os.File, fs.FileInfo, error) {
	statFlags := unix.AT_SYMLINK_NOFOLLOW
	if w.Follow {
		statFlags = 0
	}
	var pre unix.Stat_t
	if err := retry(func() error { return unix.Fstatat(dirfd, name, &pre, statFlags) }); err != nil {
		return nil, nil, &FileError{Path: display, Err: err}
	}
	if uint32(pre.Mode)&unix.S_IFMT != unix.S_IFREG {
		err := ErrNotRegular
		if uint32(pre.Mode)&unix.S_IFMT == unix.S_IFLNK {
			err = ErrSymlink
		}
		return nil, nil, &FileError{Path: display, Err: err, Detail: describeType(modeOf(uint32(pre.Mode)))}
	}
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	if !w.Follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	err := retry(func() (err error) { fd, err = unix.Openat(dirfd, name, flags, 0); return err })
	if errors.Is(err, unix.ELOOP) && !w.Follow {
		return nil, nil, &FileError{Path: display, Err: ErrSymlink}
	}
	if err != nil {
		return nil, nil, &FileError{Path: display, Err: err}
	}
	f := os.NewFile(uintptr(fd), display)
	fi, err := f.Stat()
	if err == nil {
		err = check(display, fi, w)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// check applies w to what fstat said about an open file.
func check(p string, fi fs.FileInfo, w Want) error {
	if !fi.Mode().IsRegular() {
		return &FileError{Path: p, Err: ErrNotRegular, Detail: describeType(fi.Mode())}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no file status", p)
	}
	if w.ownerSet && w.owner >= 0 && int(st.Uid) != w.owner {
		return &FileError{Path: p, Err: ErrWrongOwner, Detail: fmt.Sprintf("owned by uid %d, want %d", st.Uid, w.owner)}
	}
	if w.OneLink && st.Nlink > 1 {
		return &FileError{Path: p, Err: ErrHardLinked, Detail: fmt.Sprintf("%d links", st.Nlink)}
	}
	if w.Max > 0 && fi.Size() > w.Max {
		return &FileError{Path: p, Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, over the %d allowed", fi.Size(), w.Max)}
	}
	return nil
}

// OpenDir opens the directory hp without following a symbolic link in
// its last component, for *at operations and fchown/fchmod on it.
func OpenDir(hp string) (*os.File, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Open(hp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		return err
	})
	if errors.Is(err, unix.ENOTDIR) { // O_DIRECTORY meets a link before O_NOFOLLOW does
		if fi, lerr := os.Lstat(hp); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			err = unix.ELOOP
		}
	}
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, &FileError{Path: hp, Err: ErrSymlink}
	case errors.Is(err, unix.ENOTDIR):
		return nil, &FileError{Path: hp, Err: ErrNotRegular, Detail: "not a directory"}
	case err != nil:
		return nil, &FileError{Path: hp, Err: err}
	}
	return os.NewFile(uintptr(fd), hp), nil
}

// Restore gives the open file f the mode and, when we are root and uid
// is known, the owner it should have: fchmod and fchown on the
// descriptor, never by path, so a name swapped for a symbolic link in
// between is not followed.
func Restore(f *os.File, mode fs.FileMode, uid, gid int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != mode.Perm() {
		if err := f.Chmod(mode.Perm()); err != nil {
			return err
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if uid < 0 || os.Geteuid() != 0 || !ok || (int(st.Uid) == uid && int(st.Gid) == gid) {
		return nil
	}
	return f.Chown(uid, gid)
}

// FileOwner returns the uid and gid in fi, or -1, -1.
func FileOwner(fi fs.FileInfo) (uid, gid int) { return owner(fi) }

// Links returns the hard link count in fi, or 1 when unknown.
func Links(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Nlink)
	}
	return 1
}

func retry(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func modeOf(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.FileMode(m & 0o777)
}

// OpenPrivate opens, for reading and writing, a file of the process's own
// state (created with perm when missing) the safe way: a symbolic link,
// a FIFO or a device planted as the file is refused without being opened
// (the type is checked before the open, and the open neither follows a
// link nor blocks), and fstat on the open descriptor must show a regular
// file with one link, owned by this process's user.
func OpenPrivate(hp string, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	var pre unix.Stat_t
	err := retry(func() error { return unix.Lstat(hp, &pre) })
	switch {
	case err == nil && uint32(pre.Mode)&unix.S_IFMT != unix.S_IFREG:
		e := ErrNotRegular
		if uint32(pre.Mode)&unix.S_IFMT == unix.S_IFLNK {
			e = ErrSymlink
		}
		return nil, nil, &FileError{Path: hp, Err: e, Detail: describeType(modeOf(uint32(pre.Mode)))}
	case err != nil && !errors.Is(err, unix.ENOENT):
		return nil, nil, &FileError{Path: hp, Err: err}
	}
	var fd int
	err = retry(func() (err error) {
		fd, err = unix.Open(hp, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, uint32(perm.Perm()))
		return err
	})
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, &FileError{Path: hp, Err: ErrSymlink}
	}
	if err != nil {
		return nil, nil, &FileError{Path: hp, Err: err}
	}
	f := os.NewFile(uintptr(fd), hp)
	fi, err := f.Stat()
	if err == nil {
		err = check(hp, fi, Want{OneLink: true}.OwnedBy(os.Geteuid()))
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
