package nss

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Size limits of the files read from a database directory. Real ones:
// cert9.db a few hundred KiB (the Mozilla bundle is not in it), key4.db
// tens of KiB, profiles.ini a few hundred bytes.
const (
	maxCertDB = 64 << 20
	maxKeyDB  = 64 << 20
)

// dbDir is a database directory, opened without following a symbolic
// link, with the owner every file in it must have.
type dbDir struct {
	hp       string // host path
	f        *os.File
	uid, gid int // owner of the directory; -1 where files have no uid
}

func openDBDir(hp string) (*dbDir, error) {
	f, err := fsroot.OpenDir(hp)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	uid, gid := fsroot.FileOwner(fi)
	return &dbDir{hp: hp, f: f, uid: uid, gid: gid}, nil
}

func (d *dbDir) Close() error { return d.f.Close() }

// want is what every database file must be: a regular file (not a link
// to somewhere else) owned by the directory's owner, and in a user's
// directory without a second hard link.
func (d *dbDir) want(max int64) fsroot.Want {
	w := fsroot.Want{Max: max, OneLink: d.uid != 0}
	if d.uid >= 0 {
		w = w.OwnedBy(d.uid)
	}
	return w
}

// stat checks name in d as want says without reading it; a missing file
// gives fs.ErrNotExist.
func (d *dbDir) stat(name string, max int64) (fs.FileInfo, error) {
	f, fi, err := fsroot.OpenAt(d.f, name, d.want(max))
	if err != nil {
		return nil, err
	}
	f.Close()
	return fi, nil
}

// read reads the file name of d whole, under SQLite's shared lock so a
// writer (Firefox, certutil) is never caught half way. optional makes a
// missing file (nil, nil).
func (d *dbDir) read(ctx context.Context, name string, max int64, optional bool) ([]byte, error) {
	f, fi, err := fsroot.OpenAt(d.f, name, d.want(max))
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	unlock, err := sharedLock(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	defer unlock()
	return fsroot.ReadAll(f, fi.Size(), max)
}

// readEntries reads the database in the host directory hp: cert9.db and
// key4.db, each checked on its open descriptor and read under SQLite's
// lock, then parsed in memory.
func readEntries(ctx context.Context, hp string) ([]entry, error) {
	d, err := openDBDir(hp)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	cert, err := d.read(ctx, FormatCert9, maxCertDB, false)
	if err != nil {
		return nil, err
	}
	key, err := d.read(ctx, "key4.db", maxKeyDB, true)
	if err != nil {
		return nil, err
	}
	return parseDB(ctx, cert, key, hp)
}
