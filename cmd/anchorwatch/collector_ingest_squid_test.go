//go:build unix

package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// TestCollectorIngestSquidEndToEnd: the real ssl-bump Squid serves two
// clients; 127.0.0.2 trusts the interception CA and belongs to a host
// enrolled through the agent API of a real collector. `anchorwatch
// collector ingest` reads Squid's real access.log and cache.log into that
// collector's database while it runs, and its GET /api/v1/devices shows
// 127.0.0.3 unmanaged with the rejection evidence, and not 127.0.0.2.
func TestCollectorIngestSquidEndToEnd(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	_, hostID := c.Enroll(t, api.HostFacts{Hostname: "enrolled-laptop", MachineID: "mid-1", OS: "linux",
		IPs: []string{squidtest.TrustingClient}})

	sq := squidtest.Run(t)
	db := filepath.Join(c.DataDir, "collector.db")
	for _, in := range []struct{ format, path string }{
		{evidence.SourceSquidAccess, sq.AccessLog}, {evidence.SourceSquidCache, sq.CacheLog},
	} {
		out, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", db, "ingest", "--format", in.format, in.path)
		if code != 0 || !strings.Contains(out, " 0 malformed") || strings.Contains(out, " 0 parsed") {
			t.Fatalf("ingest %s: %d\n%s%s", in.format, code, out, errOut)
		}
		t.Logf("%s", out)
	}

	get := func(q string) devices.Page {
		t.Helper()
		code, body := c.Do(t, "GET", api.PathDevices+q, c.ViewerToken, nil)
		var p devices.Page
		if code != http.StatusOK || json.Unmarshal(body, &p) != nil {
			t.Fatalf("devices%s: %d %s", q, code, body)
		}
		return p
	}
	// Squid's own probe from 127.0.0.1 is an unmanaged client too; the
	// one that refused the certificate is the only one flagged.
	var d devices.Device
	for _, u := range get("?status=unmanaged").Devices {
		if u.Key == "ip:"+squidtest.RejectingClient {
			d = u
		}
		for _, ip := range u.IPs {
			if ip == squidtest.TrustingClient {
				t.Errorf("the enrolled client is listed as unmanaged: %+v", u)
			}
		}
	}
	if d.Status != api.DeviceUnmanaged || !d.RejectsCA || len(d.Evidence) == 0 ||
		!strings.HasPrefix(d.Evidence[0].Text, evidence.EvidenceRejectedCA) {
		t.Errorf("client without the CA: %+v, want unmanaged with the rejection evidence", d)
	}
	if p := get("?rejects_ca=true"); len(p.Devices) != 1 || p.Devices[0].Key != d.Key {
		t.Errorf("rejects_ca=true: %+v, want the client without the CA only", p.Devices)
	}
	for _, d := range get("?status=all").Devices {
		for _, ip := range d.IPs {
			if ip == squidtest.TrustingClient && (d.Status != api.DeviceManaged || d.ManagedBy != hostID) {
				t.Errorf("enrolled client: %+v, want managed by host %d", d, hostID)
			}
		}
	}
}
