package appstore

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// ErrUntrustedLink is returned by Resolve for a symbolic link that a user
// could have made (owned by a user, or in a directory others may write).
var ErrUntrustedLink = errors.New("symbolic link a user could have planted: not followed")

// Resolve follows the symbolic links of p (a path inside root) the way a
// process chrooted at root would, but only links that root alone could
// have made: owned by root in a directory only root may write. A link a
// user controls is never followed (ErrUntrustedLink, with the path of the
// link), so a reference a user wrote cannot turn a store into another
// file. A missing component is an error wrapping fs.ErrNotExist.
func Resolve(root, p string) (string, error) {
	return fsroot.ResolveChecked(root, p, func(dir, next string, fi fs.FileInfo) error {
		if !rootLink(root, dir, fi) {
			return fmt.Errorf("%s: %w", next, ErrUntrustedLink)
		}
		return nil
	})
}

// rootLink reports whether the link fi in dir could only have been made
// by root.
func rootLink(root, dir string, fi fs.FileInfo) bool {
	if uid, _ := ownerOf(fi); uid != 0 {
		return false
	}
	sc, err := fsroot.DirScope(root, dir)
	return err == nil && !sc.User() && sc.Unsafe == ""
}
