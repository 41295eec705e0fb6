package devices

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/evidence"
)

func TestAddBatchExactlyOnce(t *testing.T) {
	_, d := openTest(t)
	ctx := context.Background()
	batch := []evidence.Observation{
		obs(evidence.SourceSquidAccess, "10.1.0.1", "", "", t0, ""),
		obs(evidence.SourceSquidAccess, "10.1.0.1", "", "", t0.Add(time.Minute), ""),
		obs(evidence.SourceSquidCache, "10.1.0.2", "", "", t0, evidence.EvidenceRejectedCA+": unknown ca"),
	}
	for i := 0; i < 3; i++ {
		dup, err := d.AddBatch(ctx, "b-1", batch)
		if err != nil || dup != (i > 0) {
			t.Fatalf("send %d: duplicate=%v err=%v", i, dup, err)
		}
	}
	if _, err := d.AddBatch(ctx, "", batch); err == nil {
		t.Error("a batch without an id was stored")
	}
	all, err := d.List(ctx, Filter{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := byKey(all)
	if m["ip:10.1.0.1"].Sightings != 2 || !m["ip:10.1.0.2"].RejectsCA || len(all) != 2 {
		t.Errorf("after sending one batch three times: %+v", all)
	}
	// Pruned ids are forgotten: the same id is new again.
	if n, err := d.PruneBatches(ctx, time.Now().Add(time.Hour)); n != 1 || err != nil {
		t.Fatalf("prune: %d %v", n, err)
	}
	if dup, err := d.AddBatch(ctx, "b-1", batch[:1]); dup || err != nil {
		t.Errorf("after pruning: duplicate=%v err=%v", dup, err)
	}
}

func TestPaginate(t *testing.T) {
	var devs []Device
	for i := 0; i < 25; i++ {
		// Pairs share a last-seen time: the key breaks the tie.
		devs = append(devs, Device{Key: fmt.Sprintf("ip:10.0.0.%02d", i), LastSeen: t0.Add(-time.Duration(i/2) * time.Minute)})
	}
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		p, err := Paginate(devs, cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if p.Total != 25 || len(p.Devices) > 7 {
			t.Fatalf("page %d: %+v", pages, p)
		}
		for _, d := range p.Devices {
			if seen[d.Key] {
				t.Errorf("%s on two pages", d.Key)
			}
			seen[d.Key] = true
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if pages != 4 || len(seen) != 25 {
		t.Errorf("%d pages, %d devices", pages, len(seen))
	}
	for _, bad := range []string{"x", "!!!", "MTIz"} {
		if _, err := Paginate(devs, bad, 7); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
	if p, err := Paginate(nil, "", 10); err != nil || p.Devices == nil || p.NextCursor != "" {
		t.Errorf("empty: %+v %v", p, err)
	}
}

// TestConcurrentMigrate prepares the device tables of one fresh SQLite
// file from many connections at once, each on its own plain (deferred
// transaction) handle: all succeed and each version is applied once.
func TestConcurrentMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fresh.db")
	const n = 8
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		sqlDB, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		sqlDB.SetMaxOpenConns(1)
		defer sqlDB.Close()
		// Connect one at a time: switching a new file to WAL is the
		// store's business (store.Open retries it); what runs
		// concurrently below is the migration.
		if err := sqlDB.Ping(); err != nil {
			t.Fatal(err)
		}
		dbs[i] = sqlDB
	}
	errs := make(chan error, n)
	start := make(chan struct{})
	for _, sqlDB := range dbs {
		go func() {
			<-start
			_, err := Open(context.Background(), sqlDB, nil, db.SQLite)
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var rows int
	if err := dbs[0].QueryRow("SELECT COUNT(*) FROM devices_schema").Scan(&rows); err != nil || rows != db.DeviceSchemaVersion() {
		t.Errorf("devices_schema has %d rows (%v), want %d", rows, err, db.DeviceSchemaVersion())
	}
}

// TestDHCPDBatchesKeepNewestLease: a dhcpd.leases journal is committed in
// several batches, and 10.3.0.7 moves from a phone to a laptop in a later
// batch than its first lease. The store keeps both leases; a proxy
// sighting of the bare address after the move goes to the laptop (the
// newest lease), one before it to the phone (the sightings are a day
// apart: the store aggregates a source's sightings of an address by day).
// Ingesting the file again changes nothing.
func TestDHCPDBatchesKeepNewestLease(t *testing.T) {
	_, d := openTest(t)
	ctx := context.Background()
	var b strings.Builder
	lease := func(ip, mac, host string, at time.Time) {
		ts := at.Format("2006/01/02 15:04:05")
		fmt.Fprintf(&b, "lease %s {\n  starts 3 %s;\n  ends 3 %s;\n  cltt 3 %s;\n  binding state active;\n  hardware ethernet %s;\n  client-hostname %q;\n}\n",
			ip, ts, at.Add(time.Hour).Format("2006/01/02 15:04:05"), ts, mac, host)
	}
	lease("10.3.0.7", "02:00:00:00:00:01", "phone", t0)
	for i := 0; i < 10; i++ { // other leases: batches of 4 split the file
		lease(fmt.Sprintf("10.3.1.%d", i), fmt.Sprintf("02:00:00:00:01:%02x", i), "", t0.Add(time.Duration(i)*time.Minute))
	}
	lease("10.3.0.7", "02:00:00:00:00:02", "laptop", t0.Add(26*time.Hour))
	path := filepath.Join(t.TempDir(), "dhcpd.leases")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opt := evidence.IngestOptions{Options: evidence.Options{BatchObservations: 4}}
	for i := 0; i < 2; i++ {
		if _, err := evidence.IngestFile(ctx, d, evidence.SourceDHCPD, path, opt); err != nil {
			t.Fatal(err)
		}
	}
	err := d.AddObservations(ctx, []evidence.Observation{
		obs(evidence.SourceSquidAccess, "10.3.0.7", "", "", t0.Add(30*time.Minute), ""),
		obs(evidence.SourceSquidAccess, "10.3.0.7", "", "", t0.Add(26*time.Hour+30*time.Minute), ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.List(ctx, Filter{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := byKey(all)
	phone, laptop := m["mac:02:00:00:00:00:01"], m["mac:02:00:00:00:00:02"]
	if phone.Sightings != 2 || !contains(phone.Sources, evidence.SourceSquidAccess) || !phone.LastSeen.Equal(t0.Add(30*time.Minute)) {
		t.Errorf("phone (first lease, and the sighting while it held the address): %+v", phone)
	}
	if laptop.Sightings != 2 || !contains(laptop.Sources, evidence.SourceSquidAccess) || !laptop.LastSeen.Equal(t0.Add(26*time.Hour+30*time.Minute)) {
		t.Errorf("laptop (newest lease, and the sighting after the move): %+v", laptop)
	}
	if len(all) != 12 {
		t.Errorf("%d devices, want 12 (one per MAC, no bare address): %+v", len(all), all)
	}
}
