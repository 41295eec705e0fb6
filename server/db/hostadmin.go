package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// RevokeNodeKey makes a host's node key invalid at once (the agent gets
// node_invalid and enrolls again, proving its host key). The host and its
// history stay.
func (s *Store) RevokeNodeKey(ctx context.Context, id int64) error {
	return s.adminTx(ctx, "revoke node key", func(tx *sql.Tx, d deltas) error {
		if _, err := s.lockHost(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("UPDATE hosts SET node_key_hash = ? WHERE id = ?"), unusableKeyHash(), id); err != nil {
			return err
		}
		return s.collectorEvents(ctx, tx, ms(time.Now()), hostEvent{id, api.EventNodeKeyRevoked,
			"an administrator revoked this host's node key; the agent enrolls again with its host key"})
	})
}

// DeleteHost removes a host (a clone, an impostor) with its stores,
// roots, CAs, addresses, report ids and events; its node key stops
// working. The fleet counters follow. (RetireHost keeps the history.)
func (s *Store) DeleteHost(ctx context.Context, id int64) error {
	return s.adminTx(ctx, "delete host", func(tx *sql.Tx, d deltas) error {
		h, err := s.lockHost(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.deleteHostTx(ctx, tx, h, d)
	})
}

// MergeHost merges a flagged host into the host it conflicts with (a
// re-imaged machine: same machine id, new host key): that host takes the
// flagged host's node key, host key and facts, and its events; the
// flagged host is removed. The host keeps its id and history; an agent
// still holding its old node key must enroll again (and, without the new
// host key, is flagged in turn). It returns the id merged into.
func (s *Store) MergeHost(ctx context.Context, flaggedID int64) (int64, error) {
	var into int64
	err := s.adminTx(ctx, "merge host", func(tx *sql.Tx, d deltas) error {
		f, err := s.lockHost(ctx, tx, flaggedID)
		if err != nil {
			return err
		}
		var conflictOf int64
		var hostKey string
		if err := tx.QueryRowContext(ctx, s.q("SELECT conflict_of, host_key FROM hosts WHERE id = ?"), flaggedID).Scan(&conflictOf, &hostKey); err != nil {
			return err
		}
		if conflictOf == 0 {
			return fmt.Errorf("host %d: %w", flaggedID, ErrNotFlagged)
		}
		t, err := s.lockHost(ctx, tx, conflictOf)
		if errors.Is(err, ErrNotFound) {
			// The host it claimed is gone: the flag has nothing to point at.
			into = flaggedID
			_, err := tx.ExecContext(ctx, s.q("UPDATE hosts SET conflict_of = 0, conflict = '' WHERE id = ?"), flaggedID)
			return err
		}
		if err != nil {
			return err
		}
		into = t.ID
		return s.mergeTx(ctx, tx, f, t, hostKey, d)
	})
	return into, err
}

// mergeTx moves flagged host f's credentials, facts and events onto t and
// deletes f.
func (s *Store) mergeTx(ctx context.Context, tx *sql.Tx, f, t *hostRow, hostKey string, d deltas) error {
	nodeKey := f.NodeKeyHash
	if _, err := tx.ExecContext(ctx, s.q("UPDATE hosts SET node_key_hash = ? WHERE id = ?"), unusableKeyHash(), f.ID); err != nil {
		return err
	}
	n := *t
	n.Hostname, n.OS, n.OSVersion, n.Arch, n.AgentVersion = f.Hostname, f.OS, f.OSVersion, f.Arch, f.AgentVersion
	n.LastSeen = max(t.LastSeen, f.LastSeen)
	// An empty state hash makes the agent's next heartbeat ask for a full report.
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET node_key_hash = ?, host_key = ?, hostname = ?, os = ?, os_version = ?, arch = ?,
  agent_version = ?, last_seen = ?, state_hash = '' WHERE id = ?`),
		nodeKey, hostKey, n.Hostname, n.OS, n.OSVersion, n.Arch, n.AgentVersion, n.LastSeen, t.ID); err != nil {
		return err
	}
	d.host(t, -1)
	d.host(&n, +1)
	if _, err := tx.ExecContext(ctx, s.q("UPDATE events SET host_id = ? WHERE host_id = ?"), t.ID, f.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO host_addresses (host_id, ip, mac, first_seen, last_seen)
SELECT ?, ip, mac, first_seen, last_seen FROM host_addresses WHERE host_id = ?
ON CONFLICT (host_id, ip, mac) DO UPDATE SET last_seen = excluded.last_seen`), t.ID, f.ID); err != nil {
		return err
	}
	if err := s.deleteHostTx(ctx, tx, f, d); err != nil {
		return err
	}
	return s.collectorEvents(ctx, tx, ms(time.Now()), hostEvent{t.ID, api.EventHostMerged, fmt.Sprintf(
		"an administrator merged flagged host %d (%s) into this host: it now holds that host's key and node key", f.ID, f.Hostname)})
}

// deleteHostTx deletes host h and everything stored about it.
func (s *Store) deleteHostTx(ctx context.Context, tx *sql.Tx, h *hostRow, d deltas) error {
	prev, err := s.loadDetails(ctx, tx, []int64{h.ID})
	if err != nil {
		return err
	}
	if p := prev[h.ID]; p != nil && h.RetiredAt == 0 {
		d.detail(p, -1)
	}
	d.host(h, -1)
	for _, table := range []string{"host_stores", "host_roots", "host_cas", "host_facets", "host_addresses", "reports", "events", "hosts"} {
		col := "host_id"
		if table == "hosts" {
			col = "id"
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+table+" WHERE "+col+" = ?"), h.ID); err != nil {
			return fmt.Errorf("delete host %d from %s: %w", h.ID, table, err)
		}
	}
	return nil
}

// lockHost reads (on PostgreSQL: locks) host id; ErrNotFound if absent.
func (s *Store) lockHost(ctx context.Context, tx *sql.Tx, id int64) (*hostRow, error) {
	var h hostRow
	err := tx.QueryRowContext(ctx, s.q("SELECT "+hostCols+" FROM hosts WHERE id = ?"+s.forUpdate()), id).Scan(h.scanDest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("host %d: %w", id, ErrNotFound)
	}
	return &h, err
}

// adminTx runs fn in a write transaction and applies its fleet counter
// deltas before committing.
func (s *Store) adminTx(ctx context.Context, what string, fn func(*sql.Tx, deltas) error) error {
	return s.adminTxAt(ctx, what, time.Now(), fn)
}

// adminTxAt is adminTx at time now: the hour's snapshot is recorded first
// (closeHourTx), before fn changes the counters.
func (s *Store) adminTxAt(ctx context.Context, what string, now time.Time, fn func(*sql.Tx, deltas) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	bucket, err := s.closeHourTx(ctx, tx, now)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	d := deltas{}
	if err := fn(tx, d); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := s.applyDeltas(ctx, tx, d); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	s.committed(bucket)
	return nil
}

// unusableKeyHash is a node key hash no key has: what a revoked host
// holds (the column is unique and required).
func unusableKeyHash() string { return "revoked:" + HashCredential(NewCredential("")) }
