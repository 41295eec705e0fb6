package store

import (
	"context"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
)

// ImportHost is one enrolled host with its last full report, written
// directly by ImportHosts.
type ImportHost struct {
	NodeKey      string // stored as its hash
	SecretName   string
	Facts        api.HostFacts
	EnrolledAt   time.Time
	LastSeen     time.Time // also the time of the full report
	PolicySerial int64
	StateHash    string
	Stores       []api.StoreStatus
	CAs          []api.CA
}

// ImportHosts adds hosts in one transaction with a few multi-row
// statements per table (no report ids, no events), keeping the fleet
// aggregates and host indexes exact. It fills large fleets for benchmarks
// and demos far faster than enrolling and reporting each host; node keys
// must be new.
func (s *Store) ImportHosts(ctx context.Context, hosts []ImportHost) error {
	if len(hosts) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import hosts: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE hosts IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("import hosts: %w", err)
		}
	}
	bucket, err := s.closeHourTx(ctx, tx, time.Now())
	if err != nil {
		return fmt.Errorf("import hosts: %w", err)
	}
	var next int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1 FROM hosts").Scan(&next); err != nil {
		return fmt.Errorf("import hosts: %w", err)
	}
	d := deltas{}
	var hRows, stRows, caRows, ciRows, adRows, fRows [][]any
	for i := range hosts {
		in := &hosts[i]
		h := hostRow{ID: next + int64(i), NodeKeyHash: HashCredential(in.NodeKey), EnrollSecret: in.SecretName,
			EnrolledAt: ms(in.EnrolledAt), LastSeen: ms(in.LastSeen), LastReportAt: ms(in.LastSeen),
			PolicySerial: in.PolicySerial, StateHash: in.StateHash, Status: HostStatus(in.Stores, nil),
			StoresTotal: int64(len(in.Stores))}
		h.setFacts(&in.Facts)
		for _, st := range in.Stores {
			if st.Status == stores.StatusCompliant {
				h.StoresCompliant++
			}
			stRows = append(stRows, []any{h.ID, st.ID, string(st.Kind), st.Path, st.Format, st.Owner, string(st.Status), st.Detail})
		}
		for _, f := range sortedKeys(facetsOf(in.Stores)) {
			fRows = append(fRows, []any{f, h.ID})
		}
		for _, ca := range in.CAs {
			caRows = append(caRows, []any{h.ID, ca.SHA256, ca.Subject, ms(ca.NotAfter)})
			ciRows = append(ciRows, []any{ca.SHA256, ca.Subject, ms(ca.NotAfter)})
		}
		for _, ip := range in.Facts.IPs {
			adRows = append(adRows, []any{h.ID, ip, "", h.EnrolledAt, h.LastSeen})
		}
		for _, mac := range in.Facts.MACs {
			adRows = append(adRows, []any{h.ID, "", mac, h.EnrolledAt, h.LastSeen})
		}
		hRows = append(hRows, h.values())
		d.host(&h, +1)
		d.detail(&hostDetail{stores: in.Stores, cas: in.CAs}, +1)
	}
	for _, t := range []struct {
		prefix string
		rows   [][]any
		suffix string
	}{
		{"INSERT INTO hosts (" + hostCols + ")", hRows, ""},
		{"INSERT INTO host_stores (host_id, store_id, kind, path, format, owner, status, detail)", stRows, "ON CONFLICT (host_id, store_id) DO NOTHING"},
		{"INSERT INTO host_facets (facet, host_id)", fRows, ""},
		{"INSERT INTO host_cas (host_id, sha256, subject, not_after)", caRows, "ON CONFLICT (host_id, sha256) DO NOTHING"},
		{"INSERT INTO ca_info (sha256, subject, not_after)", dedupFirst(ciRows), "ON CONFLICT (sha256) DO NOTHING"},
		{"INSERT INTO host_addresses (host_id, ip, mac, first_seen, last_seen)", adRows, "ON CONFLICT (host_id, ip, mac) DO NOTHING"},
	} {
		for start := 0; start < len(t.rows); start += 10000 {
			part := t.rows[start:min(start+10000, len(t.rows))]
			if err := s.bulkExec(ctx, tx, t.prefix, len(part[0]), part, t.suffix); err != nil {
				return fmt.Errorf("import hosts: %w", err)
			}
		}
	}
	if err := s.applyDeltas(ctx, tx, d); err != nil {
		return fmt.Errorf("import hosts: %w", err)
	}
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('hosts', 'id'), (SELECT MAX(id) FROM hosts))"); err != nil {
			return fmt.Errorf("import hosts: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import hosts: commit: %w", err)
	}
	s.committed(bucket)
	return nil
}
