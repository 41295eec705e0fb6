package evidence

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// FollowOptions tune Follow.
type FollowOptions struct {
	IngestOptions
	// Poll is how often the file is checked for new lines, rotation and
	// truncation. Default 250ms.
	Poll time.Duration
	// Logger gets rotation and truncation notices. Default slog.Default().
	Logger *slog.Logger
}

// Follow ingests the file at path like IngestFile, then keeps reading lines
// as they are appended until ctx is done. It survives log rotation: when
// path is renamed away and a new file created, the rest of the old file
// is read and the new one is read from its start; when the file is
// truncated in place (copytruncate), it is read again from its start.
// Progress is committed batch by batch with checkpoints, so a restarted
// Follow resumes where the last one stopped. It returns ctx's error when
// ctx ends, or the first storage or read error.
//
// Long on purpose: the rotation cases (renamed away, truncated in place,
// replaced) share the open file, its identity and the checkpoint; one
// loop keeps them in order (the follow tests rotate each way).
func Follow(ctx context.Context, st Store, formatName, path string, opt FollowOptions) error {
	if _, ok := formats[formatName]; !ok {
		return fmt.Errorf("follow %s: %w %q (known: %v)", path, ErrUnknownFormat, formatName, Formats())
	}
	if opt.Poll <= 0 {
		opt.Poll = 250 * time.Millisecond
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	key := CheckpointKey(formatName, path)
	ticker := time.NewTicker(opt.Poll)
	defer ticker.Stop()
	wait := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			return nil
		}
	}

	var (
		f      *os.File
		fi     os.FileInfo
		offset int64
		last   Checkpoint // of the last read that committed
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	// read ingests f from offset; final drains a file that will not grow
	// any more (rotated away), handling an unterminated last line.
	read := func(final bool) error {
		size := fi.Size()
		if cur, err := f.Stat(); err == nil {
			size = cur.Size()
		}
		if size == offset && !final {
			return nil
		}
		o := opt.IngestOptions
		o.Follow = !final
		if o.ModTime.IsZero() {
			o.ModTime = time.Now()
		}
		cp, _, err := ingestFrom(ctx, st, f, size, formatName, key, offset, o)
		if err != nil {
			return fmt.Errorf("follow %s: %w", path, err)
		}
		if cp.PrefixHash != "" { // something was committed
			offset, last = cp.Offset, cp
		}
		return nil
	}
	for {
		if f == nil {
			nf, err := os.Open(path)
			if errors.Is(err, fs.ErrNotExist) {
				if err := wait(); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("follow %s: %w", path, err)
			}
			nfi, err := nf.Stat()
			if err != nil {
				nf.Close()
				return fmt.Errorf("follow %s: %w", path, err)
			}
			f, fi, offset, last = nf, nfi, 0, Checkpoint{}
			cp, found, err := st.LoadCheckpoint(ctx, key)
			if err != nil {
				return fmt.Errorf("follow %s: loading checkpoint: %w", path, err)
			}
			if found {
				if ok, err := cp.matches(f, fi.Size()); err != nil {
					return fmt.Errorf("follow %s: %w", path, err)
				} else if ok {
					offset, last = cp.Offset, cp
				}
			}
		}
		if err := read(false); err != nil {
			return err
		}
		if err := wait(); err != nil {
			return err
		}
		// Rotated (path now names another file, or none)?
		pfi, err := os.Stat(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("follow %s: %w", path, err)
		}
		if err != nil || !os.SameFile(fi, pfi) {
			log.Info("evidence file rotated; finishing the old one", "path", path, "format", formatName)
			if err := read(true); err != nil {
				return err
			}
			f.Close()
			f = nil
			continue
		}
		// Truncated in place (copytruncate), or rewritten under us?
		cur, err := f.Stat()
		if err != nil {
			return fmt.Errorf("follow %s: %w", path, err)
		}
		same := true
		if last.Offset > 0 && offset > 0 {
			if same, err = last.matches(f, cur.Size()); err != nil {
				return fmt.Errorf("follow %s: %w", path, err)
			}
		}
		if cur.Size() < offset || !same {
			log.Info("evidence file truncated or rewritten; reading it from the start", "path", path, "format", formatName)
			offset, last = 0, Checkpoint{}
		}
	}
}
