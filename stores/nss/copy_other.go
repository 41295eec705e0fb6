//go:build !unix

package nss

import (
	"context"
	"errors"
	"io/fs"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// workCopy does not exist where databases have no uid owners.
type workCopy struct{ dir string }

func newWorkCopy(context.Context, *dbDir, fsroot.User) (*workCopy, error) {
	return nil, errors.New("a private copy is not supported on this platform")
}

func (w *workCopy) commit(*dbDir, fsroot.User, map[string]fs.FileInfo) error { return nil }

func (w *workCopy) remove() {}

// userReaches is always true without uid owners.
func (r *runner) userReaches() bool { return true }

func dirPerm(*dbDir) fs.FileMode { return 0o700 }
