//go:build windows

package fsroot

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Open opens the file at hp for reading once it is known to be a regular
// file (not a symbolic link or other reparse point unless w.Follow)
// meeting w. Windows has no FIFOs in the file system, and files carry
// ACLs rather than uid owners: w's owner is not checked.
func Open(hp string, w Want) (*os.File, fs.FileInfo, error) {
	if !w.Follow {
		if fi, err := os.Lstat(hp); err != nil {
			return nil, nil, &FileError{Path: hp, Err: err}
		} else if fi.Mode()&fs.ModeSymlink != 0 || fi.Mode()&fs.ModeIrregular != 0 {
			return nil, nil, &FileError{Path: hp, Err: ErrSymlink, Detail: describeType(fi.Mode())}
		}
	}
	f, err := os.Open(hp)
	if err != nil {
		return nil, nil, &FileError{Path: hp, Err: err}
	}
	fi, err := f.Stat()
	if err == nil {
		err = check(hp, fi, w)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// OpenAt is Open for name in the directory dir.
func OpenAt(dir *os.File, name string, w Want) (*os.File, fs.FileInfo, error) {
	return Open(filepath.Join(dir.Name(), name), w)
}

func check(p string, fi fs.FileInfo, w Want) error {
	if !fi.Mode().IsRegular() {
		return &FileError{Path: p, Err: ErrNotRegular, Detail: describeType(fi.Mode())}
	}
	if w.Max > 0 && fi.Size() > w.Max {
		return &FileError{Path: p, Err: ErrTooLarge}
	}
	return nil
}

// OpenDir opens the directory hp.
func OpenDir(hp string) (*os.File, error) {
	f, err := os.Open(hp)
	if err != nil {
		return nil, &FileError{Path: hp, Err: err}
	}
	return f, nil
}

// Restore sets the mode of f; owners are ACLs on Windows, kept by the
// rename.
func Restore(f *os.File, mode fs.FileMode, _, _ int) error { return f.Chmod(mode.Perm()) }

// FileOwner is -1, -1 on Windows.
func FileOwner(fs.FileInfo) (uid, gid int) { return -1, -1 }

// Links is 1 on Windows.
func Links(fs.FileInfo) int { return 1 }

// OpenPrivate opens, for reading and writing, a file of the process's own
// state (created when missing), refusing a symbolic link or other reparse
// point planted as the file; the open file must be a regular file.
func OpenPrivate(hp string, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	if fi, err := os.Lstat(hp); err == nil && !fi.Mode().IsRegular() {
		return nil, nil, &FileError{Path: hp, Err: ErrSymlink, Detail: describeType(fi.Mode())}
	}
	f, err := os.OpenFile(hp, os.O_RDWR|os.O_CREATE, perm.Perm())
	if err != nil {
		return nil, nil, &FileError{Path: hp, Err: err}
	}
	fi, err := f.Stat()
	if err == nil {
		err = check(hp, fi, Want{})
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
