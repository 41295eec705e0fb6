package server_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// oldEvents inserts n events received long ago for host, in one statement.
func oldEvents(t *testing.T, st *db.Store, host int64, n int, received time.Time) {
	t.Helper()
	gen := fmt.Sprintf("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) SELECT i FROM s", n)
	if st.Dialect() == db.Postgres {
		gen = fmt.Sprintf("SELECT i FROM generate_series(1, %d) AS s(i)", n)
	}
	ms := received.UnixMilli()
	q := fmt.Sprintf(`INSERT INTO events (host_id, event_id, time, type, store_id, sha256, detail, received_at)
SELECT %d, 'old-' || CAST(i AS TEXT), %d, 'removed', 'nss:/home/u/.pki/nssdb', '', 'an old removal', %d FROM (%s) AS g`, host, ms, ms, gen)
	if _, err := st.DB().ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// TestPruneLargeHistoryUnderLoad prunes 200,000 events past their
// retention while agents keep reporting: pruning runs in small
// transactions off the ingest writer, and reports are acknowledged
// throughout the pruning (in at least eight of its ten tenths), not after.
func TestPruneLargeHistoryUnderLoad(t *testing.T) {
	forEachBackend(t, servertest.Options{Config: server.Config{EventRetention: 90 * 24 * time.Hour, RetireAfter: -1,
		PruneBatch: 1000, PrunePause: 5 * time.Millisecond}}, func(t *testing.T, c *servertest.Collector) {
		const history = 200000
		var keys []string
		for i := 0; i < 16; i++ {
			key, _ := c.Enroll(t, facts(fmt.Sprint("pr", i)))
			keys = append(keys, key)
		}
		first, err := c.Store.CheckNodeKey(context.Background(), keys[0])
		if err != nil {
			t.Fatal(err)
		}
		oldEvents(t, c.Store, first, history, time.Now().Add(-400*24*time.Hour))
		a := startAgents(t, c.URL, c.Client(), keys)
		defer a.halt()
		a.waitAcks(t, 100, time.Minute)

		start := time.Now()
		m, err := c.Server.Maintain(context.Background())
		end := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		a.waitAcks(t, 50, time.Minute)
		a.halt()
		a.stop = make(chan struct{})
		if m.Events != history || m.Batches < history/1000 {
			t.Fatalf("maintenance %+v: want %d events pruned in at least %d transactions", m, history, history/1000)
		}
		// Acknowledgements in every tenth of the pruning time.
		acks := ackTimes(a)
		slices := make([]int, 10)
		span := end.Sub(start)
		for _, at := range acks {
			if at.After(start) && at.Before(end) {
				slices[int(float64(at.Sub(start))/float64(span)*10)%10]++
			}
		}
		t.Logf("pruned %d events in %d transactions in %v; reports acknowledged meanwhile, per tenth of that time: %v",
			m.Events, m.Batches, span.Round(time.Millisecond), slices)
		// One long transaction would let no report through on SQLite
		// until it ended; a hiccup of this shared machine may empty a
		// tenth, not most of them.
		empty, during := 0, 0
		for _, n := range slices {
			during += n
			if n == 0 {
				empty++
			}
		}
		if empty > 2 || during < 100 {
			t.Errorf("reports acknowledged while pruning, per tenth of the time: %v: ingest was held back", slices)
		}
		var left int
		if err := c.Store.ReadDB().QueryRow("SELECT COUNT(*) FROM events WHERE event_id LIKE 'old-%'").Scan(&left); err != nil || left != 0 {
			t.Errorf("%d old events left (%v)", left, err)
		}
		checkStored(t, c.Store, a.acked)
	})
}

// ackTimes returns when each acknowledged report was acknowledged.
func ackTimes(a *agentLoad) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]time.Time(nil), a.ackAt...)
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
