package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Spool defaults.
const (
	DefaultSpoolMaxReports = 1000
	DefaultSpoolMaxBytes   = 32 << 20
)

// Spool is the agent's outbox: every report is written here (fsynced)
// before it is sent and removed only when the collector acknowledged it.
// Each report carries a fixed report id and each event a fixed event id,
// so a report sent twice (a crash after delivery, before removal) is
// stored once by the collector: delivery is exactly once.
//
// The spool is bounded. A report without events is superseded by any
// newer report and dropped when one is added; when the bounds are still
// exceeded the oldest reports go first and the loss is logged.
type Spool struct {
	dir      string
	maxN     int
	maxBytes int64
	log      *slog.Logger

	mu      sync.Mutex
	next    uint64
	dropped int            // events lost to the bound since start
	events  map[string]int // events per spooled file, once read
	onDrop  func(SpoolDrop)
}

// SpoolDrop describes a report the spool dropped: to its bounds, or
// because its file could not be read.
type SpoolDrop struct {
	File   string
	Events int // events lost with it, when known
	Why    string
}

// maxSpoolFile bounds a spooled file: a report within the collector's
// limit, its JSON wrapper and node key room. A larger file is not ours:
// it is removed without being read.
const maxSpoolFile = api.MaxBodyBytes + 64<<10

// OnDrop sets a function called (with the spool locked: it must not call
// the spool) for every report the spool drops.
func (s *Spool) OnDrop(f func(SpoolDrop)) {
	s.mu.Lock()
	s.onDrop = f
	s.mu.Unlock()
}

func (s *Spool) drop(d SpoolDrop) {
	if s.onDrop != nil {
		s.onDrop(d)
	}
}

// spoolEntry is the file format: the report without the node key, which
// is added when sending (it may change by re-enrollment).
type spoolEntry struct {
	Report api.ReportRequest `json:"report"`
}

// OpenSpool opens (creating) a spool directory.
func OpenSpool(dir string, maxN int, maxBytes int64, log *slog.Logger) (*Spool, error) {
	if maxN <= 0 {
		maxN = DefaultSpoolMaxReports
	}
	if maxBytes <= 0 {
		maxBytes = DefaultSpoolMaxBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, maxN: maxN, maxBytes: maxBytes, log: log, events: map[string]int{}}
	names, err := s.names()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if seq, ok := seqOf(n); ok && seq >= s.next {
			s.next = seq + 1
		}
	}
	// Temporary files of an interrupted write are garbage.
	tmps, _ := filepath.Glob(filepath.Join(dir, ".*.anchorwatch-*"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return s, nil
}

func seqOf(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ".json")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	return n, err == nil
}

// names returns the spooled files, oldest first.
func (s *Spool) names() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []string
	for _, e := range ents {
		if _, ok := seqOf(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out) // fixed-width names sort by sequence
	return out, nil
}

// Add writes r durably. Pending reports without events are superseded by
// it and removed; a heartbeat without events is not spooled at all while
// older reports are pending (they say more than it does).
func (s *Spool) Add(r api.ReportRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.NodeKey = ""
	names, err := s.names()
	if err != nil {
		return err
	}
	if r.Kind == api.ReportHeartbeat && len(r.Events) == 0 && len(names) > 0 {
		return nil
	}
	data, err := json.Marshal(spoolEntry{Report: r})
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if r.Kind == api.ReportFull || len(r.Events) == 0 {
		// A full report carries the whole state: older event-less reports
		// add nothing any more.
		kept := names[:0]
		for _, n := range names {
			if k, err := s.eventCount(n); err == nil && k == 0 {
				s.remove(n)
				continue
			}
			kept = append(kept, n)
		}
		names = kept
	}
	name := fmt.Sprintf("%020d.json", s.next)
	s.next++
	if err := fsroot.WriteFileAtomic(filepath.Join(s.dir, name), data, 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.events[name] = len(r.Events)
	names = append(names, name)
	s.enforce(names)
	return nil
}

// enforce drops the oldest reports while over the bounds, never the
// newest one.
func (s *Spool) enforce(names []string) {
	var total int64
	sizes := make([]int64, 0, len(names))
	kept := names[:0]
	for _, n := range names {
		fi, err := os.Lstat(filepath.Join(s.dir, n))
		if err == nil && fi.Size() > maxSpoolFile {
			// Not a report of ours: it must not push real ones out.
			s.remove(n)
			s.log.Error("spool: removing a file too large to be a report", "file", n, "bytes", fi.Size())
			s.drop(SpoolDrop{File: n, Why: fmt.Sprintf("spooled file %s is %d bytes, over the %d a report takes: removed unread", n, fi.Size(), maxSpoolFile)})
			continue
		}
		var size int64
		if err == nil {
			size = fi.Size()
		}
		kept = append(kept, n)
		sizes = append(sizes, size)
		total += size
	}
	names = kept
	for i := 0; i < len(names)-1 && (len(names)-i > s.maxN || total > s.maxBytes); i++ {
		lost, err := s.eventCount(names[i])
		s.remove(names[i])
		total -= sizes[i]
		if err != nil {
			s.log.Error("spool: removing an unreadable report", "file", names[i], "err", err)
			s.drop(SpoolDrop{File: names[i], Why: fmt.Sprintf("spooled report %s unreadable, removed: %v", names[i], err)})
			continue
		}
		s.dropped += lost
		s.log.Warn("spool full: dropped the oldest report", "report_id_file", names[i], "events_lost", lost,
			"max_reports", s.maxN, "max_bytes", s.maxBytes)
		s.drop(SpoolDrop{File: names[i], Events: lost,
			Why: fmt.Sprintf("spool full (%d reports, %d bytes at most): dropped the oldest report with its %d events", s.maxN, s.maxBytes, lost)})
	}
}

func (s *Spool) remove(name string) {
	_ = os.Remove(filepath.Join(s.dir, name))
	delete(s.events, name)
}

// eventCount returns the number of events in a spooled file.
func (s *Spool) eventCount(name string) (int, error) {
	if n, ok := s.events[name]; ok {
		return n, nil
	}
	e, err := s.read(name)
	if err != nil {
		return 0, err
	}
	s.events[name] = len(e.Report.Events)
	return len(e.Report.Events), nil
}

// read reads a spooled file, bounded by maxSpoolFile: a regular file,
// opened without following a link and without blocking.
func (s *Spool) read(name string) (spoolEntry, error) {
	var e spoolEntry
	data, err := fsroot.ReadFile(filepath.Join(s.dir, name), fsroot.Want{Max: maxSpoolFile})
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("spool file %s: %w", name, err)
	}
	return e, nil
}

// EventIDs returns the ids of the events in the spooled reports.
func (s *Spool) EventIDs() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	names, _ := s.names()
	for _, n := range names {
		if k, err := s.eventCount(n); err != nil || k == 0 {
			continue
		}
		if e, err := s.read(n); err == nil {
			for _, ev := range e.Report.Events {
				ids[ev.ID] = true
			}
		}
	}
	return ids
}

// Item is one spooled report.
type Item struct {
	Name   string
	Report api.ReportRequest
}

// Peek returns the oldest report, or ok=false when the spool is empty. A
// corrupt file (a disk error; writes are atomic) is removed and logged.
func (s *Spool) Peek() (Item, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		names, err := s.names()
		if err != nil {
			return Item{}, false, err
		}
		if len(names) == 0 {
			return Item{}, false, nil
		}
		e, err := s.read(names[0])
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("spool: removing an unreadable report", "file", names[0], "err", err)
			s.remove(names[0])
			s.drop(SpoolDrop{File: names[0], Why: fmt.Sprintf("spooled report %s unreadable, removed: %v", names[0], err)})
			continue
		}
		if err != nil {
			continue
		}
		return Item{Name: names[0], Report: e.Report}, true, nil
	}
}

// Done removes a delivered report.
func (s *Spool) Done(it Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(filepath.Join(s.dir, it.Name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	delete(s.events, it.Name)
	return nil
}

// Len returns the number of pending reports.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, _ := s.names()
	return len(names)
}

// Dropped returns the number of events lost to the bound since start.
func (s *Spool) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}
