package installers

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// pkgEntry is one file or directory of a macOS package payload (or of its
// Scripts archive): name relative to the install location ("." or
// "./Library/..."), mode with type bits, owner, content.
type pkgEntry struct {
	name     string
	mode     fs.FileMode
	uid, gid int
	data     []byte
}

// unixMode is the st_mode of the entry: type bits and permissions.
func (e pkgEntry) unixMode() uint32 {
	m := uint32(e.mode.Perm())
	switch {
	case e.mode.IsDir():
		m |= 0o040000
	case e.mode.IsRegular():
		m |= 0o100000
	}
	return m
}

// sortEntries orders entries as a payload lists them: parents before
// children, by name.
func sortEntries(es []pkgEntry) {
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
}

// checkEntries refuses names that are not ./-relative clean paths, and
// any entry whose parent directory is not an entry too.
func checkEntries(es []pkgEntry) error {
	dirs, seen := map[string]bool{}, map[string]bool{}
	for _, e := range es {
		if seen[e.name] {
			return fmt.Errorf("payload entry %q: listed twice", e.name)
		}
		seen[e.name] = true
		if e.mode.IsDir() {
			dirs[e.name] = true
		}
	}
	for _, e := range es {
		if rel := strings.TrimPrefix(e.name, "./"); e.name != "." &&
			(rel == e.name || rel == "." || path.Clean(rel) != rel || strings.HasPrefix(rel, "..")) {
			return fmt.Errorf("payload entry %q: want a clean ./-relative path", e.name)
		}
		if !e.mode.IsDir() && !e.mode.IsRegular() {
			return fmt.Errorf("payload entry %q: only files and directories", e.name)
		}
		if e.name != "." && !dirs[entryDir(e.name)] {
			return fmt.Errorf("payload entry %q: its directory %q is not in the payload", e.name, entryDir(e.name))
		}
	}
	return nil
}

// entryDir is the directory of an entry name, "./"-relative like it.
func entryDir(name string) string {
	d := path.Dir(strings.TrimPrefix(name, "./"))
	if d == "." {
		return "."
	}
	return "./" + d
}

// cpioODC writes entries as a POSIX.1 portable ("odc", magic 070707)
// cpio archive, the format of a macOS package's Payload and Scripts, and
// gzips it.
func cpioODC(es []pkgEntry, mtime time.Time) ([]byte, error) {
	if err := checkEntries(es); err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	for i, e := range es {
		if err := odcHeader(&raw, e.name, e.unixMode(), e.uid, e.gid, i+1, mtime, len(e.data)); err != nil {
			return nil, err
		}
		raw.Write(e.data)
	}
	if err := odcHeader(&raw, "TRAILER!!!", 0, 0, 0, 0, time.Unix(0, 0), 0); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = mtime
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

// odcHeader writes one odc header and the NUL-terminated name: fields in
// octal ASCII, six digits each but mtime and file size (eleven).
func odcHeader(b *bytes.Buffer, name string, mode uint32, uid, gid, ino int, mtime time.Time, size int) error {
	if int64(size) >= 1<<33 || uid >= 1<<18 || gid >= 1<<18 || len(name)+1 >= 1<<18 {
		return fmt.Errorf("cpio entry %q does not fit the odc format", name)
	}
	fmt.Fprintf(b, "070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o",
		0, ino, mode, uid, gid, 1, 0, mtime.Unix(), len(name)+1, size)
	b.WriteString(name)
	b.WriteByte(0)
	return nil
}
