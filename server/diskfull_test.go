package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
)

// mountTmpfs mounts a tmpfs of size bytes for t (the test runs as root,
// as CI does) and unmounts it after.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs to fill it: run it as root (CI does)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for size := 4096; size >= 1; size /= 2 { // the last scraps too
		for {
			if _, err := f.Write(buf[:size]); err != nil {
				break
			}
		}
	}
	return path
}

// agentLoad is simulated agents sending reports and re-sending the same
// report on 503, as the agent does: it records what was acknowledged.
type agentLoad struct {
	url      string
	client   *http.Client
	mu       sync.Mutex
	acked    map[string]string // report id → node key
	codes    map[int]int
	noRetry  atomic.Int64 // 503s without Retry-After
	stop     chan struct{}
	wg       sync.WaitGroup
	ackCount atomic.Int64
	lat      []time.Duration // of acknowledged reports, from first send to the acknowledgement
	ackAt    []time.Time     // when each was acknowledged
}

// startAgents runs one simulated agent per node key against the
// collector (or load balancer) at url.
func startAgents(t *testing.T, url string, client *http.Client, keys []string) *agentLoad {
	a := &agentLoad{url: url, client: client, acked: map[string]string{}, codes: map[int]int{}, stop: make(chan struct{})}
	for g, key := range keys {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for n := 0; ; n++ {
				id := fmt.Sprintf("df-%d-%d", g, n)
				rep := report(key, id, stores.StatusCompliant, stores.StatusMissing)
				rep.StateHash = id // a new state: the stores are rewritten
				rep.Events = []api.Event{{ID: "ev-" + id, Type: api.EventRemoved, Time: time.Now(), StoreID: "java:/s1",
					Detail: strings.Repeat("the disk fills up ", 20)}}
				start := time.Now()
				for {
					select {
					case <-a.stop:
						return
					default:
					}
					code, retry := a.post(rep)
					a.mu.Lock()
					a.codes[code]++
					if code == http.StatusOK {
						a.acked[id] = key
						a.lat = append(a.lat, time.Since(start))
						a.ackAt = append(a.ackAt, time.Now())
					}
					a.mu.Unlock()
					if code == http.StatusOK {
						a.ackCount.Add(1)
						break
					}
					if code == http.StatusServiceUnavailable && retry == "" {
						a.noRetry.Add(1)
					}
					time.Sleep(20 * time.Millisecond) // the agent backs off longer
				}
			}
		}()
	}
	return a
}

func (a *agentLoad) post(rep *api.ReportRequest) (int, string) {
	code, _, hdr, err := postH(a.client, a.url+api.PathReport, rep)
	if err != nil {
		return 0, ""
	}
	return code, hdr.Get("Retry-After")
}

func (a *agentLoad) halt() {
	close(a.stop)
	a.wg.Wait()
}

// waitAcks waits until n more reports were acknowledged.
func (a *agentLoad) waitAcks(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	want := a.ackCount.Load() + n
	deadline := time.Now().Add(within)
	for a.ackCount.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d more reports acknowledged in %v (codes %v)", a.ackCount.Load()-want+n, n, within, a.snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (a *agentLoad) snapshot() map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[int]int{}
	for k, v := range a.codes {
		out[k] = v
	}
	return out
}

// checkStored fails t unless every acknowledged report is in the
// database exactly once, with its event.
func checkStored(t *testing.T, st *store.Store, acked map[string]string) {
	t.Helper()
	ctx := context.Background()
	ph := func(q string) string {
		if st.Dialect() == store.Postgres {
			return strings.NewReplacer("?1", "$1", "?2", "$2").Replace(q)
		}
		return strings.NewReplacer("?1", "?", "?2", "?").Replace(q)
	}
	lost, events := 0, 0
	for id, key := range acked {
		host, err := st.CheckNodeKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var n, e int
		if err := st.ReadDB().QueryRowContext(ctx, ph("SELECT COUNT(*) FROM reports WHERE host_id = ?1 AND report_id = ?2"), host, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := st.ReadDB().QueryRowContext(ctx, ph("SELECT COUNT(*) FROM events WHERE host_id = ?1 AND event_id = ?2"), host, "ev-"+id).Scan(&e); err != nil {
			t.Fatal(err)
		}
		if n != 1 || e != 1 {
			lost++
		}
		events += e
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged reports lost or not stored once", lost, len(acked))
	}
}

// TestDiskFull fills the file system under a collector's SQLite database
// (a small tmpfs) while agents report: the collector answers 503 with
// Retry-After (never 500), writes a bounded number of log lines for
// thousands of failures, exports the condition (and the shipped alert
// fires on it), recovers when space is freed with every acknowledged
// report stored once, and truncates its WAL once writes pause.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, 24<<20)
	logs := &servertest.Buffer{}
	c := servertest.StartCollector(t, servertest.Options{DBURL: filepath.Join(dir, "collector.db"),
		Config: server.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), ErrorLogInterval: time.Second}})
	var keys []string
	for i := 0; i < 16; i++ {
		key, _ := c.Enroll(t, facts(fmt.Sprint("df", i)))
		keys = append(keys, key)
	}
	a := startAgents(t, c.URL, c.Client(), keys)
	defer a.halt()
	a.waitAcks(t, 200, time.Minute)

	filler := fill(t, dir)
	t.Logf("disk full (%s)", df(dir))
	// Writes now fail: wait for a good number of refusals.
	deadline := time.Now().Add(time.Minute)
	for a.snapshot()[http.StatusServiceUnavailable] < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("no 503s on a full disk: codes %v", a.snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // a few log intervals on the full disk
	m := scrape(t, c, "anchorwatch_store")
	if m["anchorwatch_store_unavailable"] != 1 || m[`anchorwatch_store_errors_total{class="unavailable",op="write"}`] == 0 {
		t.Errorf("metrics on a full disk: %v", m)
	}
	promtoolAlerts(t, fleetRulesFile, asInstances(m, "c1:8443"), []string{"AnchorwatchStoreUnavailable"}, []expAlert{
		{"AnchorwatchStoreUnavailable", map[string]string{"job": "anchorwatch", "instance": "c1:8443"}}})
	failures := m[`anchorwatch_store_errors_total{class="unavailable",op="write"}`]

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	a.waitAcks(t, 500, time.Minute) // recovered
	a.halt()
	a.stop = make(chan struct{}) // halted: the deferred halt is a no-op
	codes := a.snapshot()
	out := logs.String()
	lines := strings.Count(out, "\n")
	t.Logf("codes %v; %v failed writes logged in %d lines; %d reports acknowledged; the log:\n%s", codes, failures, lines, len(a.acked), out)
	if codes[http.StatusInternalServerError] != 0 || codes[0] != 0 {
		t.Errorf("answers on a full disk: %v, want 200 and 503 only", codes)
	}
	if n := a.noRetry.Load(); n != 0 {
		t.Errorf("%d answers 503 without Retry-After", n)
	}
	if failures < 300 || lines > 40 {
		t.Errorf("%v failures wrote %d log lines, want a bounded few:\n%s", failures, lines, out)
	}
	if !strings.Contains(out, "store write failed: recovered") {
		t.Errorf("no recovery line in the log:\n%s", out)
	}
	checkStored(t, c.Store, a.acked)

	// Writes paused: the WAL is truncated.
	wal := filepath.Join(dir, "collector.db-wal")
	deadline = time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(wal)
		if err == nil && fi.Size() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL was not truncated after writes paused: %v %v", fi.Size(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// df describes the space left in dir.
func df(dir string) string {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes free of %d", s.Bavail*uint64(s.Bsize), s.Blocks*uint64(s.Bsize))
}

// postH posts v as JSON and returns the status, body and headers.
func postH(client *http.Client, url string, v any) (int, []byte, http.Header, error) {
	data, _ := json.Marshal(v)
	resp, err := client.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}
