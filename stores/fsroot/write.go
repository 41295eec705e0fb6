package fsroot

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at hp (a host path) with data: it
// writes a temporary file in the same directory, copies the mode and owner
// of the file it replaces (or uses mode for a new file), fsyncs it, renames
// it over hp and fsyncs the directory. A crash at any point leaves either
// the old or the new content at hp, never a mix. A symbolic link or
// anything else but a regular file at hp is refused (wrapping ErrSymlink
// or ErrNotRegular), never followed or replaced.
//
// It writes as the caller: in a directory a user controls, call it inside
// AsUser for that user.
func WriteFileAtomic(hp string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(hp)
	uid, gid := -1, -1
	if fi, statErr := os.Lstat(hp); statErr == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return &FileError{Path: hp, Err: ErrSymlink, Detail: "not replaced"}
		case !fi.Mode().IsRegular():
			return &FileError{Path: hp, Err: ErrNotRegular, Detail: describeType(fi.Mode())}
		}
		mode = fi.Mode().Perm()
		uid, gid = owner(fi)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(hp)+".anchorwatch-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", hp, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", hp, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", hp, err)
	}
	if uid >= 0 && os.Geteuid() == 0 {
		if err = chown(tmp, uid, gid); err != nil {
			return fmt.Errorf("write %s: keep owner: %w", hp, err)
		}
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", hp, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", hp, err)
	}
	if err = os.Rename(tmp.Name(), hp); err != nil {
		return fmt.Errorf("write %s: %w", hp, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
