package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
)

// q rewrites ? placeholders for PostgreSQL (tests only).
func q(s *store.Store, query string) string {
	if s.Dialect() != store.Postgres {
		return query
	}
	out, n := []byte{}, 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, query[i])
	}
	return string(out)
}

// TestRetireAndReactivate: a retired host leaves the summary, the trend's
// current point, the counters and the host lists (unless asked for), keeps
// its record and events, and comes back — counters and all — when it
// reports again; RetireStale retires hosts by last-seen age, in batches.
func TestRetireAndReactivate(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var ids []int64
		var keys []string
		for i := 0; i < 5; i++ {
			id, key := enroll(t, s, fmt.Sprintf("h%d", i), fmt.Sprintf("m%d", i))
			ids, keys = append(ids, id), append(keys, key)
			rep := fullReport(fmt.Sprint("r", i), 1, stores.StatusCompliant, []stores.Status{stores.StatusCompliant, stores.StatusMissing}[i%2])
			if i == 0 {
				rep.UnknownRoots = []api.Root{{SHA256: "root-b", Class: "blocked", Subject: "CN=b"}}
			}
			write(t, s, store.ReportIn{HostID: id, Report: rep})
		}
		sum := summary(t, s)
		if sum.Hosts != 5 || sum.BlockedRoots != 1 || sum.Retired != 0 {
			t.Fatalf("before: %+v", sum)
		}
		if err := s.RetireHost(ctx, ids[1], "decommissioned"); err != nil {
			t.Fatal(err)
		}
		if err := s.RetireHost(ctx, ids[1], "again"); !errors.Is(err, store.ErrRetired) {
			t.Fatalf("retiring a retired host: %v", err)
		}
		if err := s.RetireHost(ctx, 999999, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("retiring no host: %v", err)
		}
		checkAggregates(t, s)
		sum = summary(t, s)
		if sum.Hosts != 4 || sum.Retired != 1 || sum.ByStatus[string(store.StatusNoncompliant)] != 2 || sum.Compliant != 2 {
			t.Fatalf("after retiring host %d (noncompliant): %+v", ids[1], sum)
		}
		tr, err := s.Trend(ctx, time.Now().Add(-time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if cur := tr.Points[len(tr.Points)-1]; !cur.Current || cur.Hosts != sum.Hosts || cur.Compliant != sum.Compliant {
			t.Fatalf("trend's current point %+v, summary %d hosts %d compliant", cur, sum.Hosts, sum.Compliant)
		}
		listIDs := func(f store.HostFilter) []int64 {
			t.Helper()
			page, err := s.ListHosts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, h := range page.Hosts {
				out = append(out, h.ID)
			}
			return out
		}
		if got := listIDs(store.HostFilter{}); len(got) != 4 || contains(got, ids[1]) {
			t.Errorf("active hosts %v include retired host %d", got, ids[1])
		}
		if got := listIDs(store.HostFilter{Retired: store.RetiredOnly}); len(got) != 1 || got[0] != ids[1] {
			t.Errorf("retired hosts %v, want [%d]", got, ids[1])
		}
		if got := listIDs(store.HostFilter{Retired: store.AnyRetired}); len(got) != 5 {
			t.Errorf("all hosts %v", got)
		}
		h, err := s.Host(ctx, ids[1], 10)
		if err != nil || h.RetiredAt.IsZero() || len(h.Stores) != 2 || len(h.Events) == 0 || h.Events[0].Type != api.EventHostRetired {
			t.Fatalf("retired host keeps its record and gets an event: %+v %v", h, err)
		}

		// A heartbeat brings it back; the counters follow.
		write(t, s, store.ReportIn{HostID: ids[1], Report: &api.ReportRequest{ReportID: "hb", Kind: api.ReportHeartbeat, PolicySerial: 1, StateHash: "h-compliant,missing"}})
		checkAggregates(t, s)
		if sum := summary(t, s); sum.Hosts != 5 || sum.Retired != 0 {
			t.Fatalf("after the retired host reported: %+v", sum)
		}
		h, _ = s.Host(ctx, ids[1], 10)
		if !h.RetiredAt.IsZero() || h.Events[0].Type != api.EventHostReactivated {
			t.Fatalf("reactivated host: retired %v, events %+v", h.RetiredAt, h.Events)
		}

		// Retire again, then a full report with other stores reactivates it.
		if err := s.RetireHost(ctx, ids[1], "again"); err != nil {
			t.Fatal(err)
		}
		write(t, s, store.ReportIn{HostID: ids[1], Report: fullReport("r1b", 2, stores.StatusError)})
		checkAggregates(t, s)

		// RetireStale: three hosts last seen 40 days ago, in batches of two.
		old := time.Now().Add(-40 * 24 * time.Hour).UnixMilli()
		for _, id := range ids[2:] {
			if _, err := s.DB().ExecContext(ctx, q(s, "UPDATE hosts SET last_seen = ? WHERE id = ?"), old, id); err != nil {
				t.Fatal(err)
			}
		}
		sum, err = s.SummaryWith(ctx, time.Now(), store.SummaryOptions{StaleAfter: 7 * 24 * time.Hour})
		if err != nil || sum.Stale != 3 || sum.Offline != 3 {
			t.Fatalf("stale and offline before retiring: %+v %v", sum, err)
		}
		cut := time.Now().Add(-30 * 24 * time.Hour)
		var n []int
		for {
			k, err := s.RetireStale(ctx, cut, 2, "not seen for 30d")
			if err != nil {
				t.Fatal(err)
			}
			n = append(n, k)
			if k < 2 {
				break
			}
		}
		if fmt.Sprint(n) != "[2 1 0]" && fmt.Sprint(n) != "[2 1]" {
			t.Errorf("RetireStale batches %v, want 2 then 1", n)
		}
		checkAggregates(t, s)
		if sum := summary(t, s); sum.Hosts != 2 || sum.Retired != 3 || sum.Stale != 0 || sum.Offline != 0 || sum.BlockedRoots != 1 {
			t.Fatalf("after RetireStale: %+v", sum)
		}
		// A retired host that enrolls again with its node key is back too.
		eo, _, err := s.WriteBatch(ctx, []store.EnrollIn{{NodeKey: store.NewCredential(store.PrefixNodeKey), CurrentNodeKey: keys[4], Now: time.Now(),
			Facts: api.HostFacts{Hostname: "h4", MachineID: "m4", OS: "linux"}}}, nil)
		if err != nil || eo[0].Err != nil || eo[0].HostID != ids[4] || !eo[0].Reenrolled {
			t.Fatalf("re-enroll retired host: %+v %v", eo, err)
		}
		checkAggregates(t, s)
		// Deleting a retired host leaves the counters right.
		if err := s.DeleteHost(ctx, ids[2]); err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, s)
		if sum := summary(t, s); sum.Hosts != 3 || sum.Retired != 1 {
			t.Fatalf("after delete: %+v", sum)
		}
	})
}

func summary(t *testing.T, s *store.Store) *api.FleetSummary {
	t.Helper()
	sum, err := s.Summary(context.Background(), time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func contains(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// TestHourlySnapshots: the snapshot of an hour is the fleet as the hour
// began (before any change in it), recorded once, and the trend ends with
// the fleet now.
func TestHourlySnapshots(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		h10 := time.Now().Add(-5 * time.Hour).Truncate(time.Hour)
		at := func(d time.Duration) time.Time { return h10.Add(d) }
		var ids []int64
		for i := 0; i < 4; i++ {
			eo, _, err := s.WriteBatch(ctx, []store.EnrollIn{{NodeKey: store.NewCredential(store.PrefixNodeKey), Now: at(5 * time.Minute),
				Facts: api.HostFacts{Hostname: fmt.Sprint("h", i), MachineID: fmt.Sprint("m", i), OS: "linux"}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, eo[0].HostID)
		}
		// During hour 10 all four become compliant, one after another.
		for i, id := range ids {
			write(t, s, store.ReportIn{HostID: id, Report: fullReport(fmt.Sprint("a", i), 1, "compliant"), Received: at(time.Duration(10+10*i) * time.Minute)})
		}
		// Hour 11: one turns noncompliant at 11:20.
		write(t, s, store.ReportIn{HostID: ids[0], Report: fullReport("b0", 1, stores.StatusMissing), Received: at(80 * time.Minute)})
		// Hour 12: nothing changes; hour 13: one more noncompliant.
		write(t, s, store.ReportIn{HostID: ids[1], Report: fullReport("c1", 1, stores.StatusMissing), Received: at(190 * time.Minute)})
		tr, err := s.Trend(ctx, h10.Add(-time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := map[time.Time][2]int64{}
		for _, p := range tr.Points[:len(tr.Points)-1] {
			got[p.Time] = [2]int64{p.Hosts, p.Compliant}
		}
		// 10:00 — before the first enrollment: nothing (no point);
		// 11:00 — the end of hour 10: 4 hosts, 4 compliant;
		// 12:00 — not recorded by a write (nothing happened in hour 12);
		// 13:00 — the end of hours 11 and 12: 4 hosts, 3 compliant.
		want := map[time.Time][2]int64{at(time.Hour).UTC(): {4, 4}, at(3 * time.Hour).UTC(): {4, 3}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("snapshots %v, want %v", got, want)
		}
		cur := tr.Points[len(tr.Points)-1]
		if !cur.Current || cur.Hosts != 4 || cur.Compliant != 2 {
			t.Errorf("current point %+v, want 4 hosts, 2 compliant", cur)
		}
		// An hour without a write is recorded by SnapshotHour, once.
		for i := 0; i < 2; i++ {
			if err := s.SnapshotHour(ctx, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := s.ReadDB().QueryRowContext(ctx, q(s, "SELECT COUNT(*) FROM compliance_snapshots WHERE bucket = ? AND dim = 'hosts'"),
			time.Now().Truncate(time.Hour).UnixMilli()).Scan(&n); err != nil || n != 2 {
			t.Errorf("this hour's snapshot: %d rows (compliant and noncompliant), %v", n, err)
		}
	})
}

// TestPruneBatch deletes history past its retention in bounded batches.
func TestPruneBatch(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id, _ := enroll(t, s, "h", "m")
		old, recent := time.Now().Add(-400*24*time.Hour), time.Now().Add(-time.Hour)
		rep := fullReport("r", 1, stores.StatusCompliant)
		for i := 0; i < 25; i++ {
			rep.Events = append(rep.Events, api.Event{ID: fmt.Sprint("e", i), Type: api.EventRemoved, Time: recent})
		}
		write(t, s, store.ReportIn{HostID: id, Report: rep, Received: old}) // received 400 days ago
		rep2 := fullReport("r2", 1, stores.StatusCompliant)
		rep2.Events = []api.Event{{ID: "new", Type: api.EventHealed, Time: old}} // an agent's clock far behind
		write(t, s, store.ReportIn{HostID: id, Report: rep2, Received: recent})
		var batches []int64
		for {
			n, err := s.PruneBatch(ctx, "events", time.Now().Add(-365*24*time.Hour), 10)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, n)
			if n < 10 {
				break
			}
		}
		if fmt.Sprint(batches) != "[10 10 5]" {
			t.Errorf("prune batches %v, want [10 10 5]", batches)
		}
		ev, err := s.Events(ctx, store.EventFilter{})
		if err != nil || len(ev.Events) != 1 || ev.Events[0].ID != "new" {
			t.Fatalf("events left: %+v %v (retention goes by the collector's receive time)", ev, err)
		}
		if n, err := s.PruneBatch(ctx, "reports", time.Now().Add(-30*24*time.Hour), 100); err != nil || n != 1 {
			t.Errorf("prune report ids: %d %v, want the old one", n, err)
		}
		if _, err := s.PruneBatch(ctx, "hosts", time.Now(), 10); err == nil {
			t.Error("PruneBatch accepted an unknown history")
		}
	})
}

// TestOpenExisting refuses what is not a collector database, and never
// creates one.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	pgEmpty, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{filepath.Join(dir, "missing", "collector.db"), filepath.Join(dir, "none.db"), empty, dir, other, pgEmpty} {
		_, err := store.OpenExisting(ctx, u)
		var nd *store.NoDatabaseError
		if !errors.As(err, &nd) {
			t.Errorf("OpenExisting(%s): %v, want a NoDatabaseError", u, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Error("OpenExisting created a directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Error("OpenExisting created a file")
	}
	var n int
	pdb, _ := sql.Open("pgx", pgEmpty)
	defer pdb.Close()
	if err := pdb.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&n); err != nil || n != 0 {
		t.Errorf("OpenExisting created %d tables in an empty PostgreSQL database (%v)", n, err)
	}
	for _, u := range []string{filepath.Join(dir, "made.db"), pgEmpty} {
		st, err := store.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		st, err = store.OpenExisting(ctx, u)
		if err != nil {
			t.Fatalf("OpenExisting(%s) after Open: %v", u, err)
		}
		st.Close()
	}
}

// TestIsUnavailable classifies real driver errors: a lost PostgreSQL
// connection and a refused one are the database's condition; a constraint
// violation, a syntax error and a cancelled request are not.
func TestIsUnavailable(t *testing.T) {
	ctx := context.Background()
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	u, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cdb, _ := sql.Open("pgx", "postgres://x@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	defer cdb.Close()
	connErr := cdb.PingContext(ctx)
	// A connection the server terminates.
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	admin, _ := sql.Open("pgx", u)
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	_, lostErr := conn.ExecContext(ctx, "SELECT 1")
	conn.Close()
	_, dupErr := st.DB().ExecContext(ctx, "INSERT INTO policies (serial, blob, sha256, uploaded_at) VALUES (1, 'x', 'y', 0), (1, 'x', 'y', 0)")
	_, synErr := st.DB().ExecContext(ctx, "SELEC 1")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, cancelErr := st.DB().ExecContext(cctx, "SELECT 1")
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", connErr, true},
		{"connection terminated by the server", lostErr, true},
		{"unique violation", dupErr, false},
		{"syntax error", synErr, false},
		{"request cancelled", cancelErr, false},
	} {
		if c.err == nil {
			t.Errorf("%s: no error happened", c.name)
			continue
		}
		if got := store.IsUnavailable(fmt.Errorf("wrapped: %w", c.err)); got != c.want {
			t.Errorf("%s (%v): IsUnavailable %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
