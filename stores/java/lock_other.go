//go:build !unix

package java

import (
	"context"
	"os"
)

// lockKeystore is a no-op where flock does not exist. On Windows a file
// held open cannot be renamed over, so locking the keystore itself would
// make our own rename fail; the re-read-and-reapply loop in update.go is
// what protects concurrent writers there.
func lockKeystore(ctx context.Context, hp string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(hp); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// removeStaleTemps does nothing without a lock telling stale from live.
func removeStaleTemps(string) {}

// writable reports whether the file at hp lacks the read-only attribute.
func writable(hp string) bool {
	fi, err := os.Stat(hp)
	return err == nil && fi.Mode().Perm()&0o200 != 0
}
