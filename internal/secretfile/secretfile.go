package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Max is the default bound of a secret file: a token is ~50 bytes, a
// keystore password file a few lines.
const Max = 64 << 10

// Reasons a secret file is refused; Read wraps exactly one of them, or an
// error of the file system (fs.ErrNotExist, fs.ErrPermission, …).
var (
	ErrNotRegular = errors.New("not a regular file (a link, pipe or device?)")
	ErrChanged    = errors.New("changed while it was opened")
	ErrHardLinks  = errors.New("has more than one hard link: copy the secret into a file of its own")
	ErrTooLarge   = errors.New("too large for a secret")
)

// Read reads the secret file path, at most max bytes, with the checks of
// the package doc, and returns its content and permission bits (for a
// caller's warning about a file others may read).
func Read(path string, max int64) ([]byte, fs.FileMode, error) {
	before, err := os.Lstat(path)
	if err != nil {
		return nil, 0, err
	}
	if !before.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is %w", path, ErrNotRegular)
	}
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(before, fi) {
		return nil, 0, fmt.Errorf("%s %w", path, ErrChanged)
	}
	if n := linkCount(fi); n > 1 {
		return nil, 0, fmt.Errorf("%s has %d hard links: %w", path, n, ErrHardLinks)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, 0, fmt.Errorf("%s is over %s: %w", path, size(max), ErrTooLarge)
	}
	return data, fi.Mode().Perm(), nil
}

// ReadResolved is Read of the file path names after its symbolic links
// are resolved: for files an administrator names on a command line, which
// container platforms mount as links (a Kubernetes secret volume's
// token -> ..data/token). The file reached must pass every check of
// Read. Root copying a secret somewhere (agent configure) uses Read.
func ReadResolved(path string, max int64) ([]byte, fs.FileMode, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, 0, err
	}
	return Read(resolved, max)
}

// size writes a bound the way people say it ("64 KiB").
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
