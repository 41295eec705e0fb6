package devices

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// openTest opens a collector database in a temp dir, with the device tables.
func openTest(t testing.TB) (*store.Store, *DB) {
	t.Helper()
	return openURL(t, filepath.Join(t.TempDir(), "collector.db"))
}

func openURL(t testing.TB, dbURL string) (*store.Store, *DB) {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := Open(context.Background(), st.DB(), st.ReadDB(), Dialect(st.Dialect()))
	if err != nil {
		t.Fatal(err)
	}
	return st, d
}

func enroll(t testing.TB, st *store.Store, name string, now time.Time, ips, macs []string) int64 {
	t.Helper()
	out, _, err := st.WriteBatch(context.Background(), []store.EnrollIn{{
		NodeKey: "nk-" + name, SecretName: "default", Now: now,
		Facts: api.HostFacts{Hostname: name, MachineID: "mid-" + name, OS: "linux", IPs: ips, MACs: macs},
	}}, nil)
	if err != nil || out[0].Err != nil {
		t.Fatalf("enroll %s: %v %v", name, err, out)
	}
	return out[0].HostID
}

var t0 = time.Date(2024, 1, 10, 8, 0, 0, 0, time.UTC)

func obs(src, ip, mac, host string, at time.Time, ev string) evidence.Observation {
	o := evidence.Observation{Source: src, MAC: mac, Hostname: host, Time: at, Last: at, Count: 1, Evidence: ev}
	if ip != "" {
		o.IP = netip.MustParseAddr(ip)
	}
	return o
}

func byKey(devs []Device) map[string]Device {
	m := map[string]Device{}
	for _, d := range devs {
		m[d.Key] = d
	}
	return m
}

func TestMatching(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, d := openTest(t)
		testMatching(t, st, d)
	})
}

func testMatching(t *testing.T, st *store.Store, d *DB) {
	ctx := context.Background()
	laptop := enroll(t, st, "laptop-1.corp.example", t0, []string{"10.0.0.10"}, []string{"00:11:22:33:44:55"})
	enroll(t, st, "ws-2", t0, []string{"10.0.0.20"}, nil)
	rej := evidence.EvidenceRejectedCA + ": test"
	err := d.AddObservations(ctx, []evidence.Observation{
		// The enrolled laptop, by MAC through a lease, and by hostname.
		{Source: evidence.SourceDHCPD, IP: netip.MustParseAddr("10.0.0.10"), MAC: "00:11:22:33:44:55", Hostname: "laptop-1", Time: t0, Last: t0, Count: 1, LeaseEnd: t0.Add(12 * time.Hour)},
		obs(evidence.SourceSquidAccess, "10.0.0.10", "", "", t0.Add(time.Minute), ""),
		// 10.0.0.50 is a phone until noon, then a lease moves it to a tablet.
		{Source: evidence.SourceKea, IP: netip.MustParseAddr("10.0.0.50"), MAC: "aa:aa:aa:aa:aa:01", Time: t0, Last: t0, Count: 1, LeaseEnd: t0.Add(4 * time.Hour)},
		{Source: evidence.SourceKea, IP: netip.MustParseAddr("10.0.0.50"), MAC: "aa:aa:aa:aa:aa:02", Time: t0.Add(5 * time.Hour), Last: t0.Add(5 * time.Hour), Count: 1, LeaseEnd: t0.Add(9 * time.Hour)},
		obs(evidence.SourceSquidCache, "10.0.0.50", "", "", t0.Add(time.Hour), rej),
		obs(evidence.SourceSquidAccess, "10.0.0.50", "", "", t0.Add(6*time.Hour), ""),
		// ws-2's address seen while it was enrolled: managed by IP.
		obs(evidence.SourceSquidAccess, "10.0.0.20", "", "", t0.Add(10*time.Minute), ""),
		// The same address a week earlier, before ws-2 had it: not ws-2.
		obs(evidence.SourceSquidAccess, "10.0.0.20", "", "", t0.Add(-7*24*time.Hour), ""),
		// A printer on an exempt subnet; a guest by hostname pattern.
		obs(evidence.SourceCSV, "10.9.0.5", "", "printer-9", t0, ""),
		obs(evidence.SourceDnsmasq, "192.168.50.7", "bb:bb:bb:bb:bb:01", "guest-phone", t0, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddExemption(ctx, Exemption{Kind: ExemptSubnet, Value: "10.9.0.0/16", Reason: "printers"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddExemption(ctx, Exemption{Kind: ExemptHostname, Value: "guest-*", Reason: "guest Wi-Fi", ExpiresAt: t0.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	all, err := d.List(ctx, Filter{Statuses: api.DeviceStatuses(), Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := byKey(all)
	want := map[string]api.DeviceStatus{
		"mac:00:11:22:33:44:55":   api.DeviceManaged,
		"mac:aa:aa:aa:aa:aa:01":   api.DeviceUnmanaged,
		"mac:aa:aa:aa:aa:aa:02":   api.DeviceUnmanaged,
		"enrolled:2:ip:10.0.0.20": api.DeviceManaged,   // while ws-2 held it
		"ip:10.0.0.20":            api.DeviceUnmanaged, // a week before
		"ip:10.9.0.5":             api.DeviceExempt,
		"mac:bb:bb:bb:bb:bb:01":   api.DeviceExempt,
	}
	for k, s := range want {
		if m[k].Status != s {
			t.Errorf("%s: status %q, want %q (%+v)", k, m[k].Status, s, m[k])
		}
	}
	if len(m) != len(want) {
		t.Errorf("got %d devices, want %d: %+v", len(m), len(want), all)
	}
	if dev := m["mac:00:11:22:33:44:55"]; dev.ManagedBy != laptop || dev.ManagedMatch != "mac" || len(dev.Sources) != 2 {
		t.Errorf("laptop: %+v", dev)
	}
	phone := m["mac:aa:aa:aa:aa:aa:01"]
	if !phone.RejectsCA || len(phone.Evidence) != 1 || phone.Evidence[0].Text != rej {
		t.Errorf("the rejection at 09:00 belongs to the phone that held 10.0.0.50 then: %+v", phone)
	}
	if tablet := m["mac:aa:aa:aa:aa:aa:02"]; tablet.RejectsCA || !contains(tablet.Sources, evidence.SourceSquidAccess) {
		t.Errorf("tablet: %+v", tablet)
	}
	if ex := m["ip:10.9.0.5"].Exemption; ex == nil || ex.Reason != "printers" {
		t.Errorf("printer exemption: %+v", ex)
	}

	// Filters.
	def, _ := d.List(ctx, Filter{Now: t0})
	if len(def) != 5 {
		t.Errorf("default list (unmanaged + exempt): %d devices, want 5", len(def))
	}
	rejects, _ := d.List(ctx, Filter{RejectsCA: true, Now: t0})
	if len(rejects) != 1 || rejects[0].Key != "mac:aa:aa:aa:aa:aa:01" {
		t.Errorf("rejects-CA filter: %+v", rejects)
	}
	sub, _ := d.List(ctx, Filter{Subnet: netip.MustParsePrefix("192.168.0.0/16"), Now: t0})
	if len(sub) != 1 {
		t.Errorf("subnet filter: %+v", sub)
	}
	src, _ := d.List(ctx, Filter{Source: "csv", Now: t0})
	if len(src) != 1 || src[0].Key != "ip:10.9.0.5" {
		t.Errorf("source filter: %+v", src)
	}
	since, _ := d.List(ctx, Filter{Since: t0.Add(5 * time.Hour), Now: t0})
	if len(since) != 1 {
		t.Errorf("since filter: %+v", since)
	}
	// The guest exemption expires: the guest phone becomes unmanaged.
	later, _ := d.Counts(ctx, t0.Add(48*time.Hour))
	if later.Unmanaged != 4 || later.Exempt != 1 || later.Managed != 2 || later.RejectsCA != 1 {
		t.Errorf("counts after expiry: %+v", later)
	}

	// CSV export.
	var buf bytes.Buffer
	if err := WriteCSV(&buf, def); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 6 || recs[0][0] != "status" {
		t.Errorf("csv: %v %v", recs, err)
	}
}

func TestExemptionValidation(t *testing.T) {
	_, d := openTest(t)
	ctx := context.Background()
	for _, e := range []Exemption{
		{Kind: ExemptSubnet, Value: "10.0.0.0/33", Reason: "x"},
		{Kind: ExemptMAC, Value: "00:11:22", Reason: "x"},
		{Kind: ExemptHostname, Value: "[", Reason: "x"},
		{Kind: "vlan", Value: "7", Reason: "x"},
		{Kind: ExemptMAC, Value: "00:11:22:33:44:55"},
	} {
		if _, err := d.AddExemption(ctx, e); err == nil {
			t.Errorf("AddExemption(%+v) succeeded", e)
		}
	}
	e, err := d.AddExemption(ctx, Exemption{Kind: ExemptMAC, Value: "00-11-22-33-44-AA", Reason: "server"})
	if err != nil || e.Value != "00:11:22:33:44:aa" {
		t.Fatalf("%+v %v", e, err)
	}
	if ok, err := d.RemoveExemption(ctx, ExemptMAC, "0011223344aa"); !ok || err != nil {
		t.Errorf("remove: %v %v", ok, err)
	}
}

// TestIngestIntoCollector runs the evidence ingest into the collector's
// SQLite database: resumable and idempotent end to end.
func TestIngestIntoCollector(t *testing.T) {
	_, d := openTest(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "access.log")
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		b.WriteString(accessLine(i, i%10))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := evidence.IngestOptions{Options: evidence.Options{BatchLines: 500}}
	for i := 0; i < 2; i++ {
		if _, err := evidence.IngestFile(ctx, d, evidence.SourceSquidAccess, path, opt); err != nil {
			t.Fatal(err)
		}
	}
	c, err := d.Counts(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Unmanaged != 10 {
		t.Errorf("counts: %+v, want 10 unmanaged", c)
	}
	all, _ := d.List(ctx, Filter{})
	var n int64
	for _, dev := range all {
		n += dev.Sightings
	}
	if n != 3000 {
		t.Errorf("%d sightings stored after ingesting twice, want 3000", n)
	}
}

// TestTLSFailureKinds: a device shows the kinds of its failed handshakes;
// Squid 5's reason-less cache.log line ("unknown") is left out beside the
// precise access.log one, and only a certificate rejection sets RejectsCA.
func TestTLSFailureKinds(t *testing.T) {
	_, d := openTest(t)
	ctx := context.Background()
	unknown := evidence.EvidenceHandshakeFailed + ": reason not logged"
	err := d.AddObservations(ctx, []evidence.Observation{
		obs(evidence.SourceSquidCache, "10.0.1.1", "", "", t0, unknown),
		obs(evidence.SourceSquidAccess, "10.0.1.1", "", "", t0, evidence.EvidenceProtocol+": no shared cipher"),
		obs(evidence.SourceSquidCache, "10.0.1.2", "", "", t0, unknown),
		obs(evidence.SourceSquidAccess, "10.0.1.3", "", "", t0, evidence.EvidenceRejectedCA+": client alert unknown ca"),
		obs(evidence.SourceSquidAccess, "10.0.1.3", "", "", t0, evidence.EvidenceTimeout+": the client went away"),
		obs(evidence.SourceCSV, "10.0.1.4", "", "", t0, "seen by the NAC"),
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.List(ctx, Filter{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := byKey(all)
	for key, want := range map[string]struct {
		kinds   string
		rejects bool
	}{
		"ip:10.0.1.1": {"protocol", false},
		"ip:10.0.1.2": {"unknown", false},
		"ip:10.0.1.3": {"certificate,timeout", true},
		"ip:10.0.1.4": {"", false},
	} {
		dev := m[key]
		if got := strings.Join(dev.TLSFailures, ","); got != want.kinds || dev.RejectsCA != want.rejects {
			t.Errorf("%s: tls_failures %q rejects_ca %v, want %q %v", key, got, dev.RejectsCA, want.kinds, want.rejects)
		}
	}
	for _, e := range m["ip:10.0.1.1"].Evidence {
		if want := string(evidence.KindOf(e.Text)); e.Kind != want || want == "" {
			t.Errorf("evidence %+v: kind %q", e, want)
		}
	}
}
