//go:build windows

package java

import "os"

// releaseForReplace closes the keystore f that update read (st0 is its
// stat then) before the new one is renamed over it: Windows refuses to
// rename over a file held open without FILE_SHARE_DELETE, and Wine
// refuses even with it ("Access denied"). With the file closed the
// replaced file cannot be watched afterwards, so it is compared now: if
// the path no longer names the file as we read it, another writer got in
// first and update reads it again (errChangedBeforeReplace). A writer
// that opens the file after this check makes the rename fail (it holds
// the file open), and the store is reported unchanged.
func releaseForReplace(f *os.File, hp string, st0 os.FileInfo) error {
	f.Close()
	now, err := os.Stat(hp)
	if err != nil {
		return err
	}
	if !sameVersion(st0, now) {
		return errChangedBeforeReplace
	}
	return nil
}
