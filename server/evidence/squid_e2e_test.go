//go:build unix

package evidence_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	. "github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
)

var updateFixtures = flag.Bool("update", false, "rewrite testdata/squid-e2e-*.log from the real Squid run")

// TestSquidEndToEnd runs a real ssl-bump Squid with a test interception
// CA and four clients: one trusts the CA, one does not (curl: alert
// unknown_ca), one offers only TLS 1.0 (openssl s_client -tls1) and one
// opens a tunnel and never starts the handshake. Their real access.log
// (anchorwatch logformat) and cache.log are ingested: each failing client
// carries the evidence of its own kind, and only the one without the CA
// carries the certificate rejection.
func TestSquidEndToEnd(t *testing.T) {
	sq := squidtest.RunHandshakes(t)

	if *updateFixtures {
		for _, name := range []string{"access.log", "cache.log"} {
			data, _ := os.ReadFile(filepath.Join(sq.Dir, name))
			if err := os.WriteFile(filepath.Join("testdata", "squid-e2e-"+name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	ms := NewMemStore()
	ctx := context.Background()
	for _, in := range []struct{ format, path string }{{SourceSquidAccess, sq.AccessLog}, {SourceSquidCache, sq.CacheLog}} {
		st, err := IngestFile(ctx, ms, in.format, in.path, IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Malformed != 0 || st.TooLong != 0 {
			t.Errorf("%s: %+v: the real log has lines the parser rejects", in.format, st)
		}
	}
	kinds := map[string]map[HandshakeKind]bool{} // ip -> kinds from access.log
	seen := map[string]bool{}
	for _, o := range ms.Observations() {
		ip := o.IP.String()
		seen[ip] = true
		if k := KindOf(o.Evidence); k != "" && o.Source == SourceSquidAccess {
			if kinds[ip] == nil {
				kinds[ip] = map[HandshakeKind]bool{}
			}
			kinds[ip][k] = true
		}
	}
	log, _ := os.ReadFile(sq.AccessLog)
	for _, c := range []struct {
		ip   string
		want HandshakeKind
	}{
		{squidtest.TrustingClient, ""},
		{squidtest.RejectingClient, KindCertificate},
		{squidtest.OldTLSClient, KindProtocol},
		{squidtest.StalledClient, KindTimeout},
	} {
		if !seen[c.ip] {
			t.Errorf("client %s missing from the observations: %v", c.ip, Summary(ms.Observations()))
		}
		got := kinds[c.ip]
		if c.want == "" && len(got) != 0 || c.want != "" && (len(got) != 1 || !got[c.want]) {
			t.Errorf("client %s: handshake kinds %v, want only %q\n%v\naccess.log:\n%s", c.ip, got, c.want, Summary(ms.Observations()), log)
		}
	}
	// Ingesting the same real logs again changes nothing.
	n := len(ms.Observations())
	for _, in := range []struct{ format, path string }{{SourceSquidAccess, sq.AccessLog}, {SourceSquidCache, sq.CacheLog}} {
		if _, err := IngestFile(ctx, ms, in.format, in.path, IngestOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(ms.Observations()) != n {
		t.Errorf("re-ingest added %d observations", len(ms.Observations())-n)
	}
}
