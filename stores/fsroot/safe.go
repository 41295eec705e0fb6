package fsroot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Why a file was refused. Open, OpenAt and ReadFile wrap one of these in
// a *FileError, so callers decide with errors.Is and show the detail.
var (
	ErrSymlink    = errors.New("is a symbolic link")
	ErrNotRegular = errors.New("is not a regular file")
	ErrHardLinked = errors.New("has more than one hard link")
	ErrWrongOwner = errors.New("is not owned by the expected user")
	ErrTooLarge   = errors.New("is larger than the limit")
	// ErrShared is returned by Controller for a path more than one user
	// (or a whole group, or everyone) can change.
	ErrShared = errors.New("can be changed by more than one user")
)

// FileError says which file was refused and why.
type FileError struct {
	Path   string
	Err    error  // one of the Err… values above, or the system's error
	Detail string // what was found, e.g. "a FIFO", "owned by uid 0, want 1000"
}

func (e *FileError) Error() string {
	s := e.Path + " " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *FileError) Unwrap() error { return e.Err }

// Want says what a file must be before it is handed out: always a regular
// file reached without following a symbolic link (unless Follow), and
// optionally within a size, owned by one user and without other hard
// links. The zero Want accepts any regular file of any size.
type Want struct {
	// Max bounds the size in bytes; 0 means no bound at open (ReadFile
	// always needs one).
	Max int64
	// OneLink refuses a file with more than one hard link: in a directory
	// a user controls, a second link means the file is really somewhere
	// else (a root-owned database linked in).
	OneLink bool
	// Follow allows a symbolic link as the last component. Only for paths
	// nobody but root controls (the system store's /etc/ssl/certs links).
	Follow bool

	owner    int
	ownerSet bool
}

// OwnedBy returns w requiring the file to be owned by uid (ignored where
// files have no uid owner, on Windows).
func (w Want) OwnedBy(uid int) Want {
	w.owner, w.ownerSet = uid, true
	return w
}

// ReadFile opens hp as Open does and reads it whole; w.Max must be set.
// A file that grows past w.Max while being read is refused too.
func ReadFile(hp string, w Want) ([]byte, error) {
	if w.Max <= 0 {
		return nil, fmt.Errorf("read %s: internal error: no size limit", hp)
	}
	f, fi, err := Open(hp, w)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, fi.Size(), w.Max)
}

// ReadAll reads an open file of the given size (its fstat), refusing
// more than max bytes whatever the size said.
func ReadAll(f *os.File, size, max int64) ([]byte, error) {
	if size > max {
		return nil, &FileError{Path: f.Name(), Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, over the %d allowed", size, max)}
	}
	buf := make([]byte, 0, size+1)
	data, err := readUpTo(f, buf, max+1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if int64(len(data)) > max {
		return nil, &FileError{Path: f.Name(), Err: ErrTooLarge, Detail: fmt.Sprintf("over %d bytes", max)}
	}
	return data, nil
}

func readUpTo(r io.Reader, buf []byte, n int64) ([]byte, error) {
	lr := io.LimitReader(r, n)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// describeType names what a non-regular file is, for FileError.Detail.
func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}

// ReadFileIn reads p, a path inside root, with its symbolic links
// resolved the way a process chrooted at root would see them (Resolve)
// and the file itself then opened as ReadFile does: the links are
// followed inside the root only, never out of it by the kernel.
func ReadFileIn(root, p string, w Want) ([]byte, error) {
	r, err := Resolve(root, p)
	if err != nil {
		return nil, err
	}
	w.Follow = false
	return ReadFile(Join(root, r), w)
}

// ReadAllReuse is ReadAll reading through *scratch, a buffer kept across
// calls: the result is an exact-size copy, so reading many small files
// allocates one small slice each rather than one read buffer each.
func ReadAllReuse(f *os.File, max int64, scratch *[]byte) ([]byte, error) {
	if cap(*scratch) < 16<<10 {
		*scratch = make([]byte, 0, 16<<10)
	}
	data, err := readUpTo(f, (*scratch)[:0], max+1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	*scratch = data
	if int64(len(data)) > max {
		return nil, &FileError{Path: f.Name(), Err: ErrTooLarge, Detail: fmt.Sprintf("over %d bytes", max)}
	}
	return bytes.Clone(data), nil
}
