package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/anchorwatch/anchorwatch/api"
)

// host_facets holds, per host, one row for each store kind it has ("k:"
// kind), each store status it has ("s:" status) and each kind and status
// of one store ("ks:" status ":" kind), keyed (facet, host_id). A host
// page filtered by store kind and/or status is then a range scan of that
// key in host id order, stopped by the page's LIMIT, whatever the fleet
// size.

// storeFacet is the facet of the host filter's StoreKind and StoreStatus
// ("" when neither is set).
func storeFacet(kind, status string) string {
	switch {
	case kind != "" && status != "":
		return "ks:" + status + ":" + kind
	case kind != "":
		return "k:" + kind
	case status != "":
		return "s:" + status
	}
	return ""
}

// facetsOf returns the distinct facets of a set of stores.
func facetsOf(stores []api.StoreStatus) map[string]bool {
	out := make(map[string]bool, 2*len(stores)+1)
	for _, st := range stores {
		out[storeFacet(string(st.Kind), "")] = true
		out[storeFacet("", string(st.Status))] = true
		out[storeFacet(string(st.Kind), string(st.Status))] = true
	}
	return out
}

// replaceFacets brings the facets of hosts ids from their stored stores
// (as loadDetails read them before the report: prev) to the stores of
// their new full reports; only the facets that change are written.
func (s *Store) replaceFacets(ctx context.Context, tx *sql.Tx, prev map[int64]*hostDetail, full map[int64]*api.ReportRequest, ids []int64) error {
	var add, del [][]any
	for _, id := range ids {
		var before map[string]bool
		if p := prev[id]; p != nil {
			before = facetsOf(p.stores)
		}
		after := facetsOf(full[id].Stores)
		for _, f := range sortedKeys(before) {
			if !after[f] {
				del = append(del, []any{f, id})
			}
		}
		for _, f := range sortedKeys(after) {
			if !before[f] {
				add = append(add, []any{f, id})
			}
		}
	}
	if len(del) > 0 {
		src, args, err := s.source("ti", del)
		if err != nil {
			return fmt.Errorf("update host facets: %w", err)
		}
		if _, err := s.txExec(ctx, tx, "DELETE FROM host_facets WHERE (facet, host_id) IN (SELECT c0, c1 FROM ("+src+") AS v)", args...); err != nil {
			return fmt.Errorf("update host facets: %w", err)
		}
	}
	return s.bulkExec(ctx, tx, "INSERT INTO host_facets (facet, host_id)", 2, add, "ON CONFLICT (facet, host_id) DO NOTHING")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
