package stores

import (
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// ErrNeedsRoot: this process may not change the store; root may (or the
// store's owner, for a user's store). A command run without root reports
// it per store instead of trying and failing on "permission denied".
var ErrNeedsRoot = errors.New("root is needed to change this store")

// CheckAccess returns info as this process sees it: a store that lives in
// a file or directory (Path absolute, inside env's root) this process may
// not write is not Writable and NeedsRoot. Root, and stores that are no
// files (the Windows certificate stores), are left as the adapter says.
func CheckAccess(env Env, info Info) Info {
	if os.Geteuid() <= 0 || !path.IsAbs(info.Path) {
		return info
	}
	if !fsroot.CanWrite(fsroot.Join(env.Normalize().Root, info.Path)) {
		info.Writable, info.NeedsRoot = false, true
	}
	return info
}

// NeedsRootError is ErrNeedsRoot for one store: Path is not writable by
// this process; root (or Owner) may change it.
type NeedsRootError struct {
	Path, Owner string
}

func (e *NeedsRootError) Error() string {
	return fmt.Sprintf("%s is not writable by this user: %s", e.Path, e.Hint())
}

// Hint says who may change the store: "run as root" or "run as root or
// OWNER".
func (e *NeedsRootError) Hint() string {
	if e.Owner != "" {
		return "run as root or " + e.Owner
	}
	return "run as root"
}

// Is makes errors.Is(err, ErrNeedsRoot) true.
func (e *NeedsRootError) Is(target error) bool { return target == ErrNeedsRoot }

// NeedsRoot returns the NeedsRootError of the store info describes.
func NeedsRoot(info Info) *NeedsRootError { return &NeedsRootError{Path: info.Path, Owner: info.Owner} }
