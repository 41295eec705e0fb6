package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/anchorwatch/anchorwatch/server/api"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// Seed adds n hosts to st through the collector's own write path
// (store.WriteBatch: enrollment, then one full report each), in batches
// of 1000, so the fleet aggregates are exact. Host i's last-seen time is
// spread over the past two days so offline filters select a share.
// progress, if set, is called after each batch.
func Seed(ctx context.Context, st *store.Store, n, stores int, progress func(done int)) error {
	if stores <= 0 {
		stores = 10
	}
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	now := time.Now()
	base := time.Now().UnixNano()
	for done := 0; done < n; {
		m := min(1000, n-done)
		enrolls := make([]store.EnrollIn, m)
		hosts := make([]*host, m)
		for j := 0; j < m; j++ {
			i := done + j
			hosts[j] = newHost(i, stores)
			if rng.IntN(10) == 0 {
				hosts[j].stores[rng.IntN(stores)].Status = []string{"missing", "error", "untrusted"}[rng.IntN(3)]
			}
			enrolls[j] = store.EnrollIn{NodeKey: fmt.Sprintf("seed-%d-%d", base, i), SecretName: "seed",
				Now: now.Add(-time.Duration(rng.IntN(48*60)) * time.Minute),
				Facts: api.HostFacts{Hostname: fmt.Sprintf("seed-host-%07d.corp.example", i), MachineID: fmt.Sprintf("seed-%d-%d", base, i),
					OS: []string{"linux", "linux", "windows", "darwin"}[i%4], OSVersion: "12", Arch: "amd64", AgentVersion: "0.1.0",
					IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}}
		}
		eo, _, err := st.WriteBatch(ctx, enrolls, nil)
		if err != nil {
			return fmt.Errorf("seed hosts: %w", err)
		}
		reps := make([]store.ReportIn, m)
		for j := 0; j < m; j++ {
			h := hosts[j]
			h.sentOne = true
			reps[j] = store.ReportIn{HostID: eo[j].HostID, Received: enrolls[j].Now, Report: &api.ReportRequest{
				ReportID: "seed", Kind: api.ReportFull, PolicySerial: int64(1 + rng.IntN(3)), StateHash: h.hash,
				Stores: h.stores, CAs: h.cas}}
		}
		if _, _, err := st.WriteBatch(ctx, nil, reps); err != nil {
			return fmt.Errorf("seed reports: %w", err)
		}
		done += m
		if progress != nil {
			progress(done)
		}
	}
	return nil
}
