//go:build !windows

package java

import "os"

// releaseForReplace does nothing where a file may be renamed over while
// open: update keeps the keystore it read open across the rename, to find
// writes that landed in the replaced file (replacedWrites).
func releaseForReplace(*os.File, string, os.FileInfo) error { return nil }
