package evidence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxLineBytes = 64 << 10 // a line longer than this is skipped and counted as TooLong
	DefaultBatchLines   = 1 << 18  // lines aggregated before a batch is emitted
	// DefaultBatchObservations bounds the observations a batch holds: a
	// lease file has one device per record, which lines do not bound.
	DefaultBatchObservations = 1 << 14
	minReadBuffer            = 256 << 10
)

// Options tune a parse. The zero value is usable.
type Options struct {
	// MaxLineBytes bounds one line; longer lines are skipped (TooLong).
	MaxLineBytes int
	// BatchLines is how many lines are aggregated before a Batch is
	// emitted (a batch is also emitted at end of input).
	BatchLines int
	// BatchObservations bounds the distinct observations aggregated
	// before a Batch is emitted, which bounds memory however many
	// devices the input names.
	BatchObservations int
	// Location is the time zone of timestamps written in local time
	// (Squid's cache.log, ISC dhcpd's "local" format). Default time.Local.
	Location *time.Location
	// ModTime is when a lease snapshot (dnsmasq) was last written, used
	// as the time its leases were seen. Default: now.
	ModTime time.Time
	// BaseOffset is added to every Batch.Offset: the position in the file
	// the reader starts at when resuming from a checkpoint.
	BaseOffset int64
	// Header is the header line of a format found by header (kea, csv)
	// when the reader starts past it (resuming from a checkpoint).
	Header []byte
	// Follow means more input may arrive later (tailing a live file): an
	// unterminated last line is left unread instead of being handled.
	Follow bool
}

func (o Options) withDefaults() Options {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.BatchLines <= 0 {
		o.BatchLines = DefaultBatchLines
	}
	if o.BatchObservations <= 0 {
		o.BatchObservations = DefaultBatchObservations
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.ModTime.IsZero() {
		o.ModTime = time.Now()
	}
	return o
}

// lineResult is what a format makes of one line.
type lineResult uint8

const (
	lineParsed lineResult = iota
	lineIgnored
	lineMalformed
	lineUnattributed // evidence without a device to pin it on
)

// format is one evidence format: it consumes complete lines and hands out
// the aggregated observations.
type format interface {
	// line handles one complete line, without its line terminator.
	line(b []byte) lineResult
	// flush appends the pending observations to dst and forgets them.
	// atEOF is true when the input is exhausted for now. ok is false when
	// the format is inside a multi-line record (or must see the whole
	// input) and cannot be checkpointed yet; then dst is returned as is.
	flush(dst []Observation, atEOF bool) (out []Observation, ok bool)
	// pending is how many observations flush would hand out now.
	pending() int
	// snapshot is true for files rewritten whole (lease databases): an
	// unterminated last line is a complete record, not a line in progress.
	snapshot() bool
	// finish is called once at the true end of input (not when following);
	// it drops an unfinished multi-line record and returns how many
	// records it dropped (each opened by a line counted as ignored).
	finish() int64
}

// Formats lists the format names Parse accepts, sorted.
func Formats() []string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var formats = map[string]func(Options) format{
	SourceSquidAccess: func(o Options) format { return newSquidAccess(o) },
	SourceSquidCache:  func(o Options) format { return newSquidCache(o) },
	SourceDHCPD:       func(o Options) format { return newDHCPD(o) },
	SourceKea:         func(o Options) format { return newKea(o) },
	SourceDnsmasq:     func(o Options) format { return newDnsmasq(o) },
	SourceCSV:         func(o Options) format { return newCSV(o) },
}

// ErrUnknownFormat is returned by Parse for a format name it does not know.
var ErrUnknownFormat = errors.New("unknown evidence format")

// Snapshot reports whether files of the named format are rewritten whole
// (lease databases) rather than appended to (logs).
func Snapshot(formatName string) bool {
	mk, ok := formats[formatName]
	return ok && mk(Options{}).snapshot()
}

// HasHeader reports whether files of the named format start with a header
// line that later lines depend on (pass it as Options.Header on resume).
func HasHeader(formatName string) bool {
	return formatName == SourceKea || formatName == SourceCSV
}

// Parse reads evidence of the named format from r and calls emit with
// batches of observations. Bad content never makes it fail: malformed,
// partial and over-long lines are counted in the returned Stats and
// skipped. It returns an error only for an unknown format, a read error,
// a cancelled ctx or an error from emit (returned as is, so the caller
// can tell its own errors apart). The Batch handed to emit is only valid
// during the call.
//
// Long on purpose: one read loop whose states (an over-long line being
// skipped, an unterminated tail, follow mode) share the counters and the
// committed offset; kept whole so the offset bookkeeping reads in one
// place (FuzzParse and the resume tests hold it).
func Parse(ctx context.Context, formatName string, r io.Reader, opt Options, emit func(Batch) error) (Stats, error) {
	mk, ok := formats[formatName]
	if !ok {
		return Stats{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownFormat, formatName, Formats())
	}
	opt = opt.withDefaults()
	f := mk(opt)
	size := opt.MaxLineBytes + 1
	if size < minReadBuffer {
		size = minReadBuffer
	}
	br := bufio.NewReaderSize(r, size)
	var (
		st        Stats
		batch     []Observation
		pending   int   // lines since the last emitted batch
		safeOff   int64 // offset after the last line covered by an emitted batch
		tooLong   bool  // discarding the rest of an over-long line
		committed Stats // stats as of safeOff
	)
	doEmit := func(atEOF bool) error {
		var ok bool
		batch, ok = f.flush(batch[:0], atEOF)
		if !ok {
			return nil
		}
		committed = st
		safeOff = st.Bytes
		pending = 0
		if len(batch) == 0 && committed.Bytes == 0 {
			return nil
		}
		return emit(Batch{Observations: batch, Offset: opt.BaseOffset + safeOff, Stats: committed})
	}
	for {
		if pending >= opt.BatchLines || f.pending() >= opt.BatchObservations {
			if err := ctx.Err(); err != nil {
				return committed, err
			}
			if err := doEmit(false); err != nil {
				return committed, err
			}
		}
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than the buffer: skip through the end of the line.
			st.Bytes += int64(len(b))
			if !tooLong {
				tooLong = true
				st.Lines++
				st.TooLong++
				pending++
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return committed, fmt.Errorf("reading %s evidence at byte %d: %w", formatName, opt.BaseOffset+st.Bytes, err)
		}
		if len(b) == 0 { // clean end of input
			break
		}
		terminated := b[len(b)-1] == '\n'
		if !terminated {
			// Unterminated last line.
			if tooLong {
				// The tail of an over-long line: leave it where it is
				// in follow mode, consume it otherwise.
				if !opt.Follow {
					st.Bytes += int64(len(b))
				}
				break
			}
			if opt.Follow {
				break // more may come; don't consume it
			}
			st.Lines++
			if !f.snapshot() {
				// A log line still being written: count it, leave it
				// unconsumed so a later ingest reads it whole.
				st.Partial++
				break
			}
			st.Bytes += int64(len(b))
		} else {
			st.Bytes += int64(len(b))
			if tooLong {
				tooLong = false
				continue
			}
			st.Lines++
			b = b[:len(b)-1]
		}
		pending++
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if len(b) > opt.MaxLineBytes {
			st.TooLong++
			continue
		}
		switch f.line(b) {
		case lineParsed:
			st.Parsed++
		case lineIgnored:
			st.Ignored++
		case lineUnattributed:
			st.Ignored++
			st.Unattributed++
		default:
			st.Malformed++
		}
		if !terminated {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return committed, err
	}
	if !opt.Follow {
		// An unfinished multi-line record: its opening line, counted
		// as ignored, was in fact the start of a malformed record.
		n := f.finish()
		st.Malformed += n
		st.Ignored -= n
	}
	if err := doEmit(true); err != nil {
		return committed, err
	}
	// In follow mode a format inside a multi-line record leaves the
	// record for the next call: report only what was committed.
	return committed, nil
}
