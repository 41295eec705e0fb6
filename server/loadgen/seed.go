package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/store"
	storespkg "github.com/anchorwatch/anchorwatch/stores"
)

// Seed adds n hosts to st, each enrolled with one full report of stores
// stores (store.ImportHosts: multi-row statements in transactions of
// 20,000 hosts, fleet aggregates exact). One host in ten has a drifted
// store; last-seen times are spread over the past two days so offline
// filters select a share. progress, if set, is called after each batch.
func Seed(ctx context.Context, st *store.Store, n, stores int, progress func(done int)) error {
	if stores <= 0 {
		stores = 10
	}
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	now := time.Now()
	base := time.Now().UnixNano()
	for done := 0; done < n; {
		m := min(20000, n-done)
		batch := make([]store.ImportHost, m)
		for j := range batch {
			i := done + j
			h := newHost(i, stores)
			if rng.IntN(10) == 0 {
				h.stores[rng.IntN(stores)].Status = []storespkg.Status{storespkg.StatusMissing, storespkg.StatusError, storespkg.StatusUntrusted}[rng.IntN(3)]
			}
			seen := now.Add(-time.Duration(rng.IntN(48*60)) * time.Minute)
			batch[j] = store.ImportHost{NodeKey: fmt.Sprintf("%sseed-%d-%d", store.PrefixNodeKey, base, i), SecretName: "seed",
				EnrolledAt: seen, LastSeen: seen, PolicySerial: int64(1 + rng.IntN(3)), StateHash: h.hash, Stores: h.stores, CAs: h.cas,
				Facts: api.HostFacts{Hostname: fmt.Sprintf("seed-host-%07d.corp.example", i), MachineID: fmt.Sprintf("seed-%d-%d", base, i),
					OS: []string{"linux", "linux", "windows", "darwin"}[i%4], OSVersion: "12", Arch: "amd64", AgentVersion: "0.1.0",
					IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}}
		}
		if err := st.ImportHosts(ctx, batch); err != nil {
			return fmt.Errorf("seed hosts: %w", err)
		}
		done += m
		if progress != nil {
			progress(done)
		}
	}
	return nil
}
