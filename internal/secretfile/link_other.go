//go:build !unix

package secretfile

import "os"

// linkCount is 1: os.FileInfo does not carry the link count on Windows,
// so the hard-link check is Unix-only.
func linkCount(os.FileInfo) uint64 { return 1 }
