package appstore

import (
	"io/fs"
	"os"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// ListDir maps the names in dir (inside root) to their types (a link is
// a link), at most max of them; nil when dir cannot be read. Discovery
// lists thousands of directories in homes, so on Linux this is a bare
// open/getdents64/close (a third of what os.ReadDir costs there).
func ListDir(root, dir string, max int) map[string]fs.FileMode {
	return listDir(fsroot.HostPath(root, dir), max)
}

func listDirPortable(hp string, max int) map[string]fs.FileMode {
	f, err := os.Open(hp)
	if err != nil {
		return nil
	}
	defer f.Close()
	ents, _ := f.ReadDir(max)
	m := make(map[string]fs.FileMode, len(ents))
	for _, e := range ents {
		m[e.Name()] = e.Type()
	}
	return m
}

// Lmode is the type of p (inside root) as lstat gives it, and whether p
// exists. Discovery asks it for thousands of paths; on Linux it is a bare
// lstat that builds no FileInfo.
func Lmode(root, p string) (fs.FileMode, bool) { return lmode(fsroot.HostPath(root, p)) }

func lmodePortable(hp string) (fs.FileMode, bool) {
	fi, err := os.Lstat(hp)
	if err != nil {
		return 0, false
	}
	return fi.Mode(), true
}
