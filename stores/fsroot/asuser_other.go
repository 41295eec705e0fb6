//go:build !linux

package fsroot

import (
	"errors"
	"os"
	"runtime"
)

// ErrNoDrop is returned by AsUser where a root process cannot take
// another user's file-system identity for one thread.
var ErrNoDrop = errors.New("acting as another user is not supported on this platform; anchorwatch does not write into a directory a user controls here")

// canBecomeUser reports whether work in a user's directory can be done
// as that user: only when we are not privileged (the kernel then checks
// our own identity), and never on Windows, where a profile's ACLs are
// not checked as its user (so writes in a user's profile are refused).
func canBecomeUser() bool { return runtime.GOOS != "windows" && os.Geteuid() != 0 }

// AsUser runs fn when no privilege needs dropping (uid unknown or 0, or
// we are not root); otherwise it refuses with ErrNoDrop.
func AsUser(uid, _ int, fn func() error) error {
	if uid <= 0 || os.Geteuid() != 0 {
		return fn()
	}
	return ErrNoDrop
}
