//go:build unix

package fsroot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dirHandle is an open directory reached without following a link.
type dirHandle struct {
	fd   int
	host string
}

func (d dirHandle) close() { unix.Close(d.fd) }

// openDir opens dir (inside root) one component at a time from the root,
// refusing symbolic links, and returns it with its scope.
func walkDir(root, dir string) (dirHandle, Scope, error) {
	top := hostPath(root, "/")
	fd, err := unix.Open(top, dirFlags, 0)
	if err != nil {
		return dirHandle{}, Scope{}, &PathError{Op: "open", Path: top, Err: err}
	}
	if d, sc, ok, err := openBeneath(fd, root, dir); ok {
		unix.Close(fd)
		return d, sc, err
	}
	cur := top
	for _, name := range components(dir) {
		nfd, err := unix.Openat(fd, name, dirFlags, 0)
		if err != nil {
			err = explain(fd, name, err)
			unix.Close(fd)
			return dirHandle{}, Scope{}, &PathError{Op: "open", Path: cur + "/" + name, Err: err}
		}
		unix.Close(fd)
		fd, cur = nfd, hostPath(cur, name)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return dirHandle{}, Scope{}, err
	}
	return dirHandle{fd: fd, host: hostPath(root, dir)}, scopeOf(&st), nil
}

// explain turns the error of opening name in dirfd into ErrSymlink when
// name is a symbolic link, and into fs errors otherwise.
func explain(dirfd int, name string, err error) error {
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return ErrSymlink
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		return fs.ErrNotExist
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EMLINK):
		return ErrSymlink
	}
	return err
}

func scopeOf(st *unix.Stat_t) Scope { return scopeFor(st.Uid, st.Gid, uint32(st.Mode)) }

func scopeFor(uid, gid, mode uint32) Scope {
	sc := Scope{UID: -1, GID: -1}
	switch {
	case mode&0o002 != 0:
		sc.Unsafe = "writable by every user"
	case mode&0o020 != 0 && gid != 0 && uid == 0:
		sc.Unsafe = fmt.Sprintf("owned by root but writable by group %d", gid)
	}
	if uid != 0 {
		sc.UID, sc.GID = int(uid), int(gid)
	}
	return sc
}

// openFile opens name in d for reading without following a link or
// blocking, and checks it is a regular file.
func (d dirHandle) openFile(name string) (*os.File, Info, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, Info{}, explain(d.fd, name, err)
	}
	f := os.NewFile(uintptr(fd), hostPath(d.host, name))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, Info{}, err
	}
	info := infoOf(&st)
	if !info.Mode.IsRegular() {
		f.Close()
		return nil, info, fmt.Errorf("%w (%s)", ErrNotRegular, describeType(info.Mode))
	}
	return f, info, nil
}

func infoOf(st *unix.Stat_t) Info {
	mode := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	sec, nsec := st.Mtim.Unix()
	return Info{Mode: mode, UID: int(st.Uid), GID: int(st.Gid), Size: st.Size,
		ModTime: time.Unix(sec, nsec), Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
}

// lock takes an exclusive flock on the directory, polling until ctx ends
// (a user can hold a lock on their own directory forever).
func (d dirHandle) lock(ctx context.Context) (func(), error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			unix.Close(fd)
			return nil, err
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ErrLocked
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// update is one read-modify-replace of name under the directory lock.
func (d dirHandle) update(ctx context.Context, sc Scope, name string, opt UpdateOptions, fn UpdateFunc) (bool, error) {
	unlock, err := d.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	data, info, exists, write, err := d.next(sc, name, opt, fn, true)
	if err != nil || !write {
		return false, err
	}
	mode := opt.Mode
	if exists {
		mode = info.Mode.Perm()
	}
	tmp, err := d.writeTemp(name, data, mode, sc, info, exists)
	if err != nil {
		return false, err
	}
	// Another writer (pip replacing certifi, a second store on the same
	// file) may have replaced the file since we read it: start over.
	if now, err := d.stat(name); exists && (err != nil || !now.same(info)) || !exists && err == nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return false, ErrChanged
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, name); err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return false, err
	}
	return true, d.sync()
}

// writeTemp writes data to a new file beside name and returns its name.
func (d dirHandle) writeTemp(name string, data []byte, mode fs.FileMode, sc Scope, old Info, exists bool) (string, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := "." + name + ".anchorwatch-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(d.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), tmp)
	err = func() error {
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.Chmod(mode); err != nil {
			return err
		}
		if exists && !sc.User() && os.Geteuid() == 0 && (old.UID != 0 || old.GID != 0) {
			if err := f.Chown(old.UID, old.GID); err != nil {
				return fmt.Errorf("keep owner: %w", err)
			}
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return "", err
	}
	return tmp, nil
}

// stat is fstatat without following a link.
func (d dirHandle) stat(name string) (Info, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, err
	}
	return infoOf(&st), nil
}

func (d dirHandle) sync() error {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // the rename is done; a directory we cannot open for fsync is not an error
	}
	defer unix.Close(fd)
	_ = unix.Fsync(fd)
	return nil
}

func (d dirHandle) remove(name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fs.ErrNotExist
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w (%s)", ErrNotRegular, describeType(infoOf(&st).Mode))
	}
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return err
	}
	return d.sync()
}

func (d dirHandle) mkdir(name string, mode fs.FileMode) error {
	err := unix.Mkdirat(d.fd, name, uint32(mode.Perm()))
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	if err != nil {
		return err
	}
	// mkdir honours the umask; set the mode asked for.
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fchmod(fd, uint32(mode.Perm()))
}

func scopeOfInfo(_ string, fi fs.FileInfo) Scope {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Scope{UID: -1, GID: -1}
	}
	return scopeFor(st.Uid, st.Gid, uint32(st.Mode))
}
