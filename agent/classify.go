package agent

import (
	"sort"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// blocklistFor merges the built-in blocklist with the policy's additions.
func blocklistFor(pol *policy.Document) *policy.Blocklist {
	if pol == nil || len(pol.Blocklist) == 0 {
		return policy.DefaultBlocklist()
	}
	b, err := policy.NewBlocklist(policy.BuiltinBlockedRoots(), pol.BlockedRoots())
	if err != nil {
		// Validated by policy.Parse; fall back to the built-in list.
		return policy.DefaultBlocklist()
	}
	return b
}

// classifyRoots sorts what the stores hold and returns the roots to
// report: blocked ones always, unknown ones when the policy asks for them
// (or when there is no policy yet).
func classifyRoots(snap []inventory.StoreAnchors, pol *policy.Document, bl *policy.Blocklist) []api.Root {
	managed := map[string]bool{}
	reportUnknown := true
	if pol != nil {
		for _, c := range pol.CAs() {
			managed[stores.SHA256(c)] = true
		}
		reportUnknown = pol.ReportUnknownRoots
	}
	var out []api.Root
	for _, e := range inventory.Classify(snap, inventory.Options{Managed: managed, Blocklist: bl}) {
		if e.Class != inventory.Blocked && (e.Class != inventory.Unknown || !reportUnknown) {
			continue
		}
		r := api.Root{SHA256: e.SHA256, SPKI: e.SPKI, Subject: e.Subject, Issuer: e.Issuer, NotAfter: e.NotAfter,
			Class: e.Class, Reason: e.Reason}
		for _, l := range e.Stores {
			r.StoreIDs = append(r.StoreIDs, l.ID)
		}
		out = append(out, r)
	}
	// Blocked roots first: they are what a capped report must keep.
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Class == inventory.Blocked && out[j].Class != inventory.Blocked
	})
	return out
}
