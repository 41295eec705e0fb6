package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// The journal keeps every event from the moment it happens until it is in
// the spool, and the heals under way (drift.go), across a crash, a SIGKILL
// or a full disk.
//
// It is two files of a fixed size, journal.0 and journal.1, written full
// of zeros when first made, so that writing a record never needs a new
// block: a state directory on a full disk still takes records. Each file
// starts with a header (magic, generation, CRC); the file with the valid
// header of the higher generation is the journal. Records are appended to
// it, each one a frame (length, CRC over the generation and the payload,
// payload: one journalBatch as JSON) written and fsynced before the call
// returns; replay stops at the first frame that does not check, so a torn
// write or a frame left from an older generation is never read. When the
// file is full, the live state (events not yet spooled, heals under way)
// is written as one frame into the other file, which then gets the next
// generation in its header: a crash at any point leaves one good journal.
const (
	journalSize   = 1 << 20
	journalHeader = 32
	journalMagic  = "AWJRNL01"
	frameHeader   = 8
	// maxPendingEvents bounds the events held (in memory and in the
	// journal) while they cannot be spooled; past it the oldest go, counted.
	maxPendingEvents = 5000
)

var journalFiles = [2]string{"journal.0", "journal.1"}

// errNoJournal: the journal files could not be opened; events are held in
// memory only.
var errNoJournal = errors.New("no journal: events are held in memory only")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalBatch is one record: applied whole or not at all.
type journalBatch struct {
	Events  []api.Event `json:"e,omitempty"` // new events
	Spooled []string    `json:"s,omitempty"` // ids of events now in the spool
	Drifts  []drift     `json:"d,omitempty"` // heals opened or updated
	Closed  []string    `json:"x,omitempty"` // keys of heals settled
}

func (b journalBatch) empty() bool {
	return len(b.Events)+len(b.Spooled)+len(b.Drifts)+len(b.Closed) == 0
}

// journal is the agent's event journal. Its methods are safe for
// concurrent use.
type journal struct {
	log *slog.Logger

	mu      sync.Mutex
	files   [2]*os.File // nil when the journal could not be opened
	cur     int         // the file in use
	gen     uint64
	off     int64 // where the next frame goes
	dirty   bool  // a write failed: the next one rewrites the whole state
	pending []api.Event
	drifts  map[string]drift
	unsaved map[string]bool // ids of events held in memory only
	touched map[string]bool // drifts changed in memory since last written
	lost    int             // events dropped to the bound since start
	err     error           // the last write error, nil once a write worked
}

// openJournal opens (making them when needed) the journal files in dir
// and replays them. A journal that cannot be opened at all is returned
// empty, working in memory only, with the error; note says what was found
// unreadable, if anything.
func openJournal(dir string, log *slog.Logger) (j *journal, note string, err error) {
	j = &journal{log: log, drifts: map[string]drift{}, unsaved: map[string]bool{}, touched: map[string]bool{}}
	var data [2][]byte
	relaid := false
	for i, name := range journalFiles {
		f, d, was, err := openJournalFile(filepath.Join(dir, name))
		if err != nil {
			j.closeFiles()
			return j, "", fmt.Errorf("journal: %w", err)
		}
		j.files[i], data[i] = f, d
		relaid = relaid || was > 0
	}
	best, gens := -1, [2]uint64{}
	for i := range data {
		if g, ok := journalGen(data[i]); ok {
			gens[i] = g
			if best < 0 || g > gens[best] {
				best = i
			}
		}
	}
	if best < 0 {
		if relaid || !allZero(data[0]) || !allZero(data[1]) {
			note = "the event journal was unreadable: events not yet queued for delivery when the agent stopped may be lost"
		}
		j.gen, j.cur = 0, 1
		if err := j.compactLocked(); err != nil {
			j.closeFiles()
			return j, note, fmt.Errorf("journal: %w", err)
		}
		return j, note, nil
	}
	j.cur, j.gen = best, gens[best]
	j.off = j.replay(data[best])
	return j, note, nil
}

// openJournalFile opens one journal file, making it (full of zeros) when
// missing or of the wrong size, and returns its content; was is the size
// of a file of the wrong size it laid out again.
func openJournalFile(p string) (f *os.File, data []byte, was int64, err error) {
	f, fi, err := fsroot.OpenPrivate(p, 0o600)
	if err != nil {
		return nil, nil, 0, err
	}
	if fi.Size() == journalSize {
		data = make([]byte, journalSize)
		if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return nil, nil, 0, err
		}
		return f, data, 0, nil
	}
	// New, or not ours: lay it out afresh.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(make([]byte, journalSize), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(p)
		return nil, nil, 0, err
	}
	syncDir(filepath.Dir(p))
	return f, make([]byte, journalSize), fi.Size(), nil
}

func syncDir(dir string) {
	if d, err := fsroot.OpenDir(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// journalGen reads a file's header: its generation, if the header checks.
func journalGen(data []byte) (uint64, bool) {
	if len(data) < journalHeader || string(data[:8]) != journalMagic {
		return 0, false
	}
	if crc32.Checksum(data[:16], crcTable) != binary.BigEndian.Uint32(data[16:20]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(data[8:16]), true
}

func journalHeaderBytes(gen uint64) []byte {
	h := make([]byte, journalHeader)
	copy(h, journalMagic)
	binary.BigEndian.PutUint64(h[8:16], gen)
	binary.BigEndian.PutUint32(h[16:20], crc32.Checksum(h[:16], crcTable))
	return h
}

// frame encodes a payload for generation gen, followed by an empty frame
// header that ends the file's records.
func frame(gen uint64, payload []byte) []byte {
	out := make([]byte, frameHeader+len(payload)+frameHeader)
	binary.BigEndian.PutUint32(out[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[4:8], frameCRC(gen, payload))
	copy(out[frameHeader:], payload)
	return out
}

func frameCRC(gen uint64, payload []byte) uint32 {
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	return crc32.Update(crc32.Checksum(g[:], crcTable), crcTable, payload)
}

// replay applies the frames of data (a file of generation j.gen) and
// returns where the next frame goes.
func (j *journal) replay(data []byte) int64 {
	off := int64(journalHeader)
	for off+frameHeader <= int64(len(data)) {
		n := int64(binary.BigEndian.Uint32(data[off : off+4]))
		if n == 0 || off+frameHeader+n > int64(len(data)) {
			break
		}
		payload := data[off+frameHeader : off+frameHeader+n]
		if frameCRC(j.gen, payload) != binary.BigEndian.Uint32(data[off+4:off+8]) {
			break
		}
		var b journalBatch
		if err := json.Unmarshal(payload, &b); err != nil {
			break
		}
		j.apply(b)
		off += frameHeader + n
	}
	return off
}

// apply changes the in-memory state by b.
func (j *journal) apply(b journalBatch) {
	if len(b.Spooled) > 0 {
		done := make(map[string]bool, len(b.Spooled))
		for _, id := range b.Spooled {
			done[id] = true
			delete(j.unsaved, id)
		}
		kept := j.pending[:0]
		for _, e := range j.pending {
			if !done[e.ID] {
				kept = append(kept, e)
			}
		}
		clear(j.pending[len(kept):])
		j.pending = kept
	}
	j.pending = append(j.pending, b.Events...)
	if over := len(j.pending) - maxPendingEvents; over > 0 {
		for _, e := range j.pending[:over] {
			delete(j.unsaved, e.ID)
		}
		j.pending = append(j.pending[:0], j.pending[over:]...)
		j.lost += over
	}
	for _, d := range b.Drifts {
		j.drifts[d.key()] = d
	}
	for _, k := range b.Closed {
		delete(j.drifts, k)
	}
}

// record applies b and makes it durable before returning. When it cannot
// be written, the change still holds in memory (and is written with the
// next record that can be); the error says so.
func (j *journal) record(b journalBatch) error {
	if b.empty() {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.apply(b)
	err := j.persistLocked(b)
	if err != nil {
		for _, e := range b.Events {
			j.unsaved[e.ID] = true
		}
		j.dirty = true
	} else {
		j.dirty = false
		clear(j.unsaved)
	}
	j.err = err
	return err
}

func (j *journal) persistLocked(b journalBatch) error {
	if j.files[j.cur] == nil {
		return errNoJournal
	}
	if j.dirty {
		return j.compactLocked()
	}
	for k := range j.touched {
		if d, ok := j.drifts[k]; ok {
			b.Drifts = append(b.Drifts, d)
		}
	}
	payload, err := json.Marshal(b)
	if err != nil {
		return err
	}
	fr := frame(j.gen, payload)
	if j.off+int64(len(fr)) > journalSize {
		return j.compactLocked()
	}
	f := j.files[j.cur]
	if _, err := f.WriteAt(fr, j.off); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.off += int64(len(fr)) - frameHeader
	clear(j.touched)
	return nil
}

// compactLocked writes the whole live state into the other file under the
// next generation and makes it the journal. What does not fit goes, the
// oldest events first, counted as lost.
func (j *journal) compactLocked() error {
	next := 1 - j.cur
	f := j.files[next]
	if f == nil {
		return errNoJournal
	}
	live := journalBatch{Events: j.pending, Drifts: j.driftList()}
	payload, err := json.Marshal(live)
	for err == nil && journalHeader+2*frameHeader+len(payload) > journalSize && len(live.Events) > 0 {
		drop := max(1, len(live.Events)/10)
		for _, e := range live.Events[:drop] {
			delete(j.unsaved, e.ID)
		}
		live.Events = live.Events[drop:]
		j.lost += drop
		payload, err = json.Marshal(live)
	}
	if err != nil {
		return err
	}
	if journalHeader+2*frameHeader+len(payload) > journalSize {
		return fmt.Errorf("journal: %d heals under way do not fit in %d bytes", len(live.Drifts), journalSize)
	}
	j.pending = live.Events
	gen := j.gen + 1
	fr := frame(gen, payload)
	if _, err := f.WriteAt(fr, journalHeader); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	if _, err := f.WriteAt(journalHeaderBytes(gen), 0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.cur, j.gen, j.off = next, gen, journalHeader+int64(len(fr))-frameHeader
	clear(j.touched)
	return nil
}

func (j *journal) driftList() []drift {
	list := make([]drift, 0, len(j.drifts))
	for _, d := range j.drifts {
		list = append(list, d)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].key() < list[b].key() })
	return list
}

// pendingEvents returns the events not yet in the spool, oldest first.
func (j *journal) pendingEvents() []api.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]api.Event(nil), j.pending...)
}

// spooled records that the events of ids are in the spool now.
func (j *journal) spooled(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return j.record(journalBatch{Spooled: ids})
}

// storeDrifts returns the heals under way in one store.
func (j *journal) storeDrifts(storeID string) map[string]drift {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := map[string]drift{}
	for _, d := range j.drifts {
		if d.Store == storeID {
			out[d.SHA256] = d
		}
	}
	return out
}

// touch updates a drift in memory only: it is written with the next
// record or compaction (a failure count, not worth an fsync each time).
func (j *journal) touch(d drift) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.drifts[d.key()] = d
	j.touched[d.key()] = true
}

// journalStats is what `agent status` shows of the journal.
type journalStats struct {
	Pending, Unsaved, Lost int
	Err                    error
	Drifts                 []drift
}

func (j *journal) stats() journalStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return journalStats{Pending: len(j.pending), Unsaved: len(j.unsaved), Lost: j.lost, Err: j.err, Drifts: j.driftList()}
}

func (j *journal) closeFiles() {
	for i, f := range j.files {
		if f != nil {
			f.Close()
			j.files[i] = nil
		}
	}
}

// close releases the files.
func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closeFiles()
}
