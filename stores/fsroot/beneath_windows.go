package fsroot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// dirHandle is a directory checked component by component with Lstat:
// Windows has no openat, so the check and the use are not atomic, which
// is why writes inside a user's profile are refused (see canBecomeUser).
type dirHandle struct{ host string }

func (d dirHandle) close() {}

func walkDir(root, dir string) (dirHandle, Scope, error) {
	cur := hostPath(root, "/")
	for _, name := range components(dir) {
		cur = filepath.Join(cur, name)
		fi, err := os.Lstat(cur)
		if err != nil {
			return dirHandle{}, Scope{}, err
		}
		if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			return dirHandle{}, Scope{}, &PathError{Op: "open", Path: cur, Err: ErrSymlink}
		}
		if !fi.IsDir() {
			return dirHandle{}, Scope{}, &PathError{Op: "open", Path: cur, Err: fmt.Errorf("not a directory")}
		}
	}
	return dirHandle{host: cur}, windowsScope(dir), nil
}

// windowsScope treats everything in a profile under \Users (but Public
// and Default) as that user's.
func windowsScope(dir string) Scope {
	c := components(dir)
	if len(c) >= 2 && strings.EqualFold(c[0], "Users") {
		switch strings.ToLower(c[1]) {
		case "public", "default", "default user", "all users":
		default:
			return Scope{UID: 1, GID: 1}
		}
	}
	return Scope{UID: -1, GID: -1}
}

func (d dirHandle) openFile(name string) (*os.File, Info, error) {
	p := filepath.Join(d.host, name)
	before, err := os.Lstat(p)
	if err != nil {
		return nil, Info{}, err
	}
	if before.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
		return nil, Info{}, ErrSymlink
	}
	if !before.Mode().IsRegular() {
		return nil, Info{}, ErrNotRegular
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, err
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(before, fi) {
		f.Close()
		return nil, Info{}, ErrChanged
	}
	return f, Info{Mode: fi.Mode(), UID: -1, GID: -1, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (d dirHandle) update(ctx context.Context, sc Scope, name string, opt UpdateOptions, fn UpdateFunc) (bool, error) {
	data, info, exists, write, err := d.next(sc, name, opt, fn, false)
	if err != nil || !write {
		return false, err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(d.host, "."+name+".anchorwatch-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return false, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && exists {
		if now, serr := os.Lstat(filepath.Join(d.host, name)); serr != nil || now.Size() != info.Size || !now.ModTime().Equal(info.ModTime) {
			err = ErrChanged
		}
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.host, name))
	}
	if err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

func (d dirHandle) remove(name string) error {
	p := filepath.Join(d.host, name)
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return ErrNotRegular
	}
	return os.Remove(p)
}

func (d dirHandle) mkdir(name string, mode fs.FileMode) error {
	err := os.Mkdir(filepath.Join(d.host, name), mode)
	if errors.Is(err, fs.ErrExist) {
		return fs.ErrExist
	}
	return err
}

func scopeOfInfo(dir string, _ fs.FileInfo) Scope { return windowsScope(dir) }
