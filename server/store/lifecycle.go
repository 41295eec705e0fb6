package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// Fleet lifecycle. A host is active, then — not seen for a while — stale
// (computed from last_seen, never stored), then retired: by an
// administrator (a decommissioned machine) or automatically after a longer
// silence (RetireStale). A retired host keeps its record, stores and
// events, but leaves the fleet counters (fleet_agg: the summary, the trend,
// the metrics) and the host lists unless asked for; the host reports
// again and it is active again. DeleteHost removes a host and its
// history for good.

// lifecycleSQL adds hosts.retired_at (0: active), an index that counts
// active hosts by last_seen (offline, stale, RetireStale) and retired
// hosts (it replaces the index on last_seen alone: every heartbeat
// updates last_seen, so one index on it is cheaper than two), an index for the event retention (by the collector's receive
// time, not the agent's clock), and retired_at in v_hosts (on PostgreSQL
// replaced in place, so views built on it survive).
func lifecycleSQL(d Dialect) string {
	view := "DROP VIEW v_hosts;\nCREATE VIEW v_hosts AS"
	if d == Postgres {
		view = "CREATE OR REPLACE VIEW v_hosts AS"
	}
	return `
ALTER TABLE hosts ADD COLUMN retired_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX hosts_retired_seen ON hosts (retired_at, last_seen);
DROP INDEX hosts_last_seen;
CREATE INDEX events_received_at ON events (received_at);
` + view + `
SELECT id AS host_id, hostname, machine_id, os, os_version, arch, agent_version, status,
  policy_serial, stores_total, stores_compliant, unknown_roots, blocked_roots,
  ` + tsExpr(d, "enrolled_at") + ` AS enrolled_at, ` + tsExpr(d, "last_seen") + ` AS last_seen,
  ` + tsExpr(d, "last_report_at") + ` AS last_report_at, ` + tsExpr(d, "retired_at") + ` AS retired_at
FROM hosts`
}

// ErrRetired is returned when retiring a host that is retired already.
var ErrRetired = errors.New("host is retired already")

// RetireHost retires host id now (an administrator's decision; detail
// says why, for its event). ErrNotFound if there is no such host,
// ErrRetired if it is retired already.
func (s *Store) RetireHost(ctx context.Context, id int64, detail string) error {
	return s.adminTx(ctx, "retire host", func(tx *sql.Tx, d deltas) error {
		h, err := s.lockHost(ctx, tx, id)
		if err != nil {
			return err
		}
		if h.RetiredAt != 0 {
			return fmt.Errorf("host %d: %w", id, ErrRetired)
		}
		return s.retireTx(ctx, tx, []*hostRow{h}, time.Now(), detail, d)
	})
}

// RetireStale retires at most limit active hosts last seen before
// before, oldest first, in one transaction, and returns how many: the
// collector calls it in a loop of small batches.
func (s *Store) RetireStale(ctx context.Context, before time.Time, limit int, detail string) (int, error) {
	var n int
	err := s.adminTx(ctx, "retire stale hosts", func(tx *sql.Tx, d deltas) error {
		rows, err := tx.QueryContext(ctx, s.q("SELECT "+hostCols+" FROM hosts WHERE retired_at = 0 AND last_seen < ? ORDER BY last_seen, id LIMIT ?"+
			s.forUpdate()), ms(before), limit)
		if err != nil {
			return err
		}
		var hs []*hostRow
		for rows.Next() {
			h := &hostRow{}
			if err := rows.Scan(h.scanDest()...); err != nil {
				rows.Close()
				return err
			}
			hs = append(hs, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n = len(hs)
		return s.retireTx(ctx, tx, hs, time.Now(), detail, d)
	})
	return n, err
}

// retireTx marks hosts retired and takes them (and their stores, roots
// and CAs) out of the fleet counters.
func (s *Store) retireTx(ctx context.Context, tx *sql.Tx, hs []*hostRow, now time.Time, detail string, d deltas) error {
	if len(hs) == 0 {
		return nil
	}
	ids := make([]int64, len(hs))
	evs := make([]hostEvent, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
		evs[i] = hostEvent{h.ID, api.EventHostRetired, detail}
		d.host(h, -1)
	}
	det, err := s.loadDetails(ctx, tx, ids)
	if err != nil {
		return err
	}
	for _, p := range det {
		d.detail(p, -1)
	}
	in, arg := s.inSet("id", ids)
	if _, err := tx.ExecContext(ctx, s.q("UPDATE hosts SET retired_at = ? WHERE "+in), ms(now), arg); err != nil {
		return fmt.Errorf("mark hosts retired: %w", err)
	}
	return s.collectorEvents(ctx, tx, ms(now), evs...)
}

// reactivateTx counts again the hosts of a report batch that were retired
// and reported (cur has RetiredAt 0, old had it set): their stored stores,
// roots and CAs come back into the fleet counters, unless a full report
// in the batch replaces them (reportsTx counts those), and each gets a
// host-reactivated event.
func (s *Store) reactivateTx(ctx context.Context, tx *sql.Tx, old, cur map[int64]*hostRow, ids []int64,
	full map[int64]*api.ReportRequest, d deltas) error {
	var back []int64
	var evs []hostEvent
	var now int64
	for _, id := range ids {
		if old[id].RetiredAt == 0 || cur[id].RetiredAt != 0 {
			continue
		}
		now = max(now, cur[id].LastSeen)
		evs = append(evs, hostEvent{id, api.EventHostReactivated, fmt.Sprintf(
			"the host reported again after it was retired at %s", fromMS(old[id].RetiredAt).Format(time.RFC3339))})
		if full[id] == nil {
			back = append(back, id)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	if len(back) > 0 {
		det, err := s.loadDetails(ctx, tx, back)
		if err != nil {
			return err
		}
		for _, p := range det {
			d.detail(p, +1)
		}
	}
	return s.collectorEvents(ctx, tx, now, evs...)
}

// Retention: what PruneBatch may delete. Each is a table, the column its
// age is read from (an indexed one), and what the rows are.
var retentionTables = map[string]struct{ table, col string }{
	"events":    {"events", "received_at"},
	"snapshots": {"compliance_snapshots", "bucket"},
	"reports":   {"reports", "received_at"},
}

// PruneBatch deletes at most limit rows of what ("events", "snapshots" or
// "reports": report ids, the idempotency window) older than before, in
// one short transaction, and returns how many. Call it in a loop with a
// pause between calls (the collector does, off the ingest writer), so
// that pruning a large history never holds the database for long.
func (s *Store) PruneBatch(ctx context.Context, what string, before time.Time, limit int) (int64, error) {
	t, ok := retentionTables[what]
	if !ok {
		return 0, fmt.Errorf("prune: unknown history %q", what)
	}
	query := "DELETE FROM " + t.table + " WHERE rowid IN (SELECT rowid FROM " + t.table + " WHERE " + t.col + " < ? LIMIT ?)"
	if s.dialect == Postgres {
		query = "DELETE FROM " + t.table + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + t.table + " WHERE " + t.col + " < ? LIMIT ?))"
	}
	res, err := s.w.ExecContext(ctx, s.q(query), ms(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", what, err)
	}
	if n > 0 {
		s.touch()
	}
	return n, nil
}

// closeHourTx records the fleet counters as they stand — before the
// transaction changes them — as the snapshot of the hour that began at
// the last full hour of now: the fleet at the end of the previous hour.
// Every transaction that changes fleet_agg calls it first, so the first
// change of each hour records the hour's starting point exactly, and a
// snapshot is never taken twice (ON CONFLICT DO NOTHING, also across
// collectors). It returns the bucket, to be remembered after the commit.
func (s *Store) closeHourTx(ctx context.Context, tx *sql.Tx, now time.Time) (int64, error) {
	bucket := now.Truncate(time.Hour).UnixMilli()
	if s.lastBucket.Load() == bucket {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO compliance_snapshots (bucket, dim, key, status, n)
SELECT ?, dim, key, status, n FROM fleet_agg WHERE n > 0 AND dim IN ('hosts', 'os', 'kind', 'serial')
ON CONFLICT (bucket, dim, key, status) DO NOTHING`), bucket); err != nil {
		return 0, fmt.Errorf("record compliance snapshot: %w", err)
	}
	return bucket, nil
}

// SnapshotHour records the snapshot of the current hour if no
// transaction did yet (an hour in which nothing changed): the collector
// calls it now and then, so the trend has a point for every hour.
func (s *Store) SnapshotHour(ctx context.Context, now time.Time) error {
	if s.lastBucket.Load() == now.Truncate(time.Hour).UnixMilli() {
		return nil
	}
	return s.adminTxAt(ctx, "record compliance snapshot", now, func(*sql.Tx, deltas) error { return nil })
}
