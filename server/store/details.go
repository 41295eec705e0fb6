package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/api"
)

// A full report usually changes one store of the host (a CA removed, or
// healed) and none of its roots and CAs. replaceDetailsTx therefore writes
// only the rows that differ from the stored ones, instead of deleting
// every row of the host and inserting them again: most of the write
// path's work for a full report was that churn.

// loadDetails reads the stored stores, roots and CAs of hosts, every
// column, without changing them.
func (s *Store) loadDetails(ctx context.Context, tx *sql.Tx, ids []int64) (map[int64]*hostDetail, error) {
	out := map[int64]*hostDetail{}
	get := func(id int64) *hostDetail {
		if out[id] == nil {
			out[id] = &hostDetail{}
		}
		return out[id]
	}
	in, arg := s.inSet("host_id", ids)
	queries := []struct {
		sql  string
		scan func(*sql.Rows) error
	}{
		{"SELECT host_id, store_id, kind, path, format, owner, status, detail FROM host_stores WHERE " + in, func(r *sql.Rows) error {
			var id int64
			var st api.StoreStatus
			err := r.Scan(&id, &st.ID, &st.Kind, &st.Path, &st.Format, &st.Owner, &st.Status, &st.Detail)
			get(id).stores = append(get(id).stores, st)
			return err
		}},
		{"SELECT host_id, sha256, spki_sha256, subject, issuer, not_after, class, reason, store_ids FROM host_roots WHERE " + in, func(r *sql.Rows) error {
			var id, na int64
			var rt api.Root
			var sids string
			err := r.Scan(&id, &rt.SHA256, &rt.SPKI, &rt.Subject, &rt.Issuer, &na, &rt.Class, &rt.Reason, &sids)
			rt.NotAfter = fromMS(na)
			if sids != "" {
				rt.StoreIDs = strings.Split(sids, "\n")
			}
			get(id).roots = append(get(id).roots, rt)
			return err
		}},
		{"SELECT host_id, sha256, subject, not_after FROM host_cas WHERE " + in, func(r *sql.Rows) error {
			var id, na int64
			var ca api.CA
			err := r.Scan(&id, &ca.SHA256, &ca.Subject, &na)
			ca.NotAfter = fromMS(na)
			get(id).cas = append(get(id).cas, ca)
			return err
		}},
	}
	for _, q := range queries {
		rows, err := s.txQuery(ctx, tx, q.sql, arg)
		if err != nil {
			return nil, fmt.Errorf("read host details: %w", err)
		}
		for rows.Next() {
			if err := q.scan(rows); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read host details: %w", err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read host details: %w", err)
		}
	}
	return out, nil
}

// detailRows are the writes that bring stored details to new ones.
type detailRows struct {
	delStores, delRoots, delCAs [][]any // (host_id, key) to delete
	stores, roots, cas          [][]any // rows to insert or update
	rootInfo, caInfo            [][]any
}

// diff adds to w what turns host id's stored details p into those of rep.
func (w *detailRows) diff(id int64, p *hostDetail, rep *api.ReportRequest) {
	oldStores := make(map[string]api.StoreStatus, len(p.stores))
	for _, st := range p.stores {
		oldStores[st.ID] = st
	}
	for _, st := range rep.Stores {
		if o, ok := oldStores[st.ID]; !ok || o != st {
			w.stores = append(w.stores, []any{id, st.ID, string(st.Kind), st.Path, st.Format, st.Owner, string(st.Status), st.Detail})
		}
		delete(oldStores, st.ID)
	}
	for _, k := range sortedKeysOf(oldStores) {
		w.delStores = append(w.delStores, []any{id, k})
	}
	oldRoots := make(map[string]api.Root, len(p.roots))
	for _, rt := range p.roots {
		oldRoots[rt.SHA256] = rt
	}
	for _, rt := range rep.UnknownRoots {
		if o, ok := oldRoots[rt.SHA256]; !ok || !sameRoot(o, rt) {
			w.roots = append(w.roots, []any{id, rt.SHA256, rt.SPKI, rt.Subject, rt.Issuer, ms(rt.NotAfter), string(rt.Class), rt.Reason, strings.Join(rt.StoreIDs, "\n")})
			w.rootInfo = append(w.rootInfo, []any{rt.SHA256, rt.Subject, rt.Issuer, string(rt.Class), ms(rt.NotAfter)})
		}
		delete(oldRoots, rt.SHA256)
	}
	for _, k := range sortedKeysOf(oldRoots) {
		w.delRoots = append(w.delRoots, []any{id, k})
	}
	oldCAs := make(map[string]api.CA, len(p.cas))
	for _, ca := range p.cas {
		oldCAs[ca.SHA256] = ca
	}
	for _, ca := range rep.CAs {
		if o, ok := oldCAs[ca.SHA256]; !ok || o.Subject != ca.Subject || ms(o.NotAfter) != ms(ca.NotAfter) {
			w.cas = append(w.cas, []any{id, ca.SHA256, ca.Subject, ms(ca.NotAfter)})
			w.caInfo = append(w.caInfo, []any{ca.SHA256, ca.Subject, ms(ca.NotAfter)})
		}
		delete(oldCAs, ca.SHA256)
	}
	for _, k := range sortedKeysOf(oldCAs) {
		w.delCAs = append(w.delCAs, []any{id, k})
	}
}

func sameRoot(a, b api.Root) bool {
	return a.SPKI == b.SPKI && a.Subject == b.Subject && a.Issuer == b.Issuer && ms(a.NotAfter) == ms(b.NotAfter) &&
		a.Class == b.Class && a.Reason == b.Reason && strings.Join(a.StoreIDs, "\n") == strings.Join(b.StoreIDs, "\n")
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// replaceDetailsTx brings the stored stores, roots and CAs of hosts ids
// (sorted) to those of their full reports, writing only the rows that
// changed, and returns what was stored before (for the counters and the
// facets).
func (s *Store) replaceDetailsTx(ctx context.Context, tx *sql.Tx, ids []int64, full map[int64]*api.ReportRequest) (map[int64]*hostDetail, error) {
	prev, err := s.loadDetails(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	var w detailRows
	for _, id := range ids {
		p := prev[id]
		if p == nil {
			p = &hostDetail{}
		}
		w.diff(id, p, full[id])
	}
	for _, del := range []struct {
		table, key string
		rows       [][]any
	}{{"host_stores", "store_id", w.delStores}, {"host_roots", "sha256", w.delRoots}, {"host_cas", "sha256", w.delCAs}} {
		if len(del.rows) == 0 {
			continue
		}
		src, args, err := s.source("it", del.rows)
		if err != nil {
			return nil, fmt.Errorf("replace host details: %w", err)
		}
		if _, err := s.txExec(ctx, tx, "DELETE FROM "+del.table+" WHERE (host_id, "+del.key+") IN (SELECT c0, c1 FROM ("+src+") AS v)", args...); err != nil {
			return nil, fmt.Errorf("replace host details: %w", err)
		}
	}
	for _, up := range []struct {
		prefix string
		n      int
		rows   [][]any
		suffix string
	}{
		{"INSERT INTO host_stores (host_id, store_id, kind, path, format, owner, status, detail)", 8, w.stores,
			"ON CONFLICT (host_id, store_id) DO UPDATE SET kind = excluded.kind, path = excluded.path, format = excluded.format, owner = excluded.owner, status = excluded.status, detail = excluded.detail"},
		{"INSERT INTO host_roots (host_id, sha256, spki_sha256, subject, issuer, not_after, class, reason, store_ids)", 9, w.roots,
			"ON CONFLICT (host_id, sha256) DO UPDATE SET spki_sha256 = excluded.spki_sha256, subject = excluded.subject, issuer = excluded.issuer, not_after = excluded.not_after, class = excluded.class, reason = excluded.reason, store_ids = excluded.store_ids"},
		{"INSERT INTO host_cas (host_id, sha256, subject, not_after)", 4, w.cas,
			"ON CONFLICT (host_id, sha256) DO UPDATE SET subject = excluded.subject, not_after = excluded.not_after"},
		{"INSERT INTO root_info (sha256, subject, issuer, class, not_after)", 5, dedupFirst(w.rootInfo),
			"ON CONFLICT (sha256) DO UPDATE SET class = excluded.class"},
		{"INSERT INTO ca_info (sha256, subject, not_after)", 3, dedupFirst(w.caInfo), "ON CONFLICT (sha256) DO NOTHING"},
	} {
		if err := s.bulkExec(ctx, tx, up.prefix, up.n, up.rows, up.suffix); err != nil {
			return nil, err
		}
	}
	return prev, nil
}
