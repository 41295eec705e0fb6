package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func accessLine(sec int, ip string) string {
	return fmt.Sprintf("%d.123 5 %s TCP_MISS/200 1024 GET http://example.test/%d - HIER_DIRECT/192.0.2.1 text/html\n", 1704870000+sec, ip, sec)
}

func totalCount(obs []Observation) int64 {
	var n int64
	for _, o := range obs {
		n += o.Count
	}
	return n
}

func TestLineLimitsAndPartialLines(t *testing.T) {
	long := "1704870000.000 5 10.0.0.9 TCP_MISS/200 1 GET http://x/" + strings.Repeat("a", 300) + " - HIER_NONE/- -\n"
	tests := []struct {
		name  string
		input string
		opt   Options
		count int64
		stats Stats
	}{
		{"crlf", strings.ReplaceAll(accessLine(1, "10.0.0.1"), "\n", "\r\n"), Options{}, 1, Stats{Lines: 1, Parsed: 1}},
		{"too long, within buffer", long + accessLine(2, "10.0.0.1"), Options{MaxLineBytes: 150}, 1, Stats{Lines: 2, Parsed: 1, TooLong: 1}},
		{"too long, over buffer", strings.Repeat("x", 600<<10) + "\n" + accessLine(2, "10.0.0.1"), Options{MaxLineBytes: 150}, 1, Stats{Lines: 2, Parsed: 1, TooLong: 1}},
		{"unterminated last line is partial", accessLine(1, "10.0.0.1") + strings.TrimSuffix(accessLine(2, "10.0.0.2"), "\n"), Options{}, 1, Stats{Lines: 2, Parsed: 1, Partial: 1}},
		{"follow leaves a partial line unread", accessLine(1, "10.0.0.1") + "1704870001.0 5 10.0", Options{Follow: true}, 1, Stats{Lines: 1, Parsed: 1}},
		{"truncated fields", "1704870000.000 5 10.0.0.1 TCP_MISS/200\n", Options{}, 0, Stats{Lines: 1, Malformed: 1}},
		{"bad address", "1704870000.000 5 10.0.0.256 TCP_MISS/200 1 GET u - H t\n", Options{}, 0, Stats{Lines: 1, Malformed: 1}},
		{"bad time", "17048x0000.000 5 10.0.0.1 TCP_MISS/200 1 GET u - H t\n", Options{}, 0, Stats{Lines: 1, Malformed: 1}},
		{"binary junk", "\x00\x01\x02\xff\n\n", Options{}, 0, Stats{Lines: 2, Malformed: 1, Ignored: 1}},
		{"ipv6 and fqdn clients", "1704870000.000 5 2001:db8::1 TCP_MISS/200 1 GET u - H t\n1704870000.000 5 Laptop.Example.com TCP_MISS/200 1 GET u - H t\n", Options{}, 2, Stats{Lines: 2, Parsed: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, st := parseAll(t, SourceSquidAccess, []byte(tt.input), tt.opt)
			if got := totalCount(obs); got != tt.count {
				t.Errorf("count = %d, want %d (%v)", got, tt.count, summary(obs))
			}
			st.Bytes = 0
			if st != tt.stats {
				t.Errorf("stats = %+v, want %+v", st, tt.stats)
			}
		})
	}
}

func TestBatchOffsets(t *testing.T) {
	var in bytes.Buffer
	for i := 0; i < 1000; i++ {
		in.WriteString(accessLine(i, fmt.Sprintf("10.0.%d.%d", i%4, i%7)))
	}
	var last int64
	var total int64
	_, err := Parse(context.Background(), SourceSquidAccess, bytes.NewReader(in.Bytes()), Options{BatchLines: 64, BaseOffset: 10}, func(b Batch) error {
		if b.Offset <= last {
			t.Fatalf("offset went from %d to %d", last, b.Offset)
		}
		if in.Bytes()[b.Offset-10-1] != '\n' {
			t.Fatalf("offset %d is not at a line boundary", b.Offset)
		}
		if len(b.Observations) > 28 {
			t.Fatalf("batch of 64 lines holds %d observations, want ≤ 28 (aggregated per client)", len(b.Observations))
		}
		last = b.Offset
		total += totalCount(b.Observations)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1000 || last != int64(in.Len())+10 {
		t.Errorf("total %d lines, last offset %d; want 1000, %d", total, last, in.Len()+10)
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse(context.Background(), "syslog", strings.NewReader(""), Options{}, nil); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: err = %v", err)
	}
	boom := errors.New("boom")
	_, err := Parse(context.Background(), SourceSquidAccess, strings.NewReader(accessLine(1, "10.0.0.1")), Options{}, func(Batch) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("emit error: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Parse(ctx, SourceSquidAccess, strings.NewReader(accessLine(1, "10.0.0.1")), Options{}, func(Batch) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// failingStore fails the commit after n successful ones, like a process
// killed half-way through an ingest.
type failingStore struct {
	*MemStore
	n int
}

func (f *failingStore) Commit(ctx context.Context, obs []Observation, cp Checkpoint) error {
	if f.n == 0 {
		return errors.New("interrupted")
	}
	f.n--
	return f.MemStore.Commit(ctx, obs, cp)
}

func TestIngestFileIdempotentAndResumable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	var in strings.Builder
	for i := 0; i < 5000; i++ {
		in.WriteString(accessLine(i, fmt.Sprintf("10.1.%d.%d", i%3, i%11)))
	}
	if err := os.WriteFile(path, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opt := IngestOptions{Options: Options{BatchLines: 700}}

	// Interrupted after 3 batches, then resumed.
	ms := NewMemStore()
	if _, err := IngestFile(ctx, &failingStore{ms, 3}, SourceSquidAccess, path, opt); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted ingest: err = %v", err)
	}
	if got := totalCount(ms.Observations()); got != 3*700 {
		t.Fatalf("after interruption: %d lines stored, want %d", got, 3*700)
	}
	st, err := IngestFile(ctx, ms, SourceSquidAccess, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := totalCount(ms.Observations()); got != 5000 {
		t.Fatalf("after resume: %d lines stored, want 5000 (no duplicates, none lost)", got)
	}
	if st.Lines != 5000-3*700 {
		t.Errorf("resume read %d lines, want %d", st.Lines, 5000-3*700)
	}
	// Same file again: nothing changes.
	commits := ms.Commits()
	if st, err := IngestFile(ctx, ms, SourceSquidAccess, path, opt); err != nil || st.Lines != 0 {
		t.Fatalf("second ingest: %+v, %v", st, err)
	}
	if ms.Commits() != commits || totalCount(ms.Observations()) != 5000 {
		t.Errorf("second ingest changed the store")
	}
	// Grown: only the new lines.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(accessLine(9999, "10.9.9.9"))
	f.Close()
	if st, err := IngestFile(ctx, ms, SourceSquidAccess, path, opt); err != nil || st.Lines != 1 {
		t.Fatalf("grown file: %+v, %v", st, err)
	}
	// Replaced (rotation) by a file with other content: read from the start.
	os.WriteFile(path, []byte(accessLine(1, "10.8.8.8")+accessLine(2, "10.8.8.8")), 0o644)
	if st, err := IngestFile(ctx, ms, SourceSquidAccess, path, opt); err != nil || st.Lines != 2 {
		t.Fatalf("replaced file: %+v, %v", st, err)
	}
}

func TestIngestHeaderFormatResumes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kea-leases4.csv")
	data := fixture(t, "kea-leases4.csv")
	os.WriteFile(path, data, 0o644)
	ms := NewMemStore()
	ctx := context.Background()
	if _, err := IngestFile(ctx, ms, SourceKea, path, IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("192.168.2.99,00:11:22:33:44:99,,3600,1704877200,1,0,0,new-one,0,,0\n")
	f.Close()
	st, err := IngestFile(ctx, ms, SourceKea, path, IngestOptions{})
	if err != nil || st.Parsed != 1 || st.Malformed != 0 {
		t.Fatalf("resumed kea ingest: %+v, %v (the header must carry over)", st, err)
	}
	obs := ms.Observations()
	if last := obs[len(obs)-1]; last.Hostname != "new-one" || last.MAC != "00:11:22:33:44:99" {
		t.Errorf("resumed row = %+v", last)
	}
}

func TestIngestDnsmasqRewrittenInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dnsmasq.leases")
	os.WriteFile(path, []byte("1704877200 00:11:22:33:44:55 192.168.3.50 a *\n1704877200 00:11:22:33:44:56 192.168.3.51 b *\n"), 0o644)
	ms := NewMemStore()
	ctx := context.Background()
	IngestFile(ctx, ms, SourceDnsmasq, path, IngestOptions{})
	// Rewritten: same first line, second changed, file longer.
	os.WriteFile(path, []byte("1704877200 00:11:22:33:44:55 192.168.3.50 a *\n1704877200 00:11:22:33:44:57 192.168.3.52 c *\n1704877200 00:11:22:33:44:58 192.168.3.53 d *\n"), 0o644)
	st, err := IngestFile(ctx, ms, SourceDnsmasq, path, IngestOptions{})
	if err != nil || st.Parsed != 3 {
		t.Fatalf("rewritten lease file: %+v, %v; want it read whole again", st, err)
	}
}

// follower runs Follow in the background and collects what it stores.
type follower struct {
	ms     *MemStore
	cancel context.CancelFunc
	done   chan error
}

func startFollow(t *testing.T, ms *MemStore, path string) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &follower{ms: ms, cancel: cancel, done: make(chan error, 1)}
	go func() {
		fl.done <- Follow(ctx, ms, SourceSquidAccess, path, FollowOptions{Poll: 10 * time.Millisecond})
	}()
	t.Cleanup(func() { fl.stop(t) })
	return fl
}

func (fl *follower) stop(t *testing.T) {
	if fl.cancel == nil {
		return
	}
	fl.cancel()
	fl.cancel = nil
	if err := <-fl.done; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}
}

// waitFor polls until cond holds; it fails the test (it does not time
// anything) if that never happens within a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func ipsSeen(ms *MemStore) map[string]int64 {
	m := map[string]int64{}
	for _, o := range ms.Observations() {
		m[o.IP.String()] += o.Count
	}
	return m
}

func TestFollowRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	ms := NewMemStore()
	startFollow(t, ms, path) // the file does not exist yet
	appendTo(t, path, accessLine(1, "10.0.0.1"))
	waitFor(t, "first line", func() bool { return ipsSeen(ms)["10.0.0.1"] == 1 })

	// A line written in two pieces is read once, whole.
	appendTo(t, path, "1704870002.000 5 10.0.0.2 TCP_MISS/200 1 GET")
	time.Sleep(50 * time.Millisecond)
	appendTo(t, path, " http://x/ - HIER_NONE/- -\n")
	waitFor(t, "split line", func() bool { return ipsSeen(ms)["10.0.0.2"] == 1 })

	// Rename rotation: a last line lands in the old file after the
	// rename, then the new file starts.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".1", accessLine(3, "10.0.0.3"))
	appendTo(t, path, accessLine(4, "10.0.0.4"))
	waitFor(t, "lines around a rename rotation", func() bool {
		m := ipsSeen(ms)
		return m["10.0.0.3"] == 1 && m["10.0.0.4"] == 1
	})

	// copytruncate: the file is emptied in place and written again.
	appendTo(t, path, accessLine(5, "10.0.0.5"))
	waitFor(t, "line before truncation", func() bool { return ipsSeen(ms)["10.0.0.5"] == 1 })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, accessLine(6, "10.0.0.6"))
	waitFor(t, "line after copytruncate", func() bool { return ipsSeen(ms)["10.0.0.6"] == 1 })

	m := ipsSeen(ms)
	for ip, n := range m {
		if n != 1 {
			t.Errorf("%s seen %d times, want once", ip, n)
		}
	}
}

func TestFollowResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	ms := NewMemStore()
	appendTo(t, path, accessLine(1, "10.0.0.1"))
	fl := startFollow(t, ms, path)
	waitFor(t, "first line", func() bool { return ipsSeen(ms)["10.0.0.1"] == 1 })
	fl.stop(t)
	appendTo(t, path, accessLine(2, "10.0.0.2"))
	startFollow(t, ms, path)
	waitFor(t, "line written while stopped", func() bool { return ipsSeen(ms)["10.0.0.2"] == 1 })
	if n := ipsSeen(ms)["10.0.0.1"]; n != 1 {
		t.Errorf("10.0.0.1 seen %d times after restart, want once", n)
	}
}

var _ sync.Locker = (*sync.Mutex)(nil)
