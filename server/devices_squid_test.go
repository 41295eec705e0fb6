//go:build unix

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// postEvidence parses an evidence file and posts it to the collector in
// batches whose ids name the file and the offset they end at, as a
// forwarder would (so a retried batch is stored once).
func postEvidence(t *testing.T, c *servertest.Collector, format, path string) evidence.Stats {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stats, err := evidence.Parse(context.Background(), format, f, evidence.Options{BatchLines: 50}, func(b evidence.Batch) error {
		if len(b.Observations) == 0 {
			return nil
		}
		batch := api.ObservationBatch{BatchID: fmt.Sprintf("%s:%s:%d", format, path, b.Offset)}
		for _, o := range b.Observations {
			batch.Observations = append(batch.Observations, api.Observation{IP: o.IP.String(), MAC: o.MAC, Hostname: o.Hostname,
				SeenAt: o.Time, LastSeen: o.Last, Count: o.Count, Source: o.Source, Evidence: o.Evidence, LeaseEnd: o.LeaseEnd})
		}
		// Sent twice: the second is a retry after a lost answer.
		for i := 0; i < 2; i++ {
			if code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, batch); code != http.StatusOK {
				return fmt.Errorf("post %s: %d %s", batch.BatchID, code, body)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// TestSquidDevicesEndToEnd: the real ssl-bump Squid serves two clients;
// the one at TrustingClient (which trusts the interception CA) belongs to
// a host enrolled through the agent API. Squid's real access.log and
// cache.log, posted to the real collector over the observations API, make
// GET /api/v1/devices list the other client as unmanaged with the
// rejection evidence, and not the enrolled one.
func TestSquidDevicesEndToEnd(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	f := facts("enrolled-laptop")
	f.IPs, f.MACs = []string{squidtest.TrustingClient}, nil
	_, hostID := c.Enroll(t, f)

	sq := squidtest.Run(t)
	for _, in := range []struct{ format, path string }{
		{evidence.SourceSquidAccess, sq.AccessLog}, {evidence.SourceSquidCache, sq.CacheLog},
	} {
		if st := postEvidence(t, c, in.format, in.path); st.Parsed == 0 || st.Malformed != 0 {
			t.Errorf("%s: %+v", in.format, st)
		}
	}

	// Squid's own probe from 127.0.0.1 is an unmanaged client too; the
	// one that refused the certificate is the only one flagged.
	var rej devices.Device
	for _, u := range deviceList(t, c, "?status=unmanaged").Devices {
		if u.Key == "ip:"+squidtest.RejectingClient {
			rej = u
		}
		for _, ip := range u.IPs {
			if ip == squidtest.TrustingClient {
				t.Errorf("the enrolled client is listed as unmanaged: %+v", u)
			}
		}
	}
	refused := false
	for _, e := range rej.Evidence {
		refused = refused || (e.Kind == string(evidence.KindCertificate) && strings.HasPrefix(e.Text, evidence.EvidenceRejectedCA))
	}
	if rej.Status != api.DeviceUnmanaged || !rej.RejectsCA || !refused {
		t.Errorf("client without the CA: %+v, want unmanaged with the certificate rejection evidence", rej)
	}
	for _, d := range deviceList(t, c, "?status=all").Devices {
		for _, ip := range d.IPs {
			if ip == squidtest.TrustingClient && (d.Status != api.DeviceManaged || d.ManagedBy != hostID || d.RejectsCA) {
				t.Errorf("enrolled client: %+v, want managed by host %d", d, hostID)
			}
		}
	}
	if p := deviceList(t, c, "?rejects_ca=true"); len(p.Devices) != 1 || p.Devices[0].Key != rej.Key {
		t.Errorf("rejects_ca filter: %+v", p.Devices)
	}
	code, body := c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
	if code != http.StatusOK || !strings.Contains(string(body), "anchorwatch_unmanaged_devices_rejecting_ca 1") ||
		!strings.Contains(string(body), `anchorwatch_devices{status="managed"} 1`) {
		t.Errorf("metrics: %d, want one unmanaged device rejecting the CA and one managed", code)
	}
}
