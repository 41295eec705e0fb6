package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/policy/policytest"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// deviceList fetches GET /api/v1/devices with the query q.
func deviceList(t *testing.T, c *servertest.Collector, q string) devices.Page {
	t.Helper()
	code, body := c.Do(t, "GET", api.PathDevices+q, c.ViewerToken, nil)
	if code != http.StatusOK {
		t.Fatalf("GET devices%s: %d %s", q, code, body)
	}
	var p devices.Page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("devices%s: %v: %s", q, err, body)
	}
	return p
}

func keys(p devices.Page) []string {
	var out []string
	for _, d := range p.Devices {
		out = append(out, d.Key)
	}
	return out
}

func TestDevicesAPI(t *testing.T) {
	forEachBackend(t, servertest.Options{}, testDevicesAPI)
}

func testDevicesAPI(t *testing.T, c *servertest.Collector) {
	now := time.Now().UTC().Truncate(time.Second)
	f := facts("laptop-1")
	f.IPs, f.MACs = []string{"10.0.0.10"}, []string{"00:11:22:33:44:55"}
	_, laptop := c.Enroll(t, f)

	rej := evidence.EvidenceRejectedCA + " (unknown ca)"
	batch := api.ObservationBatch{BatchID: "proxy-1:0001", Observations: []api.Observation{
		{IP: "10.0.0.10", SeenAt: now.Add(-time.Minute), Source: "squid-access", Count: 40},
		{IP: "10.0.0.77", SeenAt: now.Add(-2 * time.Hour), LastSeen: now.Add(-time.Hour), Source: "squid-access", Count: 12},
		{IP: "10.0.0.77", SeenAt: now.Add(-time.Hour), Source: "squid-cache", Evidence: rej},
		{IP: "192.168.50.7", MAC: "BB-BB-BB-BB-BB-01", Hostname: "Guest-Phone.", SeenAt: now.Add(-30 * time.Minute), Source: "dnsmasq"},
		{IP: "10.9.0.5", Hostname: "printer-9", SeenAt: now.Add(-10 * time.Minute), Source: "csv:inventory"},
	}}

	// Who may post.
	if code, body := c.Do(t, "POST", api.PathObservations, "", batch); code != http.StatusUnauthorized {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := c.Do(t, "POST", api.PathObservations, c.ViewerToken, batch); code != http.StatusForbidden {
		t.Errorf("viewer token: %d %s", code, body)
	}
	// Exactly once: the same batch id twice stores it once.
	for i := 0; i < 2; i++ {
		code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, batch)
		var resp api.ObservationsResponse
		if code != http.StatusOK || json.Unmarshal(body, &resp) != nil || resp.Duplicate != (i == 1) ||
			resp.Accepted != map[bool]int{false: 5, true: 0}[i == 1] {
			t.Fatalf("post %d: %d %s", i, code, body)
		}
	}

	// Bad batches: 400 naming the field, nothing stored.
	big := api.ObservationBatch{BatchID: "big"}
	for i := 0; i <= api.MaxObservations; i++ {
		big.Observations = append(big.Observations, api.Observation{IP: "10.1.0.1", SeenAt: now, Source: "x"})
	}
	for name, b := range map[string]any{
		"too many":      big,
		"no batch id":   api.ObservationBatch{Observations: batch.Observations},
		"empty":         api.ObservationBatch{BatchID: "e"},
		"bad ip":        api.ObservationBatch{BatchID: "b1", Observations: []api.Observation{{IP: "10.0.0.300", SeenAt: now, Source: "x"}}},
		"bad mac":       api.ObservationBatch{BatchID: "b2", Observations: []api.Observation{{MAC: "00:11", SeenAt: now, Source: "x"}}},
		"no identity":   api.ObservationBatch{BatchID: "b3", Observations: []api.Observation{{SeenAt: now, Source: "x"}}},
		"no time":       api.ObservationBatch{BatchID: "b4", Observations: []api.Observation{{IP: "10.1.0.1", Source: "x"}}},
		"future":        api.ObservationBatch{BatchID: "b5", Observations: []api.Observation{{IP: "10.1.0.1", SeenAt: now.Add(72 * time.Hour), Source: "x"}}},
		"last < first":  api.ObservationBatch{BatchID: "b6", Observations: []api.Observation{{IP: "10.1.0.1", SeenAt: now, LastSeen: now.Add(-time.Hour), Source: "x"}}},
		"bad source":    api.ObservationBatch{BatchID: "b7", Observations: []api.Observation{{IP: "10.1.0.1", SeenAt: now, Source: "<script>"}}},
		"negative":      api.ObservationBatch{BatchID: "b8", Observations: []api.Observation{{IP: "10.1.0.1", SeenAt: now, Source: "x", Count: -1}}},
		"unknown field": `{"batch_id":"b9","observations":[{"ip":"10.1.0.1","seen_at":"2025-01-01T00:00:00Z","source":"x","vlan":7}]}`,
		"not json":      `{"batch_id":`,
	} {
		if code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, b); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	huge := `{"batch_id":"h","observations":[` + strings.Repeat(`{"ip":"10.1.0.1","seen_at":"2025-01-01T00:00:00Z","source":"x"},`, api.MaxBodyBytes/60) + `]}`
	if code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("over the body limit: %d %.200s", code, body)
	}

	// The default list: unmanaged and exempt, most recent first.
	p := deviceList(t, c, "")
	if got := strings.Join(keys(p), " "); got != "ip:10.9.0.5 mac:bb:bb:bb:bb:bb:01 ip:10.0.0.77" || p.Total != 3 {
		t.Errorf("default list: %q (%+v)", got, p)
	}
	for _, d := range p.Devices {
		if d.Key == "ip:10.0.0.77" && (!d.RejectsCA || d.Status != api.DeviceUnmanaged || len(d.Evidence) != 1 ||
			d.Evidence[0].Text != rej || d.Sightings != 13) {
			t.Errorf("rejecting device: %+v", d)
		}
		if d.Key == "mac:bb:bb:bb:bb:bb:01" && (len(d.Hostnames) != 1 || d.Hostnames[0] != "guest-phone") {
			t.Errorf("guest phone: %+v", d)
		}
	}
	all := deviceList(t, c, "?status=all")
	if all.Total != 4 {
		t.Errorf("status=all: %v", keys(all))
	}
	for _, d := range all.Devices {
		if d.Key == "mac:00:11:22:33:44:55" || strings.Contains(d.Key, "10.0.0.10") {
			if d.Status != api.DeviceManaged || d.ManagedBy != laptop {
				t.Errorf("enrolled laptop: %+v", d)
			}
		}
	}
	for q, want := range map[string]string{
		"?rejects_ca=true":       "ip:10.0.0.77",
		"?subnet=192.168.0.0/16": "mac:bb:bb:bb:bb:bb:01",
		"?subnet=10.9.0.5":       "ip:10.9.0.5",
		"?source=csv":            "ip:10.9.0.5",
		"?source=squid-cache":    "ip:10.0.0.77",
		"?since=45m":             "ip:10.9.0.5 mac:bb:bb:bb:bb:bb:01",
		"?since=" + url.QueryEscape(now.Add(-15*time.Minute).Format(time.RFC3339)): "ip:10.9.0.5",
		"?status=managed":                  keys(deviceList(t, c, "?status=managed"))[0],
		"?status=unmanaged,exempt&limit=2": "ip:10.9.0.5 mac:bb:bb:bb:bb:bb:01",
	} {
		if got := strings.Join(keys(deviceList(t, c, q)), " "); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	if p := deviceList(t, c, "?limit=2"); p.NextCursor == "" {
		t.Error("no next cursor on a partial page")
	} else if rest := deviceList(t, c, "?limit=2&cursor="+p.NextCursor); strings.Join(keys(rest), " ") != "ip:10.0.0.77" || rest.NextCursor != "" {
		t.Errorf("second page: %+v", rest)
	}
	for _, q := range []string{"?status=lost", "?subnet=10.0.0.0/99", "?since=yesterday", "?rejects_ca=maybe", "?limit=0", "?cursor=zz", "?vlan=7", "?format=xml"} {
		if code, body := c.Do(t, "GET", api.PathDevices+q, c.ViewerToken, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	if code, _ := c.Do(t, "GET", api.PathDevices, "", nil); code != http.StatusUnauthorized {
		t.Errorf("devices without a token: %d", code)
	}

	// Exemptions: viewers read, admins change; exempt devices stay listed.
	ex := map[string]any{"kind": "subnet", "value": "10.9.0.0/16", "reason": "printers"}
	if code, _ := c.Do(t, "POST", api.PathExemptions, c.ViewerToken, ex); code != http.StatusForbidden {
		t.Errorf("viewer adds an exemption: %d", code)
	}
	if code, body := c.Do(t, "POST", api.PathExemptions, c.AdminToken, ex); code != http.StatusCreated {
		t.Fatalf("add exemption: %d %s", code, body)
	}
	for _, bad := range []any{
		map[string]any{"kind": "subnet", "value": "10.9.0.0/16"},
		map[string]any{"kind": "vlan", "value": "7", "reason": "x"},
		map[string]any{"kind": "mac", "value": "zz", "reason": "x"},
		`{"kind":"mac","value":"00:11:22:33:44:55","reason":"x","extra":1}`,
	} {
		if code, body := c.Do(t, "POST", api.PathExemptions, c.AdminToken, bad); code != http.StatusBadRequest {
			t.Errorf("exemption %v: %d %s", bad, code, body)
		}
	}
	exp := now.Add(time.Hour)
	if code, body := c.Do(t, "POST", api.PathExemptions, c.AdminToken, map[string]any{"kind": "hostname", "value": "guest-*", "reason": "guest Wi-Fi", "expires_at": exp}); code != http.StatusCreated {
		t.Fatalf("add exemption: %d %s", code, body)
	}
	ex1 := deviceList(t, c, "?status=exempt")
	if got := strings.Join(keys(ex1), " "); got != "ip:10.9.0.5 mac:bb:bb:bb:bb:bb:01" {
		t.Errorf("exempt: %q", got)
	}
	for _, d := range ex1.Devices {
		if d.Exemption == nil || d.Exemption.Reason == "" {
			t.Errorf("exempt device without its exemption: %+v", d)
		}
	}
	var sum api.DeviceSummary
	code, body := c.Do(t, "GET", api.PathDevicesSummary, c.ViewerToken, nil)
	if code != http.StatusOK || json.Unmarshal(body, &sum) != nil || sum.Unmanaged != 1 || sum.Exempt != 2 || sum.Managed != 1 || sum.UnmanagedRejectingCA != 1 {
		t.Errorf("summary: %d %s", code, body)
	}
	// The Prometheus gauges.
	code, body = c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
	for _, want := range []string{`anchorwatch_devices{status="unmanaged"} 1`, `anchorwatch_devices{status="exempt"} 2`,
		`anchorwatch_devices{status="managed"} 1`, `anchorwatch_unmanaged_devices_rejecting_ca 1`} {
		if code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// CSV export of the same filter.
	code, body = c.Do(t, "GET", api.PathDevices+"?format=csv&status=all", c.ViewerToken, nil)
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if code != http.StatusOK || err != nil || len(recs) != 5 || recs[0][0] != "status" {
		t.Errorf("csv: %d %v %q", code, err, body)
	}

	// List and remove.
	var el struct {
		Exemptions []struct {
			devices.Exemption
			Active bool `json:"active"`
		} `json:"exemptions"`
	}
	code, body = c.Do(t, "GET", api.PathExemptions, c.ViewerToken, nil)
	if code != http.StatusOK || json.Unmarshal(body, &el) != nil || len(el.Exemptions) != 2 || !el.Exemptions[0].Active ||
		el.Exemptions[0].Source != devices.SourceAdmin {
		t.Errorf("exemptions: %d %s", code, body)
	}
	if code, _ := c.Do(t, "DELETE", api.PathExemptions+"?kind=subnet&value=10.9.0.0/16", c.ViewerToken, nil); code != http.StatusForbidden {
		t.Errorf("viewer removes: %d", code)
	}
	if code, body := c.Do(t, "DELETE", api.PathExemptions+"?kind=subnet&value=10.9.0.0/16", c.AdminToken, nil); code != http.StatusOK {
		t.Errorf("remove: %d %s", code, body)
	}
	if code, _ := c.Do(t, "DELETE", api.PathExemptions+"?kind=subnet&value=10.9.0.0/16", c.AdminToken, nil); code != http.StatusNotFound {
		t.Errorf("remove again: %d", code)
	}
	if code, _ := c.Do(t, "DELETE", api.PathExemptions+"?kind=subnet&value=nonsense", c.AdminToken, nil); code != http.StatusBadRequest {
		t.Errorf("remove nonsense: %d", code)
	}
	if got := keys(deviceList(t, c, "?status=unmanaged")); len(got) != 2 {
		t.Errorf("after removing the printer exemption: %v", got)
	}

	// A signed policy's exemptions are imported when it is uploaded.
	blob := policytest.WithExemptions(t, 7, []policy.Exemption{{Subnets: []string{"10.0.0.0/24"}, Reason: "server VLAN"}})
	if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, blob); code != http.StatusOK {
		t.Fatalf("upload policy: %d %s", code, body)
	}
	p = deviceList(t, c, "?rejects_ca=true&status=exempt")
	if len(p.Devices) != 1 || p.Devices[0].Exemption == nil || p.Devices[0].Exemption.Source != devices.SourcePolicy ||
		p.Devices[0].Exemption.Reason != "server VLAN" {
		t.Errorf("policy exemption not applied: %+v", p)
	}
}

// TestDecodeObservations covers the decoder the fuzz target drives.
func TestDecodeObservations(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	id, obs, err := server.DecodeObservations([]byte(`{"batch_id":"a-1","observations":[
{"ip":"::ffff:10.0.0.1","mac":"0011.2233.4455","hostname":"PC-1.corp.","seen_at":"2025-06-01T10:00:00+02:00","source":"dhcpd","lease_end":"2025-06-02T00:00:00Z"}]}`), now)
	if err != nil || id != "a-1" || len(obs) != 1 {
		t.Fatalf("%q %+v %v", id, obs, err)
	}
	o := obs[0]
	if o.IP.String() != "10.0.0.1" || o.MAC != "00:11:22:33:44:55" || o.Hostname != "pc-1.corp" || o.Count != 1 ||
		!o.Time.Equal(time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)) || !o.Last.Equal(o.Time) || o.LeaseEnd.IsZero() {
		t.Errorf("decoded: %+v", o)
	}
	for _, bad := range []string{``, `[]`, `{"batch_id":"x y","observations":[{"ip":"10.0.0.1","seen_at":"2025-06-01T10:00:00Z","source":"x"}]}`,
		`{"batch_id":"x","observations":[{"ip":"fe80::1%eth0","seen_at":"2025-06-01T10:00:00Z","source":"x"}]}`,
		`{"batch_id":"x","observations":[{"ip":"10.0.0.1","seen_at":"1999-06-01T10:00:00Z","source":"x"}]}`,
		`{"batch_id":"x","observations":[{"hostname":"a b","seen_at":"2025-06-01T10:00:00Z","source":"x"}]}`,
		fmt.Sprintf(`{"batch_id":"%s","observations":[{"ip":"10.0.0.1","seen_at":"2025-06-01T10:00:00Z","source":"x"}]}`, strings.Repeat("i", 129)),
	} {
		if _, _, err := server.DecodeObservations([]byte(bad), now); err == nil {
			t.Errorf("accepted %.80s", bad)
		}
	}
}

// BenchmarkObservationsAPI is the end-to-end figure over HTTP: a 2M-line
// Squid access.log from 5,000 clients, parsed and aggregated by the
// sender as `collector ingest` does, posted in batches to POST
// /api/v1/observations (TLS, admin token) of a real SQLite collector.
func BenchmarkObservationsAPI(b *testing.B) {
	const lines = 2_000_000
	var buf bytes.Buffer
	for i := 0; i < lines; i++ {
		c := (i * 7919) % 5000
		fmt.Fprintf(&buf, "%d.%03d %6d 10.%d.%d.%d TCP_MISS/200 %d GET https://www.example.com/a/%d.js - HIER_DIRECT/203.0.113.7 text/html\n",
			1704870000+i/50, i%1000, i%5000, c>>16&255, c>>8&255, c&255, 1000+i%9000, i%977)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := servertest.StartCollector(b, servertest.Options{})
		b.StartTimer()
		batches := 0
		st, err := evidence.Parse(context.Background(), evidence.SourceSquidAccess, bytes.NewReader(data), evidence.Options{}, func(bt evidence.Batch) error {
			batch := api.ObservationBatch{BatchID: fmt.Sprintf("bench:%d", bt.Offset)}
			for _, o := range bt.Observations {
				batch.Observations = append(batch.Observations, api.Observation{IP: o.IP.String(), SeenAt: o.Time, LastSeen: o.Last,
					Count: o.Count, Source: o.Source})
			}
			batches++
			if code, body := c.Do(b, "POST", api.PathObservations, c.AdminToken, batch); code != http.StatusOK {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})
		if err != nil || st.Parsed != lines {
			b.Fatalf("%+v %v", st, err)
		}
		b.ReportMetric(float64(batches), "batches/op")
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// FuzzDecodeObservations: whatever the body, DecodeObservations returns
// observations ready to store (an identity, ordered times, a count) or an
// error, and never panics.
func FuzzDecodeObservations(f *testing.F) {
	f.Add([]byte(`{"batch_id":"p1:42","observations":[{"ip":"10.0.0.5","seen_at":"2025-06-01T10:00:00Z","last_seen":"2025-06-01T11:00:00Z","count":40,"source":"squid-access"},
{"ip":"10.0.0.6","seen_at":"2025-06-01T10:00:00Z","source":"squid-cache","evidence":"rejected the interception certificate (unknown ca)"},
{"ip":"10.0.0.7","mac":"00-11-22-33-44-55","hostname":"Phone.","seen_at":"2025-06-01T10:00:00Z","source":"dhcpd","lease_end":"2025-06-02T10:00:00Z"}]}`))
	f.Add([]byte(`{"batch_id":"x","observations":[{"mac":"zz","seen_at":"2025-06-01T10:00:00Z","source":"x"}]}`))
	f.Add([]byte(`{"batch_id":"x","observations":[{"ip":"::ffff:1.2.3.4","seen_at":"2025-06-01T10:00:00Z","source":"a:b","count":-5}]}`))
	f.Add([]byte("{\"batch_id\":\"\xff\"}"))
	f.Add([]byte(`{"batch_id":"x","observations":[]}`))
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		id, obs, err := server.DecodeObservations(body, now)
		if err != nil {
			if id != "" || obs != nil {
				t.Fatal("observations returned with an error")
			}
			return
		}
		if id == "" || len(obs) == 0 || len(obs) > api.MaxObservations {
			t.Fatalf("accepted batch %q of %d", id, len(obs))
		}
		for _, o := range obs {
			if (!o.IP.IsValid() && o.MAC == "" && o.Hostname == "") || o.Count < 1 || o.Last.Before(o.Time) || o.Source == "" {
				t.Fatalf("accepted %+v", o)
			}
		}
	})
}

// TestPolicyUploadImportsExemptions checks that an uploaded policy's
// exemptions are in the device tables as soon as the upload is answered,
// before any device query, metrics scrape or CLI command.
func TestPolicyUploadImportsExemptions(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	imported := func() (serial, n int64) {
		t.Helper()
		db := c.Store.ReadDB()
		if err := db.QueryRow("SELECT serial FROM devices_policy_import WHERE id = 1").Scan(&serial); err != nil {
			t.Fatalf("imported serial: %v", err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM device_exemptions WHERE source = 'policy'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return serial, n
	}
	ex := []policy.Exemption{{Subnets: []string{"10.0.0.0/24"}, Reason: "server VLAN"}, {MACs: []string{"00:11:22:33:44:55"}, Reason: "printer"}}
	for _, serial := range []int64{3, 4} {
		code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, policytest.WithExemptions(t, serial, ex[:serial-2]))
		if code != http.StatusOK {
			t.Fatalf("upload policy %d: %d %s", serial, code, body)
		}
		var res struct {
			Serial     int64 `json:"serial"`
			Exemptions int64 `json:"exemptions"`
		}
		if err := json.Unmarshal(body, &res); err != nil || res.Serial != serial || res.Exemptions != serial-2 {
			t.Errorf("upload answer %s (%v)", body, err)
		}
		if got, n := imported(); got != serial || n != serial-2 {
			t.Errorf("after uploading serial %d: imported serial %d with %d exemptions, want %d", serial, got, n, serial-2)
		}
	}
}
