package appstore

import (
	"path/filepath"
	"runtime"
)

// IsLiveRoot reports whether root is the running host's own file system:
// "/" on Unix; on Windows a drive's root (C:\), which is what --root /
// becomes there. Registry-backed stores exist only for the live host.
func IsLiveRoot(root string) bool {
	if root == "" || root == "/" {
		return true
	}
	if runtime.GOOS != "windows" {
		return false
	}
	r := filepath.Clean(root)
	return r == `\` || len(r) == 3 && r[1] == ':' && (r[2] == '\\' || r[2] == '/')
}
