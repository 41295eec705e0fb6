//go:build !linux && !windows

package safefs

import (
	"fmt"
	"os"
)

// canBecomeUser reports whether a write in a user's directory can run as
// that user: only when we are not privileged (the kernel then checks our
// own identity). There is no per-thread file-system identity here.
func canBecomeUser() bool { return os.Geteuid() != 0 }

func becomeUser(uid, gid int) (func(), error) {
	if canBecomeUser() {
		return func() {}, nil
	}
	return nil, fmt.Errorf("%w: run anchorwatch as uid %d", ErrUserTree, uid)
}
