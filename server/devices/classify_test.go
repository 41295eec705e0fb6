package devices

import (
	"github.com/anchorwatch/anchorwatch/api"
	"net/netip"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// TestClassify runs the matcher on inputs built in memory (no database):
// managed by MAC, by a lease's MAC, by address while a host held it (and
// not after), by short hostname; exempt by subnet; unmanaged and
// refusing the CA.
func TestClassify(t *testing.T) {
	at := func(h int) int64 { return t0.Add(time.Duration(h) * time.Hour).UnixMilli() }
	o := func(src, ip, mac, host, ev string, first, last int) obsRow {
		r := obsRow{source: src, mac: mac, host: host, ev: ev, first: at(first), last: at(last), n: 1}
		if ip != "" {
			r.ip = netip.MustParseAddr(ip)
		}
		return r
	}
	hosts := enrolled{
		byIP:   map[netip.Addr][]hostAddr{netip.MustParseAddr("10.0.0.9"): {{host: 3, from: at(0), until: at(2)}}},
		byMAC:  map[string]int64{"02:00:00:00:00:01": 1},
		byName: map[string]int64{"build-7": 4},
	}
	ex := []Exemption{
		{Kind: ExemptSubnet, Value: "10.9.0.0/16", Reason: "guest Wi-Fi"},
		{Kind: ExemptSubnet, Value: "10.8.0.0/16", Reason: "expired", ExpiresAt: t0},
	}
	obs := []obsRow{
		o(evidence.SourceSquidAccess, "10.0.0.1", "02:00:00:00:00:01", "", "", 0, 1),                       // managed by MAC
		o(evidence.SourceDHCPD, "10.0.0.2", "02:00:00:00:00:01", "", "", 0, 0),                             // a lease: 10.0.0.2 is host 1's MAC
		o(evidence.SourceSquidAccess, "10.0.0.2", "", "", "", 1, 1),                                        // …so this sighting is that device
		o(evidence.SourceSquidAccess, "10.0.0.9", "", "", "", 1, 1),                                        // host 3 held it then
		o(evidence.SourceSquidAccess, "10.0.0.9", "", "", "", 30, 30),                                      // not any more
		o(evidence.SourceDnsmasq, "10.0.0.4", "02:00:00:00:00:04", "build-7.lab.example.com", "", 0, 0),    // short hostname
		o(evidence.SourceSquidAccess, "10.9.1.1", "", "", "", 5, 5),                                        // exempt
		o(evidence.SourceSquidAccess, "10.8.1.1", "", "", "", 6, 6),                                        // exemption expired
		o(evidence.SourceSquidCache, "10.7.1.1", "", "", evidence.EvidenceRejectedCA+": unknown ca", 7, 7), // refuses the CA
	}
	devs := classify(obs, hosts, ex, t0.Add(time.Hour), time.Minute)
	got := map[string]Device{}
	for _, d := range devs {
		got[d.Key] = d
	}
	want := map[string]struct {
		status api.DeviceStatus
		match  string
		by     int64
	}{
		"mac:02:00:00:00:00:01":  {api.DeviceManaged, "mac", 1},
		"enrolled:3:ip:10.0.0.9": {api.DeviceManaged, "ip", 3},
		"ip:10.0.0.9":            {api.DeviceUnmanaged, "", 0},
		"mac:02:00:00:00:00:04":  {api.DeviceManaged, "hostname", 4},
		"ip:10.9.1.1":            {api.DeviceExempt, "", 0},
		"ip:10.8.1.1":            {api.DeviceUnmanaged, "", 0},
		"ip:10.7.1.1":            {api.DeviceUnmanaged, "", 0},
	}
	if len(got) != len(want) {
		t.Errorf("%d devices, want %d: %+v", len(got), len(want), devs)
	}
	for key, w := range want {
		d, ok := got[key]
		if !ok {
			t.Errorf("no device %s", key)
			continue
		}
		if d.Status != w.status || d.ManagedMatch != w.match || d.ManagedBy != w.by {
			t.Errorf("%s: status %s by %d (%s), want %s by %d (%s)", key, d.Status, d.ManagedBy, d.ManagedMatch, w.status, w.by, w.match)
		}
	}
	if d := got["mac:02:00:00:00:00:01"]; d.Sightings != 3 || len(d.IPs) != 2 {
		t.Errorf("host 1's device: %d sightings at %v, want 3 at two addresses (the lease names its MAC)", d.Sightings, d.IPs)
	}
	if d := got["ip:10.7.1.1"]; !d.RejectsCA || len(d.TLSFailures) != 1 || d.TLSFailures[0] != string(evidence.KindCertificate) {
		t.Errorf("refusing device: RejectsCA %v, TLSFailures %v", d.RejectsCA, d.TLSFailures)
	}
	if d := got["ip:10.9.1.1"]; d.Exemption == nil || d.Exemption.Reason != "guest Wi-Fi" {
		t.Errorf("exempt device: %+v", d.Exemption)
	}
	if devs[0].Key != "ip:10.0.0.9" { // seen last (hour 30)
		t.Errorf("first device %s, want the most recently seen", devs[0].Key)
	}
}
