//go:build unix

package evidence

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
)

var updateFixtures = flag.Bool("update", false, "rewrite testdata/squid-e2e-*.log from the real Squid run")

// TestSquidEndToEnd runs a real ssl-bump Squid with a test interception CA:
// one client trusts the CA, one does not. Their real access.log and
// cache.log are ingested; the client without the CA must carry the
// rejection evidence and the other must not.
func TestSquidEndToEnd(t *testing.T) {
	sq := squidtest.Run(t)

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
	seen := map[string]map[string]Observation{} // ip -> source -> obs
	for _, o := range ms.Observations() {
		ip := o.IP.String()
		if seen[ip] == nil {
			seen[ip] = map[string]Observation{}
		}
		seen[ip][o.Source] = o
	}
	if _, ok := seen["127.0.0.2"][SourceSquidAccess]; !ok {
		t.Errorf("trusting client 127.0.0.2 missing from access.log observations: %v", summary(ms.Observations()))
	}
	if _, ok := seen["127.0.0.3"][SourceSquidAccess]; !ok {
		t.Errorf("rejecting client 127.0.0.3 missing from access.log observations: %v", summary(ms.Observations()))
	}
	rej, ok := seen["127.0.0.3"][SourceSquidCache]
	if !ok || !strings.HasPrefix(rej.Evidence, EvidenceRejectedCA) {
		log, _ := os.ReadFile(sq.CacheLog)
		t.Errorf("rejecting client 127.0.0.3 has no rejection evidence: %v\ncache.log:\n%s", summary(ms.Observations()), log)
	}
	if o, ok := seen["127.0.0.2"][SourceSquidCache]; ok {
		t.Errorf("trusting client 127.0.0.2 has rejection evidence: %+v", o)
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
