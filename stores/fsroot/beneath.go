package fsroot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Why an operation beneath a root was refused, besides ErrSymlink,
// ErrNotRegular and ErrTooLarge; wrapped in a *PathError by every
// function.
var (
	ErrUnsafeDir = errors.New("the directory is writable by other users")
	ErrUserTree  = errors.New("in a directory a user owns, and this platform cannot act as that user from here")
	ErrOwner     = errors.New("owned by a user other than the directory's owner")
	ErrChanged   = errors.New("the file kept changing while it was being updated")
	ErrLocked    = errors.New("the directory stayed locked by another writer")
)

// DefaultTimeout bounds an operation whose context has no deadline.
const DefaultTimeout = 20 * time.Second

// Scope says who may change the entries of a directory: root alone
// (UID -1) or the user owning it.
type Scope struct {
	UID, GID int
	// Unsafe is set when users other than the owner may write the
	// directory; writes there are refused.
	Unsafe string
}

// User reports whether a user (not root) controls the directory.
func (s Scope) User() bool { return s.UID > 0 }

// Info is what fstat said about a file read through this package.
type Info struct {
	Mode     fs.FileMode
	UID, GID int
	Size     int64
	ModTime  time.Time
	Dev, Ino uint64
}

func (a Info) same(b Info) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size && a.ModTime.Equal(b.ModTime)
}

// PathError names the file an error is about.
type PathError struct {
	Op, Path string
	Err      error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

func pathErr(op, p string, err error) error {
	var pe *PathError
	if errors.As(err, &pe) {
		return err
	}
	return &PathError{Op: op, Path: p, Err: err}
}

// HostPath is the host path of p (a path inside root) for the many
// lookups of discovery: no copy when p is clean already. Join is the
// same with the host's separators.
func HostPath(root, p string) string { return hostPath(root, p) }

// hostPath is HostPath.
func hostPath(root, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	p = path.Clean(p) // no copy when p is clean already, as discovery's paths are
	if root == "" || root == "/" {
		return p
	}
	return strings.TrimSuffix(root, "/") + p
}

// components splits a clean absolute path into its names.
func components(p string) []string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// run runs fn on its own goroutine — as the user of sc when asUser is set
// and we are privileged — and waits for it or for the deadline. After a
// deadline fn may still finish in the background; every write it does is
// atomic, so the file is then either old or new.
func run(ctx context.Context, sc Scope, asUser bool, fn func() error) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		if asUser && sc.User() {
			done <- AsUser(sc.UID, sc.GID, fn)
			return
		}
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ScopeOf returns who controls the directory holding p (a path inside
// root). It fails when a component is a symbolic link.
func ScopeOf(root, p string) (Scope, error) {
	d, sc, err := walkDir(root, path.Dir(path.Clean("/"+p)))
	if err != nil {
		return Scope{}, pathErr("open", p, err)
	}
	d.close()
	return sc, nil
}

// ReadBeneath reads the regular file p (inside root) of at most max bytes,
// never following a symbolic link on the way, and never blocking on a FIFO
// or device. It returns the file's fstat information.
func ReadBeneath(ctx context.Context, root, p string, max int64) ([]byte, Info, error) {
	return ReadBeneathAs(ctx, Scope{}, root, p, max)
}

// ReadBeneathAs is ReadBeneath done with the file-system identity of the user
// as (when as.User()): for a file that a user's configuration names, so
// that root never reads for a user what the user could not read. Where the
// platform cannot act as a user, only a file in that user's own directory
// is read (ErrUserTree otherwise).
func ReadBeneathAs(ctx context.Context, as Scope, root, p string, max int64) ([]byte, Info, error) {
	return ReadBeneathBuf(ctx, as, root, p, max, nil)
}

// ReadBeneathBuf is ReadBeneathAs reading into buf when it is large enough (the
// result then aliases buf): for callers that read many large files.
func ReadBeneathBuf(ctx context.Context, as Scope, root, p string, max int64, buf []byte) ([]byte, Info, error) {
	var (
		data []byte
		info Info
	)
	d, sc, err := walkDir(root, path.Dir(path.Clean("/"+p)))
	if err != nil {
		return nil, Info{}, pathErr("read", p, err)
	}
	defer d.close()
	asUser := as.User()
	if asUser && !canBecomeUser() {
		if sc.UID != as.UID {
			return nil, Info{}, pathErr("read", p, fmt.Errorf("%w: run anchorwatch as uid %d", ErrUserTree, as.UID))
		}
		asUser = false
	}
	err = run(ctx, as, asUser, func() error {
		data, info, err = d.read(path.Base(p), max, buf)
		return err
	})
	if err != nil {
		return nil, Info{}, pathErr("read", p, err)
	}
	return data, info, nil
}

// Exists reports whether p (inside root) is present, without following a
// symbolic link at its last component.
func Exists(root, p string) bool {
	_, err := os.Lstat(hostPath(root, p))
	return err == nil
}

// UpdateFunc computes the new content of a file from its current content
// (nil and exists false when it does not exist yet). Returning data equal
// to old, or nil when the file does not exist, writes nothing.
type UpdateFunc func(old []byte, exists bool) ([]byte, error)

// UpdateOptions tune Update.
type UpdateOptions struct {
	Max  int64       // largest file read or written
	Mode fs.FileMode // mode of a new file; a replaced file keeps its mode
	// DryRun calls fn but writes nothing.
	DryRun bool
	// As, when a user, is the identity to work with whoever owns the
	// directory: the owner of the configuration that names the file. A
	// file in another user's directory is then refused.
	As Scope
}

// Update replaces the file p (inside root) with what fn returns, under an
// flock on its directory, atomically, keeping mode and owner. In a
// directory a user owns it works as that user; it retries a few times when
// another writer replaces the file between read and rename.
func Update(ctx context.Context, root, p string, opt UpdateOptions, fn UpdateFunc) (changed bool, err error) {
	dir, base := path.Dir(path.Clean("/"+p)), path.Base(p)
	if opt.Max <= 0 {
		opt.Max = 32 << 20
	}
	if opt.Mode == 0 {
		opt.Mode = 0o644
	}
	d, sc, err := walkDir(root, dir)
	if err != nil {
		return false, pathErr("update", p, err)
	}
	defer d.close()
	if sc.Unsafe != "" && !opt.DryRun {
		return false, pathErr("update", p, fmt.Errorf("%w (%s)", ErrUnsafeDir, sc.Unsafe))
	}
	if opt.As.User() {
		if sc.User() && sc.UID != opt.As.UID {
			return false, pathErr("update", p, fmt.Errorf("%w: the directory is uid %d's, the configuration naming it uid %d's", ErrOwner, sc.UID, opt.As.UID))
		}
		sc = opt.As
	}
	if sc.User() && !opt.DryRun && !canBecomeUser() {
		return false, pathErr("update", p, fmt.Errorf("%w: run anchorwatch as uid %d", ErrUserTree, sc.UID))
	}
	err = run(ctx, sc, !opt.DryRun, func() error {
		for attempt := 0; attempt < 3; attempt++ {
			changed, err = d.update(ctx, sc, base, opt, fn)
			if !errors.Is(err, ErrChanged) {
				return err
			}
		}
		return err
	})
	if err != nil {
		return false, pathErr("update", p, err)
	}
	return changed, nil
}

// Remove deletes the regular file p (inside root), as the directory's
// owner when a user owns it. A missing file is not an error.
func Remove(ctx context.Context, root, p string) error {
	d, sc, err := walkDir(root, path.Dir(path.Clean("/"+p)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return pathErr("remove", p, err)
	}
	defer d.close()
	if sc.Unsafe != "" {
		return pathErr("remove", p, fmt.Errorf("%w (%s)", ErrUnsafeDir, sc.Unsafe))
	}
	if sc.User() && !canBecomeUser() {
		return pathErr("remove", p, fmt.Errorf("%w: run anchorwatch as uid %d", ErrUserTree, sc.UID))
	}
	err = run(ctx, sc, true, func() error { return d.remove(path.Base(p)) })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr("remove", p, err)
	}
	return nil
}

// MkdirRoot creates the directory p (inside root) and its missing parents
// with mode, for files Anchorwatch itself owns. Every existing component
// must be a directory owned by root and not writable by others: a
// directory a user could have planted is refused.
func MkdirRoot(root, p string, mode fs.FileMode) error {
	cur := "/"
	for _, name := range components(p) {
		next := path.Join(cur, name)
		d, sc, err := walkDir(root, next)
		if err == nil {
			d.close()
			if sc.User() || sc.Unsafe != "" {
				return pathErr("mkdir", next, fmt.Errorf("%w: expected a directory only root can write", ErrUnsafeDir))
			}
			cur = next
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return pathErr("mkdir", next, err)
		}
		parent, _, err := walkDir(root, cur)
		if err != nil {
			return pathErr("mkdir", cur, err)
		}
		err = parent.mkdir(name, mode)
		parent.close()
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return pathErr("mkdir", next, err)
		}
		cur = next
	}
	return nil
}

// read opens name in d (the platform's openFile: no link followed, a
// regular file) and reads it bounded by max, into buf when it is large
// enough.
func (d dirHandle) read(name string, max int64, buf []byte) ([]byte, Info, error) {
	f, info, err := d.openFile(name)
	if err != nil {
		return nil, info, err
	}
	defer f.Close()
	data, err := readSized(f, info.Size, max, buf)
	return data, info, err
}

// next reads name in d and asks fn for its new content, refused over
// opt.Max; write is false when there is nothing to write (no change,
// nothing to create, a dry run). With owned, a file in a user's
// directory must be that user's (where files have uid owners).
func (d dirHandle) next(sc Scope, name string, opt UpdateOptions, fn UpdateFunc, owned bool) (data []byte, info Info, exists, write bool, err error) {
	old, info, err := d.read(name, opt.Max, nil)
	exists = err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, info, false, false, err
	}
	if owned && exists && sc.User() && info.UID != sc.UID {
		return nil, info, exists, false, fmt.Errorf("%w (file uid %d, directory uid %d)", ErrOwner, info.UID, sc.UID)
	}
	if data, err = fn(old, exists); err != nil {
		return nil, info, exists, false, err
	}
	if (!exists && data == nil) || (exists && string(data) == string(old)) || opt.DryRun {
		return nil, info, exists, false, nil
	}
	if int64(len(data)) > opt.Max {
		return nil, info, exists, false, fmt.Errorf("%w: new content is %d bytes", ErrTooLarge, len(data))
	}
	return data, info, exists, true, nil
}

// readSized reads the size bytes fstat announced into buf (grown when too
// small). A file that turns out longer than announced changed while it
// was read: ErrChanged, never a silently cut read.
func readSized(r io.Reader, size, max int64, buf []byte) ([]byte, error) {
	if size > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, max)
	}
	want := int(size) + 1
	if cap(buf) < want {
		buf = make([]byte, want)
	}
	buf = buf[:want]
	n := 0
	for n < want {
		k, err := r.Read(buf[n:])
		n += k
		if errors.Is(err, io.EOF) || k == 0 && err == nil {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n > int(size) {
		return nil, fmt.Errorf("%w: it grew while being read", ErrChanged)
	}
	return buf[:n], nil
}

// DirScope is a quick, non-authoritative look (one lstat) at who
// controls dir (inside root), for describing a store at discovery; the
// operations decide again on the descriptors they open.
func DirScope(root, dir string) (Scope, error) {
	fi, err := os.Lstat(hostPath(root, dir))
	if err != nil {
		return Scope{}, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return Scope{}, ErrSymlink
	}
	return scopeOfInfo(dir, fi), nil
}

// Writable reports whether writes in a directory of scope sc can be done
// from this process: not in an unsafe directory, and in a user's
// directory only where we can act as the user.
func Writable(sc Scope) bool {
	return sc.Unsafe == "" && (!sc.User() || canBecomeUser())
}
