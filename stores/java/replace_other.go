//go:build !windows

package java

import "os"

// releaseForReplace compares, right before the new keystore is renamed
// over hp, the file we read (f, st0 its stat then) with what it is now
// and with what hp names: a writer that wrote in place since our read
// (keytool) or replaced the file makes update read it again
// (errChangedBeforeReplace) rather than replace its write. f stays open:
// a write landing in it between this check and the rename is found
// afterwards (replacedWrites).
func releaseForReplace(f *os.File, hp string, st0 os.FileInfo) error {
	now, err := f.Stat()
	if err != nil {
		return err
	}
	cur, err := os.Stat(hp)
	if err != nil {
		return err
	}
	if !sameVersion(st0, now) || !sameVersion(st0, cur) {
		return errChangedBeforeReplace
	}
	return nil
}
