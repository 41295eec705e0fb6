package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

func testEvent(i int) api.Event {
	return api.Event{ID: fmt.Sprintf("ev-%d", i), Type: api.EventRemoved, Time: time.Unix(int64(i), 0).UTC(), Detail: strings.Repeat("x", 200)}
}

func mustOpenJournal(t *testing.T, dir string) *journal {
	t.Helper()
	j, note, err := openJournal(dir, slog.New(slog.DiscardHandler))
	if err != nil || note != "" {
		t.Fatalf("open journal: %v, note %q", err, note)
	}
	t.Cleanup(j.close)
	return j
}

func ids(evs []api.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.ID)
	}
	return strings.Join(s, ",")
}

// TestJournalReplay: events, spooled marks and drifts survive a reopen;
// the files keep their fixed size.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	j := mustOpenJournal(t, dir)
	d := drift{Store: "java:/x", SHA256: strings.Repeat("a", 64), Action: driftHeal, DoneID: "done-1", Since: time.Unix(5, 0).UTC()}
	for _, b := range []journalBatch{
		{Events: []api.Event{testEvent(1), testEvent(2)}, Drifts: []drift{d}},
		{Events: []api.Event{testEvent(3)}},
		{Spooled: []string{"ev-1", "ev-3"}},
	} {
		if err := j.record(b); err != nil {
			t.Fatal(err)
		}
	}
	d.Failures = 3
	j.touch(d)
	if err := j.record(journalBatch{Events: []api.Event{testEvent(4)}}); err != nil {
		t.Fatal(err)
	}
	j.close()
	for _, name := range journalFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() != journalSize || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
	j = mustOpenJournal(t, dir)
	if got := ids(j.pendingEvents()); got != "ev-2,ev-4" {
		t.Fatalf("pending after reopen: %s", got)
	}
	got := j.storeDrifts("java:/x")[d.SHA256]
	if got != d {
		t.Fatalf("drift after reopen: %+v, want %+v", got, d)
	}
	if err := j.record(journalBatch{Closed: []string{d.key()}}); err != nil {
		t.Fatal(err)
	}
	j.close()
	j = mustOpenJournal(t, dir)
	if n := len(j.storeDrifts("java:/x")); n != 0 {
		t.Fatalf("%d drifts after close and reopen", n)
	}
}

// TestJournalCompaction writes far more than a file holds: the journal
// switches files (generations) and keeps exactly the live state; an
// interrupted compaction (the new file's frame written, its header not)
// leaves the previous journal in force.
func TestJournalCompaction(t *testing.T) {
	dir := t.TempDir()
	j := mustOpenJournal(t, dir)
	// ~300 bytes per event: 10,000 events cycle the files several times.
	for i := 0; i < 10000; i++ {
		if err := j.record(journalBatch{Events: []api.Event{testEvent(i)}}); err != nil {
			t.Fatal(err)
		}
		if i%10 != 9 {
			if err := j.spooled([]string{fmt.Sprintf("ev-%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := j.pendingEvents()
	if len(want) != 1000 || j.gen < 3 {
		t.Fatalf("%d pending, generation %d", len(want), j.gen)
	}
	gen := j.gen
	j.close()
	j = mustOpenJournal(t, dir)
	if ids(j.pendingEvents()) != ids(want) || j.gen != gen {
		t.Fatalf("after reopen: %d pending, generation %d (want %d, %d)", len(j.pendingEvents()), j.gen, len(want), gen)
	}
	// A compaction torn before its header: the old file still rules.
	other := filepath.Join(dir, journalFiles[1-j.cur])
	f, err := os.OpenFile(other, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(frame(gen+1, []byte(`{"e":[{"id":"bogus","type":"removed"}]}`)), journalHeader); err != nil {
		t.Fatal(err)
	}
	f.Close()
	j.close()
	j = mustOpenJournal(t, dir)
	if ids(j.pendingEvents()) != ids(want) {
		t.Fatal("a torn compaction changed the journal")
	}
}

// TestJournalTornWrite: a frame cut short or corrupted ends the replay
// there; what came before is kept and later records still work.
func TestJournalTornWrite(t *testing.T) {
	dir := t.TempDir()
	j := mustOpenJournal(t, dir)
	for i := 1; i <= 3; i++ {
		if err := j.record(journalBatch{Events: []api.Event{testEvent(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	off, cur := j.off, j.cur
	j.close()
	f, err := os.OpenFile(filepath.Join(dir, journalFiles[cur]), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// flip a byte in the last frame's payload
	if _, err := f.WriteAt([]byte{'#'}, off-3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	j = mustOpenJournal(t, dir)
	if got := ids(j.pendingEvents()); got != "ev-1,ev-2" {
		t.Fatalf("after a torn last frame: %s", got)
	}
	if err := j.record(journalBatch{Events: []api.Event{testEvent(9)}}); err != nil {
		t.Fatal(err)
	}
	j.close()
	j = mustOpenJournal(t, dir)
	if got := ids(j.pendingEvents()); got != "ev-1,ev-2,ev-9" {
		t.Fatalf("after writing past the torn frame: %s", got)
	}
}

// TestJournalUnreadable: garbage in both files is reported (the note a
// state-reset event carries) and the journal starts afresh; a file of the
// wrong size is laid out again.
func TestJournalUnreadable(t *testing.T) {
	dir := t.TempDir()
	for _, name := range journalFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("garbage", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	j, note, err := openJournal(dir, slog.New(slog.DiscardHandler))
	if err != nil || !strings.Contains(note, "journal was unreadable") {
		t.Fatalf("err %v, note %q", err, note)
	}
	defer j.close()
	if err := j.record(journalBatch{Events: []api.Event{testEvent(1)}}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, journalFiles[0])); fi.Size() != journalSize {
		t.Fatalf("size %d", fi.Size())
	}
}

// TestJournalBound: past maxPendingEvents the oldest events go, counted.
func TestJournalBound(t *testing.T) {
	j := mustOpenJournal(t, t.TempDir())
	var b journalBatch
	for i := 0; i < maxPendingEvents+7; i++ {
		b.Events = append(b.Events, api.Event{ID: fmt.Sprint("e", i), Type: "x"})
	}
	if err := j.record(b); err != nil {
		t.Fatal(err)
	}
	st := j.stats()
	if st.Pending != maxPendingEvents || st.Lost != 7 {
		t.Fatalf("pending %d lost %d", st.Pending, st.Lost)
	}
	if j.pendingEvents()[0].ID != "e7" {
		t.Fatal("the oldest were not the ones dropped")
	}
}

// FuzzJournalReplay feeds arbitrary bytes as a journal file: replay never
// panics and never reads past the file.
func FuzzJournalReplay(f *testing.F) {
	good := append(journalHeaderBytes(3), frame(3, []byte(`{"e":[{"id":"a","type":"removed"}],"d":[{"store":"s","sha256":"f","action":"heal","done_id":"x"}]}`))...)
	f.Add(good)
	f.Add(append(journalHeaderBytes(1), 0, 0, 0, 200, 1, 2, 3, 4))
	f.Add([]byte(journalMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, ok := journalGen(data)
		if !ok {
			return
		}
		j := &journal{gen: g, drifts: map[string]drift{}, unsaved: map[string]bool{}, touched: map[string]bool{}}
		if off := j.replay(data); off > int64(len(data)) || off < journalHeader {
			t.Fatalf("replay ended at %d of %d", off, len(data))
		}
	})
}
