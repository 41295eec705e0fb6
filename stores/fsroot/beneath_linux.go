package fsroot

import (
	"errors"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
)

// openBeneath opens dir below the root directory rootfd in one system
// call, refusing a symbolic link in any component (openat2 with
// RESOLVE_NO_SYMLINKS, Linux 5.6): the walk of openDir without its cost.
// ok is false where openat2 is unavailable (old kernel, seccomp), and
// openDir then walks.
func openBeneath(rootfd int, root, dir string) (d dirHandle, sc Scope, ok bool, err error) {
	rel := strings.TrimPrefix(strings.Join(components(dir), "/"), "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{Flags: uint64(dirFlags), Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(rootfd, rel, how)
	switch {
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM): // no openat2 here (or a seccomp filter)
		return dirHandle{}, Scope{}, false, nil
	case errors.Is(err, unix.ELOOP):
		return dirHandle{}, Scope{}, true, &PathError{Op: "open", Path: hostPath(root, dir), Err: ErrSymlink}
	case errors.Is(err, unix.ENOENT):
		return dirHandle{}, Scope{}, true, &PathError{Op: "open", Path: hostPath(root, dir), Err: fs.ErrNotExist}
	case errors.Is(err, unix.ENOTDIR):
		return dirHandle{}, Scope{}, true, &PathError{Op: "open", Path: hostPath(root, dir), Err: explainNotDir(rootfd, rel)}
	case err != nil:
		return dirHandle{}, Scope{}, true, &PathError{Op: "open", Path: hostPath(root, dir), Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return dirHandle{}, Scope{}, true, err
	}
	return dirHandle{fd: fd, host: hostPath(root, dir)}, scopeOf(&st), true, nil
}

// explainNotDir tells a symbolic link (O_DIRECTORY|O_NOFOLLOW on a link
// gives ENOTDIR) from a file where a directory was expected.
func explainNotDir(rootfd int, rel string) error {
	if isLink(rootfd, rel) {
		return ErrSymlink
	}
	return unix.ENOTDIR
}

func isLink(rootfd int, rel string) bool {
	var st unix.Stat_t
	return unix.Fstatat(rootfd, rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}
