package appstore

import (
	"encoding/binary"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

func listDir(hp string, max int) map[string]fs.FileMode {
	fd, err := unix.Open(hp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	m := map[string]fs.FileMode{}
	buf := make([]byte, 32<<10)
	for len(m) < max {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return listDirPortable(hp, max) // a file system getdents64 does not suit
		}
		if n <= 0 {
			break
		}
		parseDirents(fd, buf[:n], m, max)
	}
	return m
}

// parseDirents reads linux_dirent64 records: ino u64, off i64, reclen
// u16, type u8, name NUL-terminated.
func parseDirents(fd int, b []byte, m map[string]fs.FileMode, max int) {
	for len(b) >= 19 && len(m) < max {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			return
		}
		typ := b[18]
		name := b[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		b = b[reclen:]
		if s := string(name); s != "." && s != ".." {
			t := direntType(typ)
			if typ == unix.DT_UNKNOWN { // file systems without d_type
				var st unix.Stat_t
				if unix.Fstatat(fd, s, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
					t = direntType(dtOf(st.Mode))
				}
			}
			m[s] = t
		}
	}
}

func direntType(t byte) fs.FileMode {
	switch t {
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_REG:
		return 0
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_SOCK:
		return fs.ModeSocket
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_BLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular // DT_UNKNOWN: callers lstat when it matters
}

// readHintFast is readHint with bare system calls.
func readHintFast(hp string, max int64) ([]byte, error) {
	fd, err := unix.Open(hp, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: hp, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > max {
		return nil, &os.PathError{Op: "read", Path: hp, Err: fs.ErrInvalid}
	}
	buf := make([]byte, st.Size)
	n := 0
	for n < len(buf) { // the size fstat gave: a hint needs no EOF read
		k, err := unix.Read(fd, buf[n:])
		if err != nil {
			return nil, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	return buf[:n], nil
}

func lmode(hp string) (fs.FileMode, bool) {
	var st unix.Stat_t
	if unix.Lstat(hp, &st) != nil {
		return 0, false
	}
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	default:
		return lmodePortable(hp) // the rare types: let os name them
	}
	return m, true
}

func dtOf(mode uint32) byte {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFREG:
		return unix.DT_REG
	}
	return unix.DT_UNKNOWN
}
