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

	"github.com/anchorwatch/anchorwatch/server/api"
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
	dropped int // events lost to the bound since start
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
	s := &Spool{dir: dir, maxN: maxN, maxBytes: maxBytes, log: log}
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
			e, err := s.read(n)
			if err == nil && len(e.Report.Events) == 0 {
				_ = os.Remove(filepath.Join(s.dir, n))
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
	names = append(names, name)
	s.enforce(names)
	return nil
}

// enforce drops the oldest reports while over the bounds, never the
// newest one.
func (s *Spool) enforce(names []string) {
	var total int64
	sizes := make([]int64, len(names))
	for i, n := range names {
		if fi, err := os.Stat(filepath.Join(s.dir, n)); err == nil {
			sizes[i] = fi.Size()
			total += fi.Size()
		}
	}
	for i := 0; i < len(names)-1 && (len(names)-i > s.maxN || total > s.maxBytes); i++ {
		lost := 0
		if e, err := s.read(names[i]); err == nil {
			lost = len(e.Report.Events)
		}
		_ = os.Remove(filepath.Join(s.dir, names[i]))
		total -= sizes[i]
		s.dropped += lost
		s.log.Warn("spool full: dropped the oldest report", "report_id_file", names[i], "events_lost", lost,
			"max_reports", s.maxN, "max_bytes", s.maxBytes)
	}
}

func (s *Spool) read(name string) (spoolEntry, error) {
	var e spoolEntry
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("spool file %s: %w", name, err)
	}
	return e, nil
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
			_ = os.Remove(filepath.Join(s.dir, names[0]))
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
