package fsroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Join returns the host path of p (an absolute path as seen inside root).
func Join(root, p string) string {
	if root == "" || root == "/" {
		return path.Clean("/" + p)
	}
	return filepath.Join(root, path.Clean("/"+p))
}

// Rel returns the path inside root of the host path hp: the inverse of Join.
func Rel(root, hp string) string {
	if root == "" || root == "/" {
		return filepath.Clean(hp)
	}
	rel, err := filepath.Rel(root, hp)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.Clean(hp)
	}
	return "/" + filepath.ToSlash(rel)
}

const maxLinks = 40

// Resolve follows every symlink in p (a path inside root) the way the
// kernel would for a process chrooted at root: absolute targets are taken
// relative to root and ".." never climbs above it. It returns the resolved
// path inside root. Missing trailing components are an error wrapping
// fs.ErrNotExist.
func Resolve(root, p string) (string, error) { return ResolveChecked(root, p, nil) }

// LinkCheck decides whether a walk may follow the symbolic link fi found
// at next (a path inside root) in the directory dir; an error refuses it.
type LinkCheck func(dir, next string, fi fs.FileInfo) error

// ResolveChecked is Resolve following only the links check accepts (all
// of them when check is nil). A refused link ends the walk with the
// link's path and check's error.
func ResolveChecked(root, p string, check LinkCheck) (string, error) {
	links := 0
	resolved := "/"
	rest := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, name)
		fi, err := os.Lstat(Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if check != nil {
			if err := check(resolved, next, fi); err != nil {
				return next, err
			}
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("resolve %s: %w", p, errors.New("too many levels of symbolic links"))
		}
		target, err := os.Readlink(Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return resolved, nil
}
