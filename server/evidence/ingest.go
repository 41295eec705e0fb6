package evidence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Checkpoint records how far a file has been ingested. A file is known by
// its content, not its name: PrefixHash is the SHA-256 of its first
// PrefixLen bytes, so a rotated, truncated or rewritten file no longer
// matches and is read again from the start, while a file that only grew
// resumes at Offset.
type Checkpoint struct {
	Key        string // Format + ":" + absolute path
	Format     string
	Path       string
	Offset     int64 // byte offset after the last line committed
	PrefixLen  int64
	PrefixHash string // hex SHA-256 of the first PrefixLen bytes
}

// Prefix lengths hashed into a checkpoint: logs are appended to, so their
// first bytes identify them; lease snapshots are rewritten in place, so the
// whole committed range is hashed (up to a bound).
const (
	logPrefixLen      = 4 << 10
	snapshotPrefixMax = 64 << 20
)

// Store is where an ingest puts what it reads. Commit must store the
// observations and the checkpoint atomically: that is what makes an
// interrupted ingest resume without duplicates. Observations is only valid
// during the call.
type Store interface {
	LoadCheckpoint(ctx context.Context, key string) (cp Checkpoint, found bool, err error)
	Commit(ctx context.Context, obs []Observation, cp Checkpoint) error
}

// IngestOptions tune IngestFile and Follow.
type IngestOptions struct {
	Options
	// Progress, if set, is called after each committed batch with the
	// bytes done and the file size.
	Progress func(done, total int64)
}

// CheckpointKey is the key under which the checkpoint of a file is kept.
func CheckpointKey(formatName, path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return formatName + ":" + path
}

// IngestFile reads one evidence file of the named format into st, resuming
// from the file's checkpoint. Ingesting a file again changes nothing;
// ingesting it after it grew reads only the new lines. The returned Stats
// cover the bytes read by this call.
func IngestFile(ctx context.Context, st Store, formatName, path string, opt IngestOptions) (Stats, error) {
	if _, ok := formats[formatName]; !ok {
		return Stats{}, fmt.Errorf("ingest %s: %w %q (known: %v)", path, ErrUnknownFormat, formatName, Formats())
	}
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, fmt.Errorf("ingest %s evidence: %w", formatName, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Stats{}, fmt.Errorf("ingest %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Stats{}, fmt.Errorf("ingest %s: not a regular file", path)
	}
	if opt.ModTime.IsZero() {
		opt.ModTime = fi.ModTime()
	}
	key := CheckpointKey(formatName, path)
	cp, found, err := st.LoadCheckpoint(ctx, key)
	if err != nil {
		return Stats{}, fmt.Errorf("ingest %s: loading checkpoint: %w", path, err)
	}
	start := int64(0)
	if found {
		if ok, err := cp.matches(f, fi.Size()); err != nil {
			return Stats{}, fmt.Errorf("ingest %s: %w", path, err)
		} else if ok {
			start = cp.Offset
		}
	}
	_, stats, err := ingestFrom(ctx, st, f, fi.Size(), formatName, key, start, opt)
	if err != nil {
		return stats, fmt.Errorf("ingest %s: %w", path, err)
	}
	return stats, nil
}

// matches reports whether f is still the file cp was taken from, and
// holds at least cp.Offset bytes.
func (cp Checkpoint) matches(f *os.File, size int64) (bool, error) {
	if cp.Offset > size || cp.PrefixLen > size || cp.PrefixLen < 0 {
		return false, nil
	}
	sum, err := hashPrefix(f, cp.PrefixLen)
	if err != nil {
		return false, err
	}
	return sum == cp.PrefixHash, nil
}

func hashPrefix(f *os.File, n int64) (string, error) {
	p := prefixHasher{f: f, h: sha256.New()}
	return p.sum(n)
}

// ingestFrom parses f from start and commits batch by batch; it returns
// the checkpoint of the last commit (PrefixHash is empty if there was none).
func ingestFrom(ctx context.Context, st Store, f *os.File, size int64, formatName, key string, start int64, opt IngestOptions) (Checkpoint, Stats, error) {
	o := opt.Options
	o.BaseOffset = start
	if start > 0 && HasHeader(formatName) {
		hdr, err := firstLine(f, o.MaxLineBytes)
		if err != nil {
			return Checkpoint{}, Stats{}, err
		}
		o.Header = hdr
	}
	cp := Checkpoint{Key: key, Format: formatName, Path: f.Name(), Offset: start}
	if abs, err := filepath.Abs(f.Name()); err == nil {
		cp.Path = abs
	}
	snapshot := Snapshot(formatName)
	prefix := prefixHasher{f: f, h: sha256.New()}
	emit := func(b Batch) error {
		n := int64(logPrefixLen)
		if snapshot {
			n = b.Offset
			if n > snapshotPrefixMax {
				n = logPrefixLen
			}
		}
		if n > b.Offset {
			n = b.Offset
		}
		sum, err := prefix.sum(n)
		if err != nil {
			return err
		}
		cp.PrefixHash = sum
		cp.PrefixLen, cp.Offset = n, b.Offset
		if err := st.Commit(ctx, b.Observations, cp); err != nil {
			return &commitError{err}
		}
		if opt.Progress != nil {
			opt.Progress(b.Offset, size)
		}
		return nil
	}
	r := io.NewSectionReader(f, start, 1<<62)
	stats, err := Parse(ctx, formatName, r, o, emit)
	if ce := (*commitError)(nil); errors.As(err, &ce) {
		return cp, stats, fmt.Errorf("storing observations: %w", ce.err)
	}
	return cp, stats, err
}

// prefixHasher hashes a growing prefix of a file, reading each byte once:
// a lease snapshot committed in many batches is hashed up to each batch's
// offset, which hashing from the start every time would make quadratic.
type prefixHasher struct {
	f *os.File
	h hash.Hash
	n int64 // bytes of f in h
}

// sum returns the hex SHA-256 of the first n bytes of the file.
func (p *prefixHasher) sum(n int64) (string, error) {
	if n < p.n {
		p.h.Reset()
		p.n = 0
	}
	if _, err := io.Copy(p.h, io.NewSectionReader(p.f, p.n, n-p.n)); err != nil {
		return "", fmt.Errorf("reading the first %d bytes: %w", n, err)
	}
	p.n = n
	return hex.EncodeToString(p.h.Sum(nil)), nil
}

type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// firstLine reads the first line of f (without its terminator).
func firstLine(f *os.File, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, int64(max)+1), 4096)
	line, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the header line: %w", err)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
