//go:build unix

package nss

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// workParents are where a private copy may go: directories every user
// can enter, where only the copy's owner can touch what they make.
var workParents = []string{"/tmp", "/var/tmp", "/dev/shm"}

// workCopy is a private copy of a database for certutil to work on as
// the database's owner, when the owner cannot reach the database itself
// by its path. It lives in a directory of the owner's, mode 0700, with a
// pkcs11.txt we write (the internal module only).
type workCopy struct {
	dir  string
	orig map[string]fs.FileInfo // the originals as copied
}

// pkcs11Internal is the pkcs11.txt of the copy: NSS's internal module,
// nothing else.
const pkcs11Internal = "library=\nname=NSS Internal PKCS #11 Module\nparameters=configdir='sql:%s' certPrefix='' keyPrefix='' secmod='secmod.db' flags= updatedir='' updateCertPrefix='' updateKeyPrefix='' updateid='' updateTokenDescription=''\nNSS=Flags=internal,critical trustOrder=75 cipherOrder=100 slotParams=(1={slotFlags=[ECC,RSA,DSA,DH,RC2,RC4,DES,RANDOM,SHA1,MD5,MD2,SSL,TLS,AES,Camellia,SEED,SHA256,SHA512] askpw=any timeout=30})\n"

func newWorkCopy(ctx context.Context, d *dbDir, u fsroot.User) (*workCopy, error) {
	w := &workCopy{orig: map[string]fs.FileInfo{}}
	data := map[string][]byte{}
	for _, name := range []string{FormatCert9, "key4.db"} {
		b, err := d.read(ctx, name, maxCertDB, name != FormatCert9)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		fi, err := d.stat(name, maxCertDB)
		if err != nil {
			return nil, err
		}
		data[name], w.orig[name] = b, fi
	}
	err := fsroot.AsUser(u.UID, u.GID, func() error {
		dir, err := mkWorkDir()
		if err != nil {
			return err
		}
		w.dir = dir
		data["pkcs11.txt"] = fmt.Appendf(nil, pkcs11Internal, dir)
		for name, b := range data {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.remove()
		return nil, fmt.Errorf("private copy for uid %d: %w", u.UID, err)
	}
	return w, nil
}

func mkWorkDir() (string, error) {
	var errs []error
	for _, p := range append([]string{os.TempDir()}, workParents...) {
		dir, err := os.MkdirTemp(p, "anchorwatch-nss-")
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// commit moves the copy's cert9.db and key4.db back over the originals,
// as the owner, through the open database directory: key4.db first, so
// that a reader in between sees every MAC a trust object needs. If an
// original changed since it was copied, nothing is moved and the caller
// tries again later.
func (w *workCopy) commit(d *dbDir, u fsroot.User, saved map[string]fs.FileInfo) error {
	return fsroot.AsUser(u.UID, u.GID, func() error {
		for name, was := range w.orig {
			now, err := d.stat(name, maxCertDB)
			if err != nil || !os.SameFile(was, now) || !was.ModTime().Equal(now.ModTime()) || was.Size() != now.Size() {
				return fmt.Errorf("%s changed while certutil worked on a copy; nothing moved back, will try again", name)
			}
		}
		for _, name := range []string{"key4.db", FormatCert9} {
			b, err := fsroot.ReadFile(filepath.Join(w.dir, name), fsroot.Want{Max: maxCertDB})
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o600)
			if fi, ok := saved[name]; ok {
				mode = fi.Mode().Perm()
			}
			if err := replaceAt(d.f, name, b, mode); err != nil {
				return fmt.Errorf("move %s back: %w", name, err)
			}
		}
		return d.f.Sync()
	})
}

// replaceAt writes data to a new file in dir and renames it over name,
// all relative to the open directory: no path above it is looked up.
func replaceAt(dir *os.File, name string, data []byte, mode fs.FileMode) error {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	tmp := "." + name + ".anchorwatch-" + hex.EncodeToString(b)
	fd, err := unix.Openat(int(dir.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode.Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), name)
	}
	if err != nil {
		_ = unix.Unlinkat(int(dir.Fd()), tmp, 0)
	}
	return err
}

func (w *workCopy) remove() {
	if w.dir != "" {
		_ = os.RemoveAll(w.dir)
	}
}

// userReaches reports whether the database's owner can open its
// directory by its path, as certutil running as them must.
func (r *runner) userReaches() bool {
	want, err := r.dir.f.Stat()
	if err != nil {
		return false
	}
	return fsroot.AsUser(r.user.UID, r.user.GID, func() error {
		fi, err := os.Stat(r.dir.hp)
		if err != nil {
			return err
		}
		if !os.SameFile(fi, want) {
			return errors.New("another directory")
		}
		return nil
	}) == nil
}

func dirPerm(d *dbDir) fs.FileMode {
	fi, err := d.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Mode().Perm()
}
