package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// Host statuses (api.HostStatus*): pending until the first full report.
const (
	StatusPending      = api.HostStatusPending
	StatusCompliant    = api.HostStatusCompliant
	StatusNoncompliant = api.HostStatusNoncompliant
	StatusError        = api.HostStatusError
)

// HostStatus derives a host's status from its stores and roots: any store
// missing, untrusted, blocked-present or needing MDM, or any blocklisted
// root, makes it noncompliant; otherwise any store in error (or no store
// at all) makes it error; otherwise it is compliant.
func HostStatus(sts []api.StoreStatus, roots []api.Root) api.HostStatus {
	errs := len(sts) == 0
	for _, r := range roots {
		if r.Class == inventory.Blocked {
			return StatusNoncompliant
		}
	}
	for _, s := range sts {
		switch s.Status {
		case stores.StatusCompliant:
		case stores.StatusError:
			errs = true
		default:
			return StatusNoncompliant
		}
	}
	if errs {
		return StatusError
	}
	return StatusCompliant
}

// EnrollIn is one enrollment to write: the node key the collector
// generated for the host and the facts it sent (see enrollTx in
// hostkeys.go for who gets which host).
type EnrollIn struct {
	NodeKey    string // stored as its hash
	SecretName string
	Facts      api.HostFacts
	Now        time.Time
	// HostKey is the host's public key, whose possession the collector
	// verified (the enroll proof); "" for an agent without one.
	HostKey string
	// Nonce is the proof's nonce: an enrollment whose nonce was seen
	// before fails with ErrProofReplayed. It is kept until NonceExpires.
	Nonce        string
	NonceExpires time.Time
	// CurrentNodeKey is the node key the agent presented, if any: it
	// identifies a host enrolled before host keys.
	CurrentNodeKey string
}

// EnrollOut is the result of one enrollment.
type EnrollOut struct {
	HostID     int64
	Reenrolled bool // an existing host (same machine id, its key) got a new node key
	// ConflictOf is set when the machine id belonged to another host and
	// this enrollment did not prove to be it: HostID is a new host,
	// flagged; Conflict says why.
	ConflictOf int64
	Conflict   string
	Err        error
}

// ReportIn is one report to write. The host is HostID, or, when HostID is
// 0, the host holding the node key Report.NodeKey: the writer resolves node
// keys in bulk inside its transaction (no read per request), and an
// unknown key is the item's ErrNotFound.
type ReportIn struct {
	HostID   int64
	Report   *api.ReportRequest
	Received time.Time
}

// ReportOut is the result of one report.
type ReportOut struct {
	Duplicate bool // this report id was already stored
	// NeedFull is set for a heartbeat whose state hash is not the host's
	// stored one, or whose host has no full report yet: the agent should
	// send a full report.
	NeedFull bool
	Err      error
}

const hostCols = "id, node_key_hash, hostname, machine_id, os, os_version, arch, agent_version, enroll_secret, enrolled_at, last_seen, last_report_at, policy_serial, status, state_hash, stores_total, stores_compliant, unknown_roots, blocked_roots, retired_at"

type hostRow struct {
	ID                                                       int64
	NodeKeyHash, Hostname, MachineID, OS, OSVersion, Arch    string
	AgentVersion, EnrollSecret                               string
	EnrolledAt, LastSeen, LastReportAt, PolicySerial         int64
	Status                                                   api.HostStatus
	StateHash                                                string
	StoresTotal, StoresCompliant, UnknownRoots, BlockedRoots int64
	// RetiredAt is when the host was retired (lifecycle.go); 0 while it
	// is active. A retired host is not in the fleet counters.
	RetiredAt int64
}

func (h *hostRow) scanDest() []any {
	return []any{&h.ID, &h.NodeKeyHash, &h.Hostname, &h.MachineID, &h.OS, &h.OSVersion, &h.Arch,
		&h.AgentVersion, &h.EnrollSecret, &h.EnrolledAt, &h.LastSeen, &h.LastReportAt, &h.PolicySerial,
		&h.Status, &h.StateHash, &h.StoresTotal, &h.StoresCompliant, &h.UnknownRoots, &h.BlockedRoots, &h.RetiredAt}
}

func (h *hostRow) values() []any {
	return []any{h.ID, h.NodeKeyHash, h.Hostname, h.MachineID, h.OS, h.OSVersion, h.Arch,
		h.AgentVersion, h.EnrollSecret, h.EnrolledAt, h.LastSeen, h.LastReportAt, h.PolicySerial,
		string(h.Status), h.StateHash, h.StoresTotal, h.StoresCompliant, h.UnknownRoots, h.BlockedRoots, h.RetiredAt}
}

func (h *hostRow) setFacts(f *api.HostFacts) {
	h.Hostname, h.MachineID, h.OS, h.OSVersion = f.Hostname, f.MachineID, f.OS, f.OSVersion
	h.Arch, h.AgentVersion = f.Arch, f.AgentVersion
}

// WriteBatch writes enrollments and reports in one transaction (group
// commit). It returns one result per input; an error means nothing was
// committed. Per-item problems (a host that no longer exists) are in the
// item's Err and do not fail the batch. On PostgreSQL a deadlock or
// serialization failure is retried.
func (s *Store) WriteBatch(ctx context.Context, enrolls []EnrollIn, reports []ReportIn) ([]EnrollOut, []ReportOut, error) {
	var eo []EnrollOut
	var ro []ReportOut
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		eo, ro, err = s.writeBatchOnce(ctx, enrolls, reports)
		if err == nil || !isRetryableConflict(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return eo, ro, err
}

func (s *Store) writeBatchOnce(ctx context.Context, enrolls []EnrollIn, reports []ReportIn) ([]EnrollOut, []ReportOut, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("begin write: %w", err)
	}
	defer tx.Rollback()
	now := time.Now()
	if len(reports) > 0 {
		now = reports[0].Received
	} else if len(enrolls) > 0 {
		now = enrolls[0].Now
	}
	bucket, err := s.closeHourTx(ctx, tx, now)
	if err != nil {
		return nil, nil, err
	}
	d := deltas{}
	eo := make([]EnrollOut, len(enrolls))
	for i := range enrolls {
		eo[i], err = s.enrollTx(ctx, tx, &enrolls[i], d)
		if err != nil {
			return nil, nil, err
		}
	}
	// From here on, PostgreSQL gets the batch's writes in one statement.
	dctx, def := s.withDeferred(ctx)
	ro, err := s.reportsTx(dctx, tx, reports, d)
	if err != nil {
		return nil, nil, err
	}
	if err := s.applyDeltas(dctx, tx, d); err != nil {
		return nil, nil, fmt.Errorf("update fleet aggregates: %w", err)
	}
	if err := s.flush(ctx, tx, def); err != nil {
		return nil, nil, fmt.Errorf("write reports: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("commit: %w", err)
	}
	s.prepareMissed(ctx)
	s.committed(bucket)
	return eo, ro, nil
}

func (s *Store) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// addressesTx records the IPs and MACs of hosts: one row per IP (mac ”)
// and one per MAC (ip ”), first_seen kept, last_seen bumped.
func (s *Store) addressesTx(ctx context.Context, tx *sql.Tx, facts map[int64]*api.HostFacts, now int64) error {
	var rows [][]any
	ids := make([]int64, 0, len(facts))
	for id := range facts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		f := facts[id]
		seen := map[[2]string]bool{}
		add := func(ip, mac string) {
			k := [2]string{ip, mac}
			if !seen[k] {
				seen[k] = true
				rows = append(rows, []any{id, ip, mac, now, now})
			}
		}
		for _, ip := range f.IPs {
			add(ip, "")
		}
		for _, mac := range f.MACs {
			add("", strings.ToLower(mac))
		}
	}
	if err := s.bulkExec(ctx, tx, "INSERT INTO host_addresses (host_id, ip, mac, first_seen, last_seen)", 5, rows,
		"ON CONFLICT (host_id, ip, mac) DO UPDATE SET last_seen = excluded.last_seen"); err != nil {
		return fmt.Errorf("record host addresses: %w", err)
	}
	return nil
}

func (s *Store) reportsTx(ctx context.Context, tx *sql.Tx, reports []ReportIn, d deltas) ([]ReportOut, error) {
	out := make([]ReportOut, len(reports))
	if len(reports) == 0 {
		return out, nil
	}
	// Load (and on PostgreSQL lock, in id order) the hosts, found by node
	// key in one statement: no read per request.
	hashes := make([]string, len(reports))
	var keyHashes []string
	var ids []int64
	for i, r := range reports {
		switch {
		case r.HostID != 0:
			ids = append(ids, r.HostID)
		case IsNodeKey(r.Report.NodeKey):
			hashes[i] = HashCredential(r.Report.NodeKey)
			keyHashes = append(keyHashes, hashes[i])
		}
	}
	old := map[int64]*hostRow{}
	byHash := map[string]int64{}
	load := func(col string, values any) error {
		cond, arg := s.inSet(col, values)
		rows, err := s.txQuery(ctx, tx, "SELECT "+hostCols+" FROM hosts WHERE "+cond+" ORDER BY id"+s.forUpdate(), arg)
		if err != nil {
			return fmt.Errorf("load hosts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			h := &hostRow{}
			if err := rows.Scan(h.scanDest()...); err != nil {
				return fmt.Errorf("load hosts: %w", err)
			}
			old[h.ID] = h
			byHash[h.NodeKeyHash] = h.ID
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load hosts: %w", err)
		}
		return nil
	}
	if len(keyHashes) > 0 {
		if err := load("node_key_hash", keyHashes); err != nil {
			return nil, err
		}
	}
	if len(ids) > 0 {
		if err := load("id", ids); err != nil {
			return nil, err
		}
	}
	if len(keyHashes) > 0 {
		reports = append([]ReportIn(nil), reports...)
		for i := range reports {
			if reports[i].HostID == 0 {
				reports[i].HostID = byHash[hashes[i]] // 0: unknown, ErrNotFound below
			}
		}
	}

	// Idempotency: insert the report ids; those already there are duplicates.
	type rk struct {
		host int64
		id   string
	}
	inBatch := map[rk]bool{}
	var rrows [][]any
	var candidates []int
	for i, r := range reports {
		if old[r.HostID] == nil {
			out[i].Err = ErrNotFound
			continue
		}
		k := rk{r.HostID, r.Report.ReportID}
		if inBatch[k] {
			out[i].Duplicate = true
			continue
		}
		inBatch[k] = true
		candidates = append(candidates, i)
		rrows = append(rrows, []any{r.HostID, r.Report.ReportID, r.Report.Kind, ms(r.Received)})
	}
	inserted := map[rk]bool{}
	if len(rrows) > 0 {
		src, args, err := s.source("itti", rrows)
		if err != nil {
			return nil, fmt.Errorf("record report ids: %w", err)
		}
		rows, err := s.txQuery(ctx, tx, "INSERT INTO reports (host_id, report_id, kind, received_at) SELECT c0, c1, c2, c3 FROM ("+src+
			") AS v WHERE true ON CONFLICT (host_id, report_id) DO NOTHING RETURNING host_id, report_id", args...)
		if err != nil {
			return nil, fmt.Errorf("record report ids: %w", err)
		}
		for rows.Next() {
			var k rk
			if err := rows.Scan(&k.host, &k.id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("record report ids: %w", err)
			}
			inserted[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("record report ids: %w", err)
		}
	}

	// Apply accepted reports in arrival order to the new host state.
	cur := map[int64]*hostRow{}
	full := map[int64]*api.ReportRequest{} // the last full report per host
	facts := map[int64]*api.HostFacts{}
	var evRows [][]any
	for _, i := range candidates {
		r := reports[i]
		if !inserted[rk{r.HostID, r.Report.ReportID}] {
			out[i].Duplicate = true
			continue
		}
		h := cur[r.HostID]
		if h == nil {
			c := *old[r.HostID]
			h = &c
			cur[r.HostID] = h
		}
		rep := r.Report
		now := ms(r.Received)
		h.RetiredAt = 0 // a retired host that reports is active again (lifecycle.go)
		h.LastSeen = max(h.LastSeen, now)
		h.PolicySerial = rep.PolicySerial
		if rep.Host != nil {
			h.setFacts(rep.Host)
			facts[r.HostID] = rep.Host
		}
		if rep.Kind == api.ReportFull {
			h.LastReportAt = now
			if rep.StateHash == "" || rep.StateHash != h.StateHash || h.Status == StatusPending {
				full[r.HostID] = rep
			}
			h.StateHash = rep.StateHash
			h.Status = HostStatus(rep.Stores, rep.UnknownRoots)
			h.StoresTotal = int64(len(rep.Stores))
			h.StoresCompliant = 0
			for _, st := range rep.Stores {
				if st.Status == stores.StatusCompliant {
					h.StoresCompliant++
				}
			}
			h.UnknownRoots, h.BlockedRoots = 0, 0
			for _, rt := range rep.UnknownRoots {
				if rt.Class == inventory.Blocked {
					h.BlockedRoots++
				} else {
					h.UnknownRoots++
				}
			}
		}
		for _, e := range rep.Events {
			t := e.Time
			if t.IsZero() {
				t = r.Received
			}
			evRows = append(evRows, []any{r.HostID, e.ID, ms(t), string(e.Type), e.StoreID, e.SHA256, e.Detail, now})
		}
	}
	// A heartbeat naming a state the collector does not hold (or sent
	// before any full report) asks the agent for a full report.
	for i, r := range reports {
		if r.Report.Kind != api.ReportHeartbeat || out[i].Err != nil {
			continue
		}
		h := cur[r.HostID]
		if h == nil {
			h = old[r.HostID]
		}
		out[i].NeedFull = h.Status == StatusPending || r.Report.StateHash != h.StateHash
	}

	// Replace stores, roots and CAs of hosts whose state changed.
	if len(full) > 0 {
		fids := make([]int64, 0, len(full))
		for id := range full {
			fids = append(fids, id)
		}
		sort.Slice(fids, func(i, j int) bool { return fids[i] < fids[j] })
		// Write only the stores, roots and CAs that changed; the counters
		// forget what was stored and count what was reported.
		prev, err := s.replaceDetailsTx(ctx, tx, fids, full)
		if err != nil {
			return nil, err
		}
		for _, id := range fids {
			if p := prev[id]; p != nil && old[id].RetiredAt == 0 {
				d.detail(p, -1)
			}
			rep := full[id]
			d.detail(&hostDetail{stores: rep.Stores, roots: rep.UnknownRoots, cas: rep.CAs}, +1)
		}
		if err := s.replaceFacets(ctx, tx, prev, full, fids); err != nil {
			return nil, err
		}
	}

	// Host rows: aggregate deltas; hosts of which only last_seen moved (the
	// heartbeats) in one UPDATE of that column, the others in one upsert.
	cids := make([]int64, 0, len(cur))
	for id := range cur {
		cids = append(cids, id)
	}
	sort.Slice(cids, func(i, j int) bool { return cids[i] < cids[j] })
	if err := s.reactivateTx(ctx, tx, old, cur, cids, full, d); err != nil {
		return nil, err
	}
	hRows := make([][]any, 0, len(cids))
	var seenRows [][]any
	for _, id := range cids {
		o, n := old[id], cur[id]
		if o.Status != n.Status || o.OS != n.OS || o.PolicySerial != n.PolicySerial || o.RetiredAt != n.RetiredAt {
			d.host(o, -1)
			d.host(n, +1)
		}
		c := *n
		c.LastSeen = o.LastSeen
		switch {
		case c != *o:
			hRows = append(hRows, n.values())
		case n.LastSeen != o.LastSeen:
			seenRows = append(seenRows, []any{id, n.LastSeen})
		}
	}
	if len(seenRows) > 0 {
		src, args, err := s.source("ii", seenRows)
		if err != nil {
			return nil, fmt.Errorf("update last seen: %w", err)
		}
		if _, err := s.txExec(ctx, tx, "UPDATE hosts SET last_seen = v.c1 FROM ("+src+") AS v WHERE hosts.id = v.c0", args...); err != nil {
			return nil, fmt.Errorf("update last seen: %w", err)
		}
	}
	if err := s.bulkExec(ctx, tx, "INSERT INTO hosts ("+hostCols+")", 20, hRows,
		`ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, machine_id = excluded.machine_id, os = excluded.os,
  os_version = excluded.os_version, arch = excluded.arch, agent_version = excluded.agent_version,
  last_seen = excluded.last_seen, last_report_at = excluded.last_report_at, policy_serial = excluded.policy_serial,
  status = excluded.status, state_hash = excluded.state_hash, stores_total = excluded.stores_total,
  stores_compliant = excluded.stores_compliant, unknown_roots = excluded.unknown_roots, blocked_roots = excluded.blocked_roots,
  retired_at = excluded.retired_at`); err != nil {
		return nil, err
	}
	if err := s.bulkExec(ctx, tx, "INSERT INTO events (host_id, event_id, time, type, store_id, sha256, detail, received_at)", 8, evRows,
		"ON CONFLICT (host_id, event_id) DO NOTHING"); err != nil {
		return nil, err
	}
	if len(facts) > 0 {
		var now int64
		for _, r := range reports {
			now = max(now, ms(r.Received))
		}
		if err := s.addressesTx(ctx, tx, facts, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dedupFirst keeps the first row for each value of column 0.
func dedupFirst(rows [][]any) [][]any {
	seen := map[any]bool{}
	out := rows[:0:0]
	for _, r := range rows {
		if !seen[r[0]] {
			seen[r[0]] = true
			out = append(out, r)
		}
	}
	return out
}
