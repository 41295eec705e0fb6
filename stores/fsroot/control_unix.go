//go:build unix

package fsroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Control says who, besides root, can change what a path names: anyone
// who owns a directory on the way to it (they can rename the rest away
// and put their own tree in its place) or may write one that is not
// sticky.
type Control struct {
	// UID is the one user who controls the path; 0 when only root does.
	// GID is the group of the directory By.
	UID, GID int
	// By is the outermost directory that gives UID control, e.g.
	// /home/alice; empty when only root controls the path.
	By string
}

// Controller walks every directory from / down to hp (its symbolic links
// resolved first; a missing tail is skipped) and returns who controls it.
// A directory owned by a user hands control to that user; a directory
// writable by its group or by everyone without the sticky bit hands it to
// more than one user, and so does a second owner further down: that is
// an error wrapping ErrShared, naming the directory. Root acts in such a
// path as its one controlling user (AsUser, Tool.User) or not at all.
func Controller(hp string) (Control, error) {
	p, err := existing(hp)
	if err != nil {
		return Control{}, err
	}
	var c Control
	for _, d := range chain(p) {
		fi, err := os.Lstat(d)
		if err != nil {
			return Control{}, err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return Control{}, fmt.Errorf("%s: no file status", d)
		}
		m := fi.Mode()
		sticky := m&fs.ModeSticky != 0
		switch {
		case m&0o002 != 0 && !sticky:
			return Control{}, &FileError{Path: d, Err: ErrShared, Detail: fmt.Sprintf("writable by everyone, mode %04o", m.Perm())}
		case m&0o020 != 0 && !sticky:
			return Control{}, &FileError{Path: d, Err: ErrShared, Detail: fmt.Sprintf("writable by group %d, mode %04o", st.Gid, m.Perm())}
		}
		if st.Uid == 0 {
			continue
		}
		if c.UID != 0 && c.UID != int(st.Uid) {
			return Control{}, &FileError{Path: d, Err: ErrShared, Detail: fmt.Sprintf("owned by uid %d inside %s, which uid %d owns", st.Uid, c.By, c.UID)}
		}
		if c.UID == 0 {
			c = Control{UID: int(st.Uid), GID: int(st.Gid), By: d}
		}
	}
	return c, nil
}

// existing returns hp with its symbolic links resolved, or that of its
// deepest existing ancestor.
func existing(hp string) (string, error) {
	p := filepath.Clean(hp)
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || p == filepath.Dir(p) {
			return "", err
		}
		p = filepath.Dir(p)
	}
}

// chain lists "/" and every directory down to p.
func chain(p string) []string {
	out := []string{"/"}
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if part == "" {
			continue
		}
		cur += "/" + part
		out = append(out, cur)
	}
	return out
}
