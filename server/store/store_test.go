package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// pg is the PostgreSQL cluster every test in this package shares (one
// fresh database per test); pgErr says why it could not start.
var (
	pg    *servertest.PostgresCluster
	pgErr error
)

func TestMain(m *testing.M) {
	pg, pgErr = servertest.NewPostgresCluster(servertest.PostgresOptions{})
	code := m.Run()
	if pg != nil {
		if err := pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// forEachDB runs fn against a fresh SQLite file and a fresh PostgreSQL
// database.
func forEachDB(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "collector.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		if pgErr != nil {
			t.Fatal(pgErr)
		}
		u, err := pg.NewDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

func enroll(t *testing.T, s *store.Store, hostname, machineID string) (int64, string) {
	t.Helper()
	key := store.NewCredential(store.PrefixNodeKey)
	eo, _, err := s.WriteBatch(context.Background(), []store.EnrollIn{{
		NodeKey: key, SecretName: "default", Now: time.Now(),
		Facts: api.HostFacts{Hostname: hostname, MachineID: machineID, OS: "linux", OSVersion: "Debian 12", Arch: "amd64",
			AgentVersion: "1.0", IPs: []string{"10.0.0.1"}, MACs: []string{"AA:BB:CC:DD:EE:FF"}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eo[0].Err != nil {
		t.Fatal(eo[0].Err)
	}
	return eo[0].HostID, key
}

func fullReport(id string, serial int64, statuses ...stores.Status) *api.ReportRequest {
	hash := make([]string, len(statuses))
	for i, st := range statuses {
		hash[i] = string(st)
	}
	r := &api.ReportRequest{ReportID: id, Kind: api.ReportFull, GeneratedAt: time.Now(), PolicySerial: serial, StateHash: "h-" + strings.Join(hash, ",")}
	kinds := []stores.Kind{stores.KindSystem, stores.KindNSS, stores.KindJava}
	for i, st := range statuses {
		r.Stores = append(r.Stores, api.StoreStatus{ID: fmt.Sprintf("%s:/s%d", kinds[i%3], i), Kind: kinds[i%3], Path: fmt.Sprintf("/s%d", i), Status: st})
	}
	r.CAs = []api.CA{{SHA256: "ca1", Subject: "CN=Corp CA", NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}
	return r
}

func write(t *testing.T, s *store.Store, reps ...store.ReportIn) []store.ReportOut {
	t.Helper()
	for i := range reps {
		if reps[i].Received.IsZero() {
			reps[i].Received = time.Now()
		}
	}
	_, ro, err := s.WriteBatch(context.Background(), nil, reps)
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

func TestMigrationsIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var v int
		if err := s.DB().QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != store.SchemaVersion() {
			t.Fatalf("schema version %d, want %d", v, store.SchemaVersion())
		}
		for _, view := range []string{"v_hosts", "v_host_stores", "v_events", "v_roots_seen", "v_ca_expiry", "v_fleet_compliance", "v_compliance_history"} {
			rows, err := s.DB().QueryContext(ctx, "SELECT * FROM "+view)
			if err != nil {
				t.Fatalf("view %s: %v", view, err)
			}
			rows.Close()
		}
	})
	// Reopening an up-to-date SQLite database applies nothing and works.
	p := filepath.Join(t.TempDir(), "c.db")
	for i := 0; i < 2; i++ {
		s, err := store.Open(context.Background(), "sqlite:"+p)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestCredentials(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sec, err := s.AddSecret(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddSecret(ctx, "default"); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("duplicate secret name: %v", err)
		}
		if _, err := s.AddSecret(ctx, "bad name!"); err == nil {
			t.Fatal("bad name accepted")
		}
		if name, err := s.CheckSecret(ctx, sec); err != nil || name != "default" {
			t.Fatalf("CheckSecret = %q, %v", name, err)
		}
		if _, err := s.CheckSecret(ctx, sec+"x"); err != store.ErrNotFound {
			t.Fatalf("wrong secret: %v", err)
		}
		// Stored hashed, never in clear.
		var n int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM enroll_secrets WHERE hash = '"+store.HashCredential(sec)+"'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("hash stored: n=%d err=%v", n, err)
		}
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM enroll_secrets WHERE hash = '"+sec+"' OR name = '"+sec+"'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("secret in clear: n=%d err=%v", n, err)
		}
		if err := s.RevokeSecret(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckSecret(ctx, sec); err != store.ErrNotFound {
			t.Fatalf("revoked secret still works: %v", err)
		}
		if err := s.RevokeSecret(ctx, "default"); err == nil {
			t.Fatal("revoking twice succeeded")
		}

		tok, err := s.AddToken(ctx, "grafana", store.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddToken(ctx, "x", "root"); err == nil {
			t.Fatal("bad role accepted")
		}
		if name, role, err := s.CheckToken(ctx, tok); err != nil || name != "grafana" || role != store.RoleViewer {
			t.Fatalf("CheckToken = %q %q %v", name, role, err)
		}
		if err := s.RevokeToken(ctx, "grafana"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CheckToken(ctx, tok); err != store.ErrNotFound {
			t.Fatalf("revoked token works: %v", err)
		}
		list, err := s.ListTokens(ctx)
		if err != nil || len(list) != 1 || list[0].RevokedAt.IsZero() {
			t.Fatalf("ListTokens = %+v, %v", list, err)
		}
	})
}

func TestEnrollAndReport(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id, key := enroll(t, s, "web-1", "m-1")
		if got, err := s.CheckNodeKey(ctx, key); err != nil || got != id {
			t.Fatalf("CheckNodeKey = %d, %v", got, err)
		}
		h, err := s.Host(ctx, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != store.StatusPending || h.Hostname != "web-1" || len(h.Addresses) != 2 {
			t.Fatalf("after enroll: %+v", h)
		}
		if h.Addresses[1].MAC != "aa:bb:cc:dd:ee:ff" && h.Addresses[0].MAC != "aa:bb:cc:dd:ee:ff" {
			t.Fatalf("MAC not lowercased: %+v", h.Addresses)
		}

		rep := fullReport("r1", 3, stores.StatusCompliant, stores.StatusMissing)
		rep.Events = []api.Event{{ID: "e1", Type: api.EventRemoved, StoreID: "nss:/s1", Time: time.Now()}}
		ro := write(t, s, store.ReportIn{HostID: id, Report: rep})
		if ro[0].Err != nil || ro[0].Duplicate {
			t.Fatalf("first report: %+v", ro[0])
		}
		// The same report again, and twice in one batch: stored once.
		ro = write(t, s, store.ReportIn{HostID: id, Report: rep}, store.ReportIn{HostID: id, Report: rep})
		if !ro[0].Duplicate || !ro[1].Duplicate {
			t.Fatalf("resent report not a duplicate: %+v", ro)
		}
		h, err = s.Host(ctx, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != store.StatusNoncompliant || h.PolicySerial != 3 || len(h.Stores) != 2 || h.StoresCompliant != 1 || len(h.Events) != 1 || len(h.CAs) != 1 {
			t.Fatalf("after report: %+v", h)
		}

		// A heartbeat bumps last seen only.
		seenBefore := h.LastSeen
		later := time.Now().Add(time.Minute)
		write(t, s, store.ReportIn{HostID: id, Report: &api.ReportRequest{ReportID: "r2", Kind: api.ReportHeartbeat, PolicySerial: 3, StateHash: rep.StateHash}, Received: later})
		h, _ = s.Host(ctx, id, 10)
		if !h.LastSeen.After(seenBefore) || h.Status != store.StatusNoncompliant || len(h.Stores) != 2 {
			t.Fatalf("after heartbeat: %+v", h)
		}

		// Healed: now compliant; the event resent with a new one is stored once.
		rep3 := fullReport("r3", 3, stores.StatusCompliant, stores.StatusCompliant)
		rep3.Events = []api.Event{rep.Events[0], {ID: "e2", Type: api.EventHealed, StoreID: "nss:/s1", Time: time.Now()}}
		write(t, s, store.ReportIn{HostID: id, Report: rep3})
		h, _ = s.Host(ctx, id, 10)
		if h.Status != store.StatusCompliant || len(h.Events) != 2 {
			t.Fatalf("after heal: status %s, %d events", h.Status, len(h.Events))
		}

		// An unknown host id is an item error, not a batch failure.
		ro = write(t, s, store.ReportIn{HostID: 99999, Report: fullReport("x", 1, stores.StatusCompliant)})
		if ro[0].Err != store.ErrNotFound {
			t.Fatalf("unknown host: %+v", ro[0])
		}

		// Re-enrolling the same machine, proving it holds the node key,
		// keeps the host and rotates the key (hostkeys_test.go covers the
		// host key and the flagged re-enrollments).
		key2 := store.NewCredential(store.PrefixNodeKey)
		eo, _, err := s.WriteBatch(ctx, []store.EnrollIn{{NodeKey: key2, Now: time.Now(), CurrentNodeKey: key,
			Facts: api.HostFacts{Hostname: "web-1-renamed", MachineID: "m-1", OS: "linux"}}}, nil)
		if err != nil || eo[0].Err != nil || !eo[0].Reenrolled {
			t.Fatalf("re-enroll: %+v %v", eo, err)
		}
		if id2 := eo[0].HostID; id2 != id {
			t.Fatalf("re-enroll made host %d, want %d", id2, id)
		}
		if _, err := s.CheckNodeKey(ctx, key); err != store.ErrNotFound {
			t.Fatalf("old node key still valid: %v", err)
		}
		if got, err := s.CheckNodeKey(ctx, key2); err != nil || got != id {
			t.Fatalf("new node key: %d %v", got, err)
		}
		checkAggregates(t, s)

		sum, err := s.Summary(ctx, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Hosts != 1 || sum.Compliant != 1 || sum.CompliantPct != 100 || len(sum.ByStoreKind) != 2 {
			t.Fatalf("summary: %+v", sum)
		}
		cas, err := s.CAExpiry(ctx)
		if err != nil || len(cas.CAs) != 1 || cas.CAs[0].Hosts != 1 {
			t.Fatalf("CA expiry: %+v %v", cas, err)
		}
		ids, err := s.HostsByAddress(ctx, "10.0.0.1", "")
		if err != nil || len(ids) != 1 || ids[0] != id {
			t.Fatalf("HostsByAddress: %v %v", ids, err)
		}
	})
}

// checkAggregates compares the maintained fleet aggregates with a recount.
func checkAggregates(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Aggregates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.RecountAggregates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	toMap := func(rows []store.AggRow) map[string]int64 {
		m := map[string]int64{}
		for _, r := range rows {
			if r.N != 0 {
				m[r.Dim+"|"+r.Key+"|"+r.Status] = r.N
			}
		}
		return m
	}
	if g, w := toMap(got), toMap(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("maintained aggregates differ from a recount:\n got %v\nwant %v", g, w)
	}
	// The host page index (host_facets) matches the stores.
	const recount = `SELECT DISTINCT 'k:' || kind, host_id FROM host_stores
UNION SELECT DISTINCT 's:' || status, host_id FROM host_stores
UNION SELECT DISTINCT 'ks:' || status || ':' || kind, host_id FROM host_stores`
	for _, q := range []string{"SELECT facet, host_id FROM host_facets EXCEPT SELECT * FROM (" + recount + ") AS r",
		"SELECT * FROM (" + recount + ") AS r EXCEPT SELECT facet, host_id FROM host_facets"} {
		var n int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+q+") AS d").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("host_facets differs from the stores in %d rows (%s)", n, q)
		}
	}
}

// TestAggregatesMatchRecount drives random enrollments, full reports,
// heartbeats, duplicates and re-enrollments in random batches and checks
// the maintained counters against a recount.
func TestAggregatesMatchRecount(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		rng := rand.New(rand.NewPCG(1, 2))
		statuses := []stores.Status{stores.StatusCompliant, stores.StatusCompliant, stores.StatusCompliant, stores.StatusMissing, stores.StatusError, stores.StatusUntrusted, stores.StatusNeedsMDM}
		oses := []string{"linux", "windows", "darwin"}
		var hosts []int64
		n := 0
		for round := 0; round < 30; round++ {
			var enrolls []store.EnrollIn
			for i := 0; i < rng.IntN(4); i++ {
				enrolls = append(enrolls, store.EnrollIn{NodeKey: store.NewCredential(store.PrefixNodeKey), Now: time.Now(),
					Facts: api.HostFacts{Hostname: fmt.Sprintf("h%d", rng.IntN(20)), MachineID: fmt.Sprintf("m%d", rng.IntN(20)), OS: oses[rng.IntN(3)]}})
			}
			var reps []store.ReportIn
			for i := 0; i < rng.IntN(12) && len(hosts) > 0; i++ {
				n++
				id := hosts[rng.IntN(len(hosts))]
				var rep *api.ReportRequest
				if rng.IntN(3) == 0 {
					rep = &api.ReportRequest{ReportID: fmt.Sprint(n), Kind: api.ReportHeartbeat, PolicySerial: int64(rng.IntN(3))}
				} else {
					var st []stores.Status
					for j := 0; j < rng.IntN(5); j++ {
						st = append(st, statuses[rng.IntN(len(statuses))])
					}
					rep = fullReport(fmt.Sprint(n), int64(rng.IntN(3)), st...)
					if rng.IntN(4) == 0 {
						rep.UnknownRoots = []api.Root{{SHA256: fmt.Sprintf("root%d", rng.IntN(3)), Class: []inventory.Class{inventory.Unknown, inventory.Blocked}[rng.IntN(2)], Subject: "CN=x"}}
					}
					if rng.IntN(3) == 0 {
						rep.Host = &api.HostFacts{Hostname: "renamed", OS: oses[rng.IntN(3)]}
					}
				}
				reps = append(reps, store.ReportIn{HostID: id, Report: rep, Received: time.Now()})
				if rng.IntN(5) == 0 { // a resend
					reps = append(reps, store.ReportIn{HostID: id, Report: rep, Received: time.Now()})
				}
			}
			eo, _, err := s.WriteBatch(context.Background(), enrolls, reps)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range eo {
				if e.Err != nil {
					t.Fatal(e.Err)
				}
				if !e.Reenrolled {
					hosts = append(hosts, e.HostID)
				}
			}
			checkAggregates(t, s)
			// Retire a host now and then (its next report brings it back).
			if len(hosts) > 0 && rng.IntN(2) == 0 {
				if err := s.RetireHost(context.Background(), hosts[rng.IntN(len(hosts))], "test"); err != nil && !errors.Is(err, store.ErrRetired) {
					t.Fatal(err)
				}
				checkAggregates(t, s)
			}
		}
		if err := s.RebuildAggregates(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, s)
	})
}

func TestListHostsFiltersAndCursor(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var ids []int64
		for i := 0; i < 25; i++ {
			id, _ := enroll(t, s, fmt.Sprintf("Web-%02d.corp", i), fmt.Sprintf("m%d", i))
			ids = append(ids, id)
			st := stores.StatusCompliant
			if i%5 == 0 {
				st = stores.StatusMissing
			}
			write(t, s, store.ReportIn{HostID: id, Report: fullReport(fmt.Sprint("r", i), int64(i%2+1), "compliant", st)})
		}
		serial := int64(2)
		cases := []struct {
			name string
			f    store.HostFilter
			want int
		}{
			{"all", store.HostFilter{}, 25},
			{"status", store.HostFilter{Status: store.StatusNoncompliant}, 5},
			{"os", store.HostFilter{OS: "linux"}, 25},
			{"os none", store.HostFilter{OS: "windows"}, 0},
			{"hostname substring, case-insensitive", store.HostFilter{Hostname: "WEB-1"}, 10},
			{"hostname wildcard is literal", store.HostFilter{Hostname: "%"}, 0},
			{"serial", store.HostFilter{PolicySerial: &serial}, 12},
			{"store kind and status", store.HostFilter{StoreKind: stores.KindNSS, StoreStatus: stores.StatusMissing}, 5},
			{"store kind", store.HostFilter{StoreKind: stores.KindJava}, 0},
			{"store status", store.HostFilter{StoreStatus: stores.StatusMissing}, 5},
			{"store status and host status", store.HostFilter{StoreStatus: stores.StatusCompliant, Status: store.StatusNoncompliant}, 5},
			{"store and hostname", store.HostFilter{StoreStatus: stores.StatusMissing, Hostname: "web-0"}, 2},
			{"store and cursor", store.HostFilter{StoreKind: stores.KindNSS, AfterID: ids[19]}, 5},
			{"hostname, short", store.HostFilter{Hostname: "b-"}, 25},
			{"hostname, underscore is literal", store.HostFilter{Hostname: "web_1"}, 0},
			{"seen after", store.HostFilter{SeenAfter: time.Now().Add(-time.Hour)}, 25},
			{"seen before", store.HostFilter{SeenBefore: time.Now().Add(-time.Hour)}, 0},
		}
		for _, c := range cases {
			var got []int64
			f := c.f
			f.Limit = 4
			for pages := 0; pages < 20; pages++ {
				page, err := s.ListHosts(ctx, f)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				for _, h := range page.Hosts {
					got = append(got, h.ID)
				}
				if page.NextCursor == "" {
					break
				}
				f.AfterID, err = store.ParseCursor(page.NextCursor)
				if err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != c.want {
				t.Errorf("%s: %d hosts, want %d", c.name, len(got), c.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Errorf("%s: not in id order: %v", c.name, got)
				}
			}
		}
		// A renamed host is found by its new name only (the trigram index
		// follows hosts).
		rep := fullReport("rename", 1, stores.StatusCompliant)
		rep.Host = &api.HostFacts{Hostname: "db-primary.corp", OS: "linux"}
		write(t, s, store.ReportIn{HostID: ids[3], Report: rep})
		for name, want := range map[string]int{"PRIMARY": 1, "web-03": 0, "web-0": 9} {
			page, err := s.ListHosts(ctx, store.HostFilter{Hostname: name})
			if err != nil || len(page.Hosts) != want {
				t.Errorf("hostname %q after rename: %d hosts, %v; want %d", name, len(page.Hosts), err, want)
			}
		}
		if _, err := store.ParseCursor("abc"); err != store.ErrBadCursor {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

func TestEventsSinceAndCursor(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id, _ := enroll(t, s, "h", "m")
		base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		rep := fullReport("r", 1, stores.StatusCompliant)
		for i := 0; i < 10; i++ {
			rep.Events = append(rep.Events, api.Event{ID: fmt.Sprint("e", i), Type: api.EventRemoved, Time: base.Add(time.Duration(i%5) * time.Minute)})
		}
		write(t, s, store.ReportIn{HostID: id, Report: rep})
		// Newest first (the default), then oldest first: each page by
		// the previous page's cursor, every event once, in order.
		for _, oldest := range []bool{false, true} {
			var all []api.HostEvent
			f := store.EventFilter{Since: base.Add(time.Minute), Limit: 3, OldestFirst: oldest}
			for i := 0; i < 10; i++ {
				page, err := s.Events(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, page.Events...)
				if page.NextCursor == "" {
					break
				}
				f.Cursor = page.NextCursor
			}
			if len(all) != 8 {
				t.Fatalf("oldest first %v: %d events since T, want 8", oldest, len(all))
			}
			seen := map[int64]bool{}
			for i, e := range all {
				if seen[e.Seq] {
					t.Fatalf("oldest first %v: event %d listed twice", oldest, e.Seq)
				}
				seen[e.Seq] = true
				if i == 0 {
					continue
				}
				p := all[i-1]
				before := e.Time.Before(p.Time) || e.Time.Equal(p.Time) && e.Seq < p.Seq
				if before == oldest {
					t.Fatalf("oldest first %v: events not in order at %d: %v #%d after %v #%d", oldest, i, e.Time, e.Seq, p.Time, p.Seq)
				}
			}
		}
		if _, err := s.Events(ctx, store.EventFilter{Cursor: "zz"}); err != store.ErrBadCursor {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

func TestPolicySerialMonotonic(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.CurrentPolicy(ctx); err != store.ErrNotFound {
			t.Fatalf("empty: %v", err)
		}
		if err := s.PutPolicy(ctx, 5, []byte{0, 1, 2, 0xff}); err != nil {
			t.Fatal(err)
		}
		for _, serial := range []int64{5, 4, 0} {
			err := s.PutPolicy(ctx, serial, []byte("x"))
			if err == nil {
				t.Fatalf("serial %d accepted after 5", serial)
			}
			if serial > 0 && !errors.Is(err, store.ErrStaleSerial) {
				t.Errorf("serial %d after 5: %v, want ErrStaleSerial", serial, err)
			}
		}
		p, err := s.CurrentPolicy(ctx)
		if err != nil || p.Serial != 5 || string(p.Blob) != "\x00\x01\x02\xff" {
			t.Fatalf("CurrentPolicy = %+v, %v", p, err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"", "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"} {
		if _, err := store.Open(ctx, u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	// A file that is not a database.
	p := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(p, []byte(strings.Repeat("not a database ", 200)), 0o600)
	if _, err := store.Open(ctx, p); err == nil {
		t.Error("Open(junk file) succeeded")
	}
}

// TestImportHosts: a directly imported fleet has exact aggregates and
// facets, findable hosts and working node keys.
func TestImportHosts(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		existing, _ := enroll(t, s, "before", "m-before")
		var hosts []store.ImportHost
		for i := 0; i < 300; i++ {
			rep := fullReport("x", int64(1+i%3), stores.StatusCompliant, []stores.Status{stores.StatusCompliant, stores.StatusMissing, stores.StatusError}[i%3])
			hosts = append(hosts, store.ImportHost{NodeKey: fmt.Sprintf("%simport-%d", store.PrefixNodeKey, i), SecretName: "seed",
				Facts:      api.HostFacts{Hostname: fmt.Sprintf("imp-%03d", i), MachineID: fmt.Sprint("imp", i), OS: "linux", IPs: []string{"10.1.0.1"}},
				EnrolledAt: time.Now(), LastSeen: time.Now(), PolicySerial: rep.PolicySerial, StateHash: rep.StateHash, Stores: rep.Stores, CAs: rep.CAs})
		}
		if err := s.ImportHosts(ctx, hosts[:120]); err != nil {
			t.Fatal(err)
		}
		if err := s.ImportHosts(ctx, hosts[120:]); err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, s)
		page, err := s.ListHosts(ctx, store.HostFilter{Hostname: "IMP-2", StoreKind: stores.KindNSS, StoreStatus: stores.StatusMissing, Limit: 1000})
		if err != nil || len(page.Hosts) != 33 {
			t.Fatalf("imported hosts by name and store: %d, %v", len(page.Hosts), err)
		}
		id, err := s.CheckNodeKey(ctx, hosts[7].NodeKey)
		if err != nil || id <= existing {
			t.Fatalf("imported node key: %d %v", id, err)
		}
		// A host enrolled after the import gets a fresh id.
		if after, _ := enroll(t, s, "after", "m-after"); after <= id {
			t.Fatalf("host enrolled after import: id %d", after)
		}
		ro := write(t, s, store.ReportIn{Report: &api.ReportRequest{NodeKey: hosts[7].NodeKey, ReportID: "hb", Kind: api.ReportHeartbeat, StateHash: hosts[7].StateHash, PolicySerial: 2}})
		if ro[0].Err != nil || ro[0].NeedFull {
			t.Fatalf("heartbeat of an imported host: %+v", ro[0])
		}
		checkAggregates(t, s)
	})
}
