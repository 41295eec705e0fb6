package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"

	"github.com/anchorwatch/anchorwatch/api"
)

// Dimensions of fleet_agg. Host-level dimensions count hosts by host
// status; "kind" counts stores by store status; "root" counts hosts
// holding a root by its class; "ca" counts hosts holding a CA.
const (
	DimHosts  = "hosts"
	DimOS     = "os"
	DimSerial = "serial"
	DimKind   = "kind"
	DimRoot   = "root"
	DimCA     = "ca"
)

type aggKey struct{ dim, key, status string }

// deltas accumulates changes to fleet_agg within one transaction.
type deltas map[aggKey]int64

// host adds (sign +1) or removes (sign -1) host h's contribution; a
// retired host has none.
func (d deltas) host(h *hostRow, sign int64) {
	if h.RetiredAt != 0 {
		return
	}
	d[aggKey{DimHosts, "", string(h.Status)}] += sign
	d[aggKey{DimOS, h.OS, string(h.Status)}] += sign
	d[aggKey{DimSerial, strconv.FormatInt(h.PolicySerial, 10), string(h.Status)}] += sign
}

// detail adds (sign +1) or removes (sign -1) the contributions of one
// host's stores, roots and CAs.
func (d deltas) detail(det *hostDetail, sign int64) {
	for _, s := range det.stores {
		d[aggKey{DimKind, string(s.Kind), string(s.Status)}] += sign
	}
	for _, r := range det.roots {
		d[aggKey{DimRoot, r.SHA256, string(r.Class)}] += sign
	}
	for _, c := range det.cas {
		d[aggKey{DimCA, c.SHA256, ""}] += sign
	}
}

// apply writes the non-zero deltas in key order (a fixed lock order, so
// two collectors on one PostgreSQL never deadlock on fleet_agg).
func (s *Store) applyDeltas(ctx context.Context, tx *sql.Tx, d deltas) error {
	keys := make([]aggKey, 0, len(d))
	for k, v := range d {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.dim != b.dim {
			return a.dim < b.dim
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.status < b.status
	})
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{k.dim, k.key, k.status, d[k]}
	}
	return s.bulkExec(ctx, tx, "INSERT INTO fleet_agg (dim, key, status, n)", 4, rows,
		"ON CONFLICT (dim, key, status) DO UPDATE SET n = fleet_agg.n + excluded.n")
}

// hostDetail is a host's stores, roots and CAs as stored.
type hostDetail struct {
	stores []api.StoreStatus
	roots  []api.Root
	cas    []api.CA
}

// AggRow is one fleet_agg row.
type AggRow struct {
	Dim, Key, Status string
	N                int64
}

// Aggregates returns the maintained fleet_agg rows with n > 0, ordered.
func (s *Store) Aggregates(ctx context.Context) ([]AggRow, error) {
	return s.readAgg(ctx, s.r, "SELECT dim, key, status, n FROM fleet_agg WHERE n <> 0 ORDER BY dim, key, status")
}

// RecountAggregates computes fleet_agg from the host tables, the slow way
// (active hosts only: retired hosts are not counted).
// Tests compare it with Aggregates; Rebuild uses it to repair counters.
func (s *Store) RecountAggregates(ctx context.Context) ([]AggRow, error) {
	return s.readAgg(ctx, s.r, `
SELECT 'hosts', '', status, COUNT(*) FROM hosts WHERE retired_at = 0 GROUP BY status
UNION ALL SELECT 'os', os, status, COUNT(*) FROM hosts WHERE retired_at = 0 GROUP BY os, status
UNION ALL SELECT 'serial', CAST(policy_serial AS TEXT), status, COUNT(*) FROM hosts WHERE retired_at = 0 GROUP BY policy_serial, status
UNION ALL SELECT 'kind', kind, status, COUNT(*) FROM host_stores WHERE host_id IN (SELECT id FROM hosts WHERE retired_at = 0) GROUP BY kind, status
UNION ALL SELECT 'root', sha256, class, COUNT(*) FROM host_roots WHERE host_id IN (SELECT id FROM hosts WHERE retired_at = 0) GROUP BY sha256, class
UNION ALL SELECT 'ca', sha256, '', COUNT(*) FROM host_cas WHERE host_id IN (SELECT id FROM hosts WHERE retired_at = 0) GROUP BY sha256
ORDER BY 1, 2, 3`)
}

// RebuildAggregates replaces fleet_agg with a recount, in one
// transaction. Run it after editing host tables by hand.
func (s *Store) RebuildAggregates(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rebuild aggregates: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE hosts, fleet_agg IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("rebuild aggregates: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM fleet_agg"); err != nil {
		return fmt.Errorf("rebuild aggregates: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO fleet_agg (dim, key, status, n)
SELECT 'hosts', '', status, COUNT(*) FROM hosts WHERE retired_at = 0 GROUP BY status
UNION ALL SELECT 'os', os, status, COUNT(*) FROM hosts WHERE retired_at = 0 GROUP BY os, status
UNION ALL SELECT 'serial', CAST(policy_serial AS TEXT), status, COUNT(*) FROM hosts WHERE retired_at = 0 GROUP BY policy_serial, status
UNION ALL SELECT 'kind', kind, status, COUNT(*) FROM host_stores WHERE host_id IN (SELECT id FROM hosts WHERE retired_at = 0) GROUP BY kind, status
UNION ALL SELECT 'root', sha256, class, COUNT(*) FROM host_roots WHERE host_id IN (SELECT id FROM hosts WHERE retired_at = 0) GROUP BY sha256, class
UNION ALL SELECT 'ca', sha256, '', COUNT(*) FROM host_cas WHERE host_id IN (SELECT id FROM hosts WHERE retired_at = 0) GROUP BY sha256`)
	if err != nil {
		return fmt.Errorf("rebuild aggregates: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rebuild aggregates: commit: %w", err)
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) readAgg(ctx context.Context, db querier, query string, args ...any) ([]AggRow, error) {
	rows, err := db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read fleet aggregates: %w", err)
	}
	defer rows.Close()
	var out []AggRow
	for rows.Next() {
		var r AggRow
		if err := rows.Scan(&r.Dim, &r.Key, &r.Status, &r.N); err != nil {
			return nil, fmt.Errorf("read fleet aggregates: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
