package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Max is the default bound of a secret file: a token is ~50 bytes, a
// keystore password file a few lines.
const Max = 64 << 10

// Reasons a secret file is refused; Read wraps exactly one of them, or an
// error of the file system (fs.ErrNotExist, fs.ErrPermission, …).
var (
	ErrNotRegular = errors.New("not a regular file (a link, pipe or device?)")
	ErrHardLinks  = errors.New("has more than one hard link: copy the secret into a file of its own")
	ErrTooLarge   = errors.New("too large for a secret")
)

// Read reads the secret file path, at most max bytes, with the checks of
// the package doc (fsroot's safe open and bounded read), and returns its
// content and permission bits (for a caller's warning about a file others
// may read).
func Read(path string, max int64) ([]byte, fs.FileMode, error) {
	f, fi, err := fsroot.Open(path, fsroot.Want{Max: max, OneLink: true})
	if err != nil {
		return nil, 0, reason(path, max, err)
	}
	defer f.Close()
	data, err := fsroot.ReadAll(f, fi.Size(), max)
	if err != nil {
		return nil, 0, reason(path, max, err)
	}
	return data, fi.Mode().Perm(), nil
}

// reason turns fsroot's refusals into this package's sentinels, with
// words for a secret; other errors (missing, no permission) pass as they
// are.
func reason(path string, max int64, err error) error {
	switch {
	case errors.Is(err, fsroot.ErrSymlink), errors.Is(err, fsroot.ErrNotRegular):
		return fmt.Errorf("%s is %w", path, ErrNotRegular)
	case errors.Is(err, fsroot.ErrHardLinked):
		return fmt.Errorf("%s has several hard links: %w", path, ErrHardLinks)
	case errors.Is(err, fsroot.ErrTooLarge):
		return fmt.Errorf("%s is over %s: %w", path, size(max), ErrTooLarge)
	}
	return err
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
