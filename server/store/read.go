package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// DefaultStaleAfter is how long an active host goes unseen before the
// summary counts it stale (SummaryOptions.StaleAfter's default).
const DefaultStaleAfter = 7 * 24 * time.Hour

// SummaryOptions are the thresholds of a fleet summary.
type SummaryOptions struct {
	OfflineAfter time.Duration // default 24h
	StaleAfter   time.Duration // default DefaultStaleAfter
}

// Summary computes the fleet summary with offlineAfter and the default
// stale threshold (SummaryWith).
func (s *Store) Summary(ctx context.Context, now time.Time, offlineAfter time.Duration) (*api.FleetSummary, error) {
	return s.SummaryWith(ctx, now, SummaryOptions{OfflineAfter: offlineAfter})
}

// SummaryWith computes the fleet summary of the active hosts from the
// maintained aggregates; it reads a few hundred rows whatever the fleet
// size, plus index range counts for offline, stale, retired and flagged
// hosts.
func (s *Store) SummaryWith(ctx context.Context, now time.Time, o SummaryOptions) (*api.FleetSummary, error) {
	if o.OfflineAfter <= 0 {
		o.OfflineAfter = 24 * time.Hour
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	offlineAfter := o.OfflineAfter
	aggs, err := s.readAgg(ctx, s.r, "SELECT dim, key, status, n FROM fleet_agg WHERE n <> 0 AND dim IN ('hosts', 'os', 'serial', 'kind', 'root')")
	if err != nil {
		return nil, err
	}
	sum := &api.FleetSummary{GeneratedAt: now.UTC(), ByStatus: map[string]int64{}, OfflineAfter: offlineAfter.String()}
	groups := map[string]map[string]*api.GroupCount{DimOS: {}, DimSerial: {}, DimKind: {}}
	roots := map[string]map[string]bool{string(inventory.Unknown): {}, string(inventory.Blocked): {}}
	for _, a := range aggs {
		switch a.Dim {
		case DimHosts:
			sum.ByStatus[a.Status] += a.N
			sum.Hosts += a.N
			if a.Status == string(StatusCompliant) {
				sum.Compliant += a.N
			}
		case DimRoot:
			if roots[a.Status] != nil && a.N > 0 {
				roots[a.Status][a.Key] = true
			}
		default:
			g := groups[a.Dim][a.Key]
			if g == nil {
				g = &api.GroupCount{Key: a.Key, ByStatus: map[string]int64{}}
				groups[a.Dim][a.Key] = g
			}
			g.ByStatus[a.Status] += a.N
			g.Total += a.N
			if a.Status == string(StatusCompliant) {
				g.Compliant += a.N
			}
		}
	}
	sum.CompliantPct = pct(sum.Compliant, sum.Hosts)
	sum.ByOS = sortedGroups(groups[DimOS], false)
	sum.ByPolicySerial = sortedGroups(groups[DimSerial], true)
	sum.ByStoreKind = sortedGroups(groups[DimKind], false)
	sum.UnknownRoots = int64(len(roots[string(inventory.Unknown)]))
	sum.BlockedRoots = int64(len(roots[string(inventory.Blocked)]))
	sum.StaleAfter = o.StaleAfter.String()
	counts := []struct {
		what  string
		query string
		args  []any
		into  *int64
	}{
		{"offline", "SELECT COUNT(*) FROM hosts WHERE retired_at = 0 AND last_seen < ?", []any{ms(now.Add(-offlineAfter))}, &sum.Offline},
		{"stale", "SELECT COUNT(*) FROM hosts WHERE retired_at = 0 AND last_seen < ?", []any{ms(now.Add(-o.StaleAfter))}, &sum.Stale},
		{"retired", "SELECT COUNT(*) FROM hosts WHERE retired_at > 0", nil, &sum.Retired},
		{"flagged", "SELECT COUNT(*) FROM hosts WHERE conflict_of <> 0 AND retired_at = 0", nil, &sum.Flagged},
	}
	for _, c := range counts {
		if err := s.r.QueryRowContext(ctx, s.q(c.query), c.args...).Scan(c.into); err != nil {
			return nil, fmt.Errorf("fleet summary: count %s hosts: %w", c.what, err)
		}
	}
	serial, err := s.CurrentPolicySerial(ctx)
	if err != nil {
		return nil, err
	}
	sum.PolicySerial = serial
	return sum, nil
}

func pct(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(int64(float64(n)*10000/float64(total))) / 100
}

func sortedGroups(m map[string]*api.GroupCount, numeric bool) []api.GroupCount {
	out := make([]api.GroupCount, 0, len(m))
	for _, g := range m {
		if g.Total == 0 {
			continue
		}
		g.CompliantPct = pct(g.Compliant, g.Total)
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if numeric {
			a, _ := strconv.ParseInt(out[i].Key, 10, 64)
			b, _ := strconv.ParseInt(out[j].Key, 10, 64)
			return a > b
		}
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// HostFilter selects hosts. Zero fields do not filter.
type HostFilter struct {
	Status       api.HostStatus
	OS           string
	Hostname     string        // case-insensitive substring
	StoreKind    stores.Kind   // hosts with a store of this kind…
	StoreStatus  stores.Status // …or any store in this status (with StoreKind: a store of that kind in that status)
	PolicySerial *int64
	Flagged      bool      // only hosts flagged as a possible clone or impersonation
	Retired      Retired   // active hosts (default), retired ones, or both
	SeenBefore   time.Time // last seen before (offline)
	SeenAfter    time.Time // last seen at or after
	AfterID      int64     // cursor: ids greater than this
	Limit        int       // default 100, at most 1000; 0 in ExportHosts means all
}

// Retired selects hosts by lifecycle in a HostFilter.
type Retired int

// HostFilter.Retired values.
const (
	ActiveOnly  Retired = iota // hosts that are not retired (the default)
	RetiredOnly                // retired hosts only
	AnyRetired                 // both
)

// ErrBadCursor is returned for a cursor the collector did not issue.
var ErrBadCursor = errors.New("invalid cursor: pass next_cursor from the previous page unchanged")

// ParseCursor decodes a host or event cursor.
func ParseCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(c, 10, 64)
	if err != nil || v < 0 {
		return 0, ErrBadCursor
	}
	return v, nil
}

const summaryCols = "id, hostname, machine_id, os, os_version, arch, agent_version, status, policy_serial, stores_total, stores_compliant, unknown_roots, blocked_roots, enrolled_at, last_seen, last_report_at, host_key, conflict_of, conflict, retired_at"

func scanSummary(r interface{ Scan(...any) error }) (api.HostSummary, error) {
	var h api.HostSummary
	var enrolled, seen, reported, retired int64
	var hostKey string
	err := r.Scan(&h.ID, &h.Hostname, &h.MachineID, &h.OS, &h.OSVersion, &h.Arch, &h.AgentVersion, &h.Status,
		&h.PolicySerial, &h.StoresTotal, &h.StoresCompliant, &h.UnknownRoots, &h.BlockedRoots, &enrolled, &seen, &reported,
		&hostKey, &h.ConflictOf, &h.Conflict, &retired)
	h.EnrolledAt, h.LastSeen, h.LastReportAt, h.RetiredAt = fromMS(enrolled), fromMS(seen), fromMS(reported), fromMS(retired)
	h.KeyBound = hostKey != ""
	return h, err
}

// fewNames is the number of hostname matches under which a page is built
// from the trigram index's matches rather than by scanning hosts in id
// order (where a common substring fills a page after a few rows).
const fewNames = 5000

// hostQuery builds the query of one page of hosts matching f, in id order.
// The row source depends on the filter, so that every page is an index
// range scan stopped by LIMIT: a store filter walks host_facets by
// (facet, host_id); a hostname substring with few matches (SQLite: the
// FTS5 trigram index; PostgreSQL: pg_trgm, chosen by the planner) reads
// only the matching hosts; everything else walks hosts by id or by one of
// its (column, id) indexes.
func (s *Store) hostQuery(ctx context.Context, f *HostFilter, limit int) (string, []any, error) {
	var conds []string
	var args []any
	from, idCol := "hosts", "hosts.id"
	facet := storeFacet(string(f.StoreKind), string(f.StoreStatus))
	names := ""
	if f.Hostname != "" {
		r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		pattern := "%" + r.Replace(strings.ToLower(f.Hostname)) + "%"
		// The FTS5 trigram index answers LIKE without ESCAPE for
		// patterns of at least three characters.
		if s.dialect == SQLite && utf8.RuneCountInString(f.Hostname) >= 3 && !strings.ContainsAny(f.Hostname, `\%_`) {
			few, err := s.fewNames(ctx, pattern)
			if err != nil {
				return "", nil, err
			}
			if few {
				names = pattern
			}
		}
		conds, args = append(conds, `LOWER(hosts.hostname) LIKE ? ESCAPE '\'`), append(args, pattern)
	}
	switch {
	case names != "":
		conds, args = append(conds, "hosts.id IN (SELECT rowid FROM host_names WHERE hostname LIKE ?)"), append(args, names)
		if facet != "" {
			conds, args = append(conds, "EXISTS (SELECT 1 FROM host_facets f WHERE f.facet = ? AND f.host_id = hosts.id)"), append(args, facet)
		}
	case facet != "":
		// CROSS JOIN fixes the order on SQLite: walk the facet's range.
		from, idCol = "host_facets f CROSS JOIN hosts", "f.host_id"
		conds, args = append(conds, "f.facet = ?", "hosts.id = f.host_id"), append(args, facet)
	}
	if f.Status != "" {
		conds, args = append(conds, "hosts.status = ?"), append(args, string(f.Status))
	}
	if f.OS != "" {
		conds, args = append(conds, "hosts.os = ?"), append(args, f.OS)
	}
	if f.PolicySerial != nil {
		conds, args = append(conds, "hosts.policy_serial = ?"), append(args, *f.PolicySerial)
	}
	if f.Flagged {
		conds = append(conds, "hosts.conflict_of <> 0")
	}
	switch f.Retired {
	case ActiveOnly:
		conds = append(conds, "hosts.retired_at = 0")
	case RetiredOnly:
		conds = append(conds, "hosts.retired_at > 0")
	}
	if !f.SeenBefore.IsZero() {
		conds, args = append(conds, "hosts.last_seen < ?"), append(args, ms(f.SeenBefore))
	}
	if !f.SeenAfter.IsZero() {
		conds, args = append(conds, "hosts.last_seen >= ?"), append(args, ms(f.SeenAfter))
	}
	if f.AfterID > 0 {
		conds, args = append(conds, idCol+" > ?"), append(args, f.AfterID)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	cols := strings.ReplaceAll("hosts."+summaryCols, ", ", ", hosts.")
	return "SELECT " + cols + " FROM " + from + where + " ORDER BY " + idCol + " LIMIT " + strconv.Itoa(limit), args, nil
}

// fewNames reports whether fewer than fewNames hostnames match pattern
// (SQLite, FTS5 trigram index).
func (s *Store) fewNames(ctx context.Context, pattern string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT rowid FROM host_names WHERE hostname LIKE ? LIMIT "+strconv.Itoa(fewNames)+")", pattern).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("list hosts: hostname index: %w", err)
	}
	return n < fewNames, nil
}

// ListHosts returns one page of hosts matching f, in id order.
func (s *Store) ListHosts(ctx context.Context, f HostFilter) (*api.HostList, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	query, args, err := s.hostQuery(ctx, &f, limit+1)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	defer rows.Close()
	out := &api.HostList{Hosts: []api.HostSummary{}}
	for rows.Next() {
		h, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("list hosts: %w", err)
		}
		out.Hosts = append(out.Hosts, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	if len(out.Hosts) > limit {
		out.Hosts = out.Hosts[:limit]
		out.NextCursor = strconv.FormatInt(out.Hosts[limit-1].ID, 10)
	}
	return out, nil
}

// EachHost calls fn for every host matching f (Limit and AfterID are
// honoured), streaming in pages: the CSV export.
func (s *Store) EachHost(ctx context.Context, f HostFilter, fn func(api.HostSummary) error) error {
	for {
		f.Limit = 1000
		page, err := s.ListHosts(ctx, f)
		if err != nil {
			return err
		}
		for _, h := range page.Hosts {
			if err := fn(h); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.AfterID = page.Hosts[len(page.Hosts)-1].ID
	}
}

// Host returns one host with its stores, roots, CAs, addresses and its
// latest events (at most events, newest first).
func (s *Store) Host(ctx context.Context, id int64, events int) (*api.HostDetail, error) {
	h, err := scanSummary(s.r.QueryRowContext(ctx, s.q("SELECT "+summaryCols+" FROM hosts WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("host %d: %w", id, err)
	}
	d := &api.HostDetail{HostSummary: h, Stores: []api.StoreStatus{}, UnknownRoots: []api.Root{}, CAs: []api.CA{},
		Addresses: []api.HostAddress{}, Events: []api.HostEvent{}}
	err = s.each(ctx, "SELECT store_id, kind, path, format, owner, status, detail FROM host_stores WHERE host_id = ? ORDER BY store_id", []any{id}, func(r *sql.Rows) error {
		var st api.StoreStatus
		err := r.Scan(&st.ID, &st.Kind, &st.Path, &st.Format, &st.Owner, &st.Status, &st.Detail)
		d.Stores = append(d.Stores, st)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %d stores: %w", id, err)
	}
	err = s.each(ctx, "SELECT sha256, spki_sha256, subject, issuer, not_after, class, reason, store_ids FROM host_roots WHERE host_id = ? ORDER BY sha256", []any{id}, func(r *sql.Rows) error {
		var rt api.Root
		var na int64
		var ids string
		err := r.Scan(&rt.SHA256, &rt.SPKI, &rt.Subject, &rt.Issuer, &na, &rt.Class, &rt.Reason, &ids)
		rt.NotAfter = fromMS(na)
		rt.StoreIDs = []string{}
		if ids != "" {
			rt.StoreIDs = strings.Split(ids, "\n")
		}
		d.UnknownRoots = append(d.UnknownRoots, rt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %d roots: %w", id, err)
	}
	err = s.each(ctx, "SELECT sha256, subject, not_after FROM host_cas WHERE host_id = ? ORDER BY sha256", []any{id}, func(r *sql.Rows) error {
		var ca api.CA
		var na int64
		err := r.Scan(&ca.SHA256, &ca.Subject, &na)
		ca.NotAfter = fromMS(na)
		d.CAs = append(d.CAs, ca)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %d CAs: %w", id, err)
	}
	err = s.each(ctx, "SELECT ip, mac, first_seen, last_seen FROM host_addresses WHERE host_id = ? ORDER BY ip, mac", []any{id}, func(r *sql.Rows) error {
		var a api.HostAddress
		var fs, ls int64
		err := r.Scan(&a.IP, &a.MAC, &fs, &ls)
		a.FirstSeen, a.LastSeen = fromMS(fs), fromMS(ls)
		d.Addresses = append(d.Addresses, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %d addresses: %w", id, err)
	}
	if events <= 0 {
		events = 100
	}
	err = s.each(ctx, "SELECT e.id, e.host_id, h.hostname, e.event_id, e.time, e.type, e.store_id, e.sha256, e.detail, e.received_at FROM events e JOIN hosts h ON h.id = e.host_id WHERE e.host_id = ? ORDER BY e.time DESC, e.id DESC LIMIT "+strconv.Itoa(events), []any{id}, func(r *sql.Rows) error {
		e, err := scanEvent(r)
		d.Events = append(d.Events, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %d events: %w", id, err)
	}
	return d, nil
}

func scanEvent(r *sql.Rows) (api.HostEvent, error) {
	var e api.HostEvent
	var t, rcv int64
	err := r.Scan(&e.Seq, &e.HostID, &e.Hostname, &e.ID, &t, &e.Type, &e.StoreID, &e.SHA256, &e.Detail, &rcv)
	e.Time, e.ReceivedAt = fromMS(t), fromMS(rcv)
	return e, err
}

func (s *Store) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EventFilter selects events.
type EventFilter struct {
	Since  time.Time // event time at or after
	Until  time.Time // event time before (zero: no bound)
	Type   string
	HostID int64
	Cursor string // from EventList.NextCursor
	Limit  int    // default 100, at most 1000
	// OldestFirst lists in (time, seq) order; the default is newest
	// first. A cursor continues in the order it was issued for.
	OldestFirst bool
}

// Events lists events newest first (or OldestFirst), by (time, seq).
func (s *Store) Events(ctx context.Context, f EventFilter) (*api.EventList, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	conds := []string{"e.time >= ?"}
	args := []any{ms(f.Since)}
	if !f.Until.IsZero() {
		conds, args = append(conds, "e.time < ?"), append(args, ms(f.Until))
	}
	if f.Type != "" {
		conds, args = append(conds, "e.type = ?"), append(args, f.Type)
	}
	if f.HostID != 0 {
		conds, args = append(conds, "e.host_id = ?"), append(args, f.HostID)
	}
	if f.Cursor != "" {
		t, seq, ok := strings.Cut(f.Cursor, "-")
		tv, err1 := strconv.ParseInt(t, 10, 64)
		sv, err2 := strconv.ParseInt(seq, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, ErrBadCursor
		}
		if f.OldestFirst {
			conds = append(conds, "(e.time > ? OR (e.time = ? AND e.id > ?))")
		} else {
			conds = append(conds, "(e.time < ? OR (e.time = ? AND e.id < ?))")
		}
		args = append(args, tv, tv, sv)
	}
	order := " ORDER BY e.time DESC, e.id DESC"
	if f.OldestFirst {
		order = " ORDER BY e.time, e.id"
	}
	out := &api.EventList{Events: []api.HostEvent{}}
	err := s.each(ctx, "SELECT e.id, e.host_id, h.hostname, e.event_id, e.time, e.type, e.store_id, e.sha256, e.detail, e.received_at FROM events e JOIN hosts h ON h.id = e.host_id WHERE "+
		strings.Join(conds, " AND ")+order+" LIMIT "+strconv.Itoa(limit+1), args, func(r *sql.Rows) error {
		e, err := scanEvent(r)
		out.Events = append(out.Events, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if len(out.Events) > limit {
		out.Events = out.Events[:limit]
		last := out.Events[limit-1]
		out.NextCursor = strconv.FormatInt(ms(last.Time), 10) + "-" + strconv.FormatInt(last.Seq, 10)
	}
	return out, nil
}

// CAExpiry lists the policy CAs hosts hold, soonest expiry first.
func (s *Store) CAExpiry(ctx context.Context) (*api.CAExpiryList, error) {
	out := &api.CAExpiryList{CAs: []api.CAExpiry{}}
	err := s.each(ctx, "SELECT i.sha256, i.subject, i.not_after, a.n FROM fleet_agg a JOIN ca_info i ON i.sha256 = a.key WHERE a.dim = 'ca' AND a.n > 0 ORDER BY i.not_after, i.sha256", nil, func(r *sql.Rows) error {
		var c api.CAExpiry
		var na int64
		err := r.Scan(&c.SHA256, &c.Subject, &na, &c.Hosts)
		c.NotAfter = fromMS(na)
		out.CAs = append(out.CAs, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("CA expiry: %w", err)
	}
	return out, nil
}

// Roots lists unknown and blocked roots seen on hosts, most widespread
// first (at most limit; class "" means both).
func (s *Store) Roots(ctx context.Context, class inventory.Class, limit int) (*api.RootList, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	query := "SELECT i.sha256, i.subject, i.issuer, a.status, i.not_after, a.n FROM fleet_agg a JOIN root_info i ON i.sha256 = a.key WHERE a.dim = 'root' AND a.n > 0"
	var args []any
	if class != "" {
		query, args = query+" AND a.status = ?", append(args, string(class))
	}
	out := &api.RootList{Roots: []api.RootSeen{}}
	err := s.each(ctx, query+" ORDER BY a.n DESC, i.sha256 LIMIT "+strconv.Itoa(limit), args, func(r *sql.Rows) error {
		var rt api.RootSeen
		var na int64
		err := r.Scan(&rt.SHA256, &rt.Subject, &rt.Issuer, &rt.Class, &na, &rt.Hosts)
		rt.NotAfter = fromMS(na)
		out.Roots = append(out.Roots, rt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("roots seen: %w", err)
	}
	return out, nil
}

// Trend returns the hourly compliance snapshots since t — each the fleet
// at a full hour — and, last, the fleet now (from the counters the
// summary reads, so it matches the summary's figures).
func (s *Store) Trend(ctx context.Context, since, now time.Time) (*api.TrendList, error) {
	pts := map[int64]*api.TrendPoint{}
	var order []int64
	err := s.each(ctx, "SELECT bucket, status, n FROM compliance_snapshots WHERE dim = 'hosts' AND bucket >= ? ORDER BY bucket", []any{ms(since)}, func(r *sql.Rows) error {
		var b, n int64
		var st string
		if err := r.Scan(&b, &st, &n); err != nil {
			return err
		}
		p := pts[b]
		if p == nil {
			p = &api.TrendPoint{Time: fromMS(b), ByStatus: map[string]int64{}}
			pts[b] = p
			order = append(order, b)
		}
		p.ByStatus[st] += n
		p.Hosts += n
		if st == string(StatusCompliant) {
			p.Compliant += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compliance trend: %w", err)
	}
	out := &api.TrendList{Points: []api.TrendPoint{}}
	for _, b := range order {
		p := pts[b]
		p.CompliantPct = pct(p.Compliant, p.Hosts)
		out.Points = append(out.Points, *p)
	}
	aggs, err := s.readAgg(ctx, s.r, "SELECT dim, key, status, n FROM fleet_agg WHERE n <> 0 AND dim = 'hosts'")
	if err != nil {
		return nil, fmt.Errorf("compliance trend: %w", err)
	}
	cur := api.TrendPoint{Time: now.UTC(), ByStatus: map[string]int64{}, Current: true}
	for _, a := range aggs {
		cur.ByStatus[a.Status] += a.N
		cur.Hosts += a.N
		if a.Status == string(StatusCompliant) {
			cur.Compliant += a.N
		}
	}
	cur.CompliantPct = pct(cur.Compliant, cur.Hosts)
	out.Points = append(out.Points, cur)
	return out, nil
}

// HostsByAddress returns the ids of hosts that reported ip or mac (either
// may be empty): for the unmanaged-device view.
func (s *Store) HostsByAddress(ctx context.Context, ip, mac string) ([]int64, error) {
	var ids []int64
	err := s.each(ctx, "SELECT DISTINCT host_id FROM host_addresses WHERE (ip = ? AND ip <> '') OR (mac = ? AND mac <> '') ORDER BY host_id",
		[]any{ip, strings.ToLower(mac)}, func(r *sql.Rows) error {
			var id int64
			err := r.Scan(&id)
			ids = append(ids, id)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("hosts by address: %w", err)
	}
	return ids, nil
}
