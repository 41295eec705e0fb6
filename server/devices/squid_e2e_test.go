//go:build unix

package devices

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
)

// TestSquidUnmanagedEndToEnd: the real ssl-bump Squid, four real clients;
// the one at TrustingClient is an enrolled host. After the real logs are
// ingested into the collector database, the client without the CA (curl:
// alert unknown_ca) is an unmanaged device with the rejection evidence;
// the one offering only TLS 1.0 (openssl s_client -tls1) shows a protocol
// mismatch and the one that opened a tunnel and gave up shows a timeout —
// neither counts as refusing the CA — and the enrolled one is not flagged.
func TestSquidUnmanagedEndToEnd(t *testing.T) {
	st, d := openTest(t)
	ctx := context.Background()
	host := enroll(t, st, "enrolled-laptop", time.Now(), []string{squidtest.TrustingClient}, []string{"02:00:00:00:00:02"})

	sq := squidtest.RunHandshakes(t)
	for _, in := range []struct{ format, path string }{
		{evidence.SourceSquidAccess, sq.AccessLog}, {evidence.SourceSquidCache, sq.CacheLog},
	} {
		stats, err := evidence.IngestFile(ctx, d, in.format, in.path, evidence.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if stats.Parsed == 0 || stats.Malformed != 0 {
			t.Errorf("%s: %+v", in.format, stats)
		}
	}
	all, err := d.List(ctx, Filter{Statuses: api.DeviceStatuses()})
	if err != nil {
		t.Fatal(err)
	}
	m := byKey(all)
	rej := m["ip:"+squidtest.RejectingClient]
	if rej.Status != api.DeviceUnmanaged || !rej.RejectsCA || len(rej.Evidence) == 0 ||
		!strings.HasPrefix(rej.Evidence[0].Text, evidence.EvidenceRejectedCA) {
		t.Errorf("client without the CA: %+v, want unmanaged with the rejection evidence (all: %+v)", rej, all)
	}
	for _, dev := range all {
		for _, ip := range dev.IPs {
			if ip == squidtest.TrustingClient && (dev.Status != api.DeviceManaged || dev.ManagedBy != host || dev.RejectsCA) {
				t.Errorf("enrolled client: %+v, want managed by host %d", dev, host)
			}
		}
	}
	if got := rej.TLSFailures; len(got) != 1 || got[0] != string(evidence.KindCertificate) {
		t.Errorf("client without the CA: tls_failures %v, want [certificate]", got)
	}
	for ip, want := range map[string]evidence.HandshakeKind{squidtest.OldTLSClient: evidence.KindProtocol, squidtest.StalledClient: evidence.KindTimeout} {
		dev := m["ip:"+ip]
		if dev.Status != api.DeviceUnmanaged || dev.RejectsCA || len(dev.TLSFailures) != 1 || dev.TLSFailures[0] != string(want) {
			t.Errorf("client %s: %+v, want unmanaged, not rejecting the CA, tls_failures [%s]", ip, dev, want)
		}
		for _, e := range dev.Evidence {
			if e.Source == evidence.SourceSquidAccess && e.Kind != string(want) {
				t.Errorf("client %s: access.log evidence %+v, want kind %s", ip, e, want)
			}
		}
	}
	flagged, err := d.List(ctx, Filter{RejectsCA: true})
	if err != nil || len(flagged) != 1 || flagged[0].Key != "ip:"+squidtest.RejectingClient {
		t.Errorf("rejects-CA filter: %+v %v", flagged, err)
	}
}
