//go:build !unix

package secretfile

import "os"

// linkCount is 1: os.FileInfo does not carry the link count on Windows,
// so the hard-link check is Unix-only.
func linkCount(os.FileInfo) uint64 { return 1 }

// openFlags: Windows has no O_NOFOLLOW; the Lstat before and SameFile
// after the open catch a swapped file.
const openFlags = os.O_RDONLY
