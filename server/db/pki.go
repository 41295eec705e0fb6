package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/pki"
)

// pkiSQL creates the PKI health tables: the collector's last check of
// each CA of the policy (the report as JSON, a few columns to query), and
// each host's last reachability probe of each CDP and OCSP responder.
const pkiSQL = `
CREATE TABLE pki_checks (
  ca_sha256 TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  checked_at BIGINT NOT NULL,
  worst TEXT NOT NULL,
  report TEXT NOT NULL
);
CREATE TABLE host_reach (
  host_id BIGINT NOT NULL,
  kind TEXT NOT NULL,
  url TEXT NOT NULL,
  ca_sha256 TEXT NOT NULL,
  ok INTEGER NOT NULL,
  detail TEXT NOT NULL,
  millis BIGINT NOT NULL,
  checked_at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (host_id, kind, url)
);
CREATE INDEX host_reach_received ON host_reach (received_at)`

// PutPKIChecks stores the reports of one probe round, in one
// transaction, and forgets the CAs that are no longer checked (a policy
// that dropped them).
func (s *Store) PutPKIChecks(ctx context.Context, reports []pki.Report) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: PKI checks: %w", err)
	}
	defer tx.Rollback()
	keep := make([]string, 0, len(reports))
	for _, r := range reports {
		js, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("store: PKI checks: %w", err)
		}
		keep = append(keep, r.CA.SHA256)
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO pki_checks (ca_sha256, subject, checked_at, worst, report) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (ca_sha256) DO UPDATE SET subject = excluded.subject, checked_at = excluded.checked_at, worst = excluded.worst, report = excluded.report`),
			r.CA.SHA256, r.CA.Subject, ms(r.CheckedAt), string(r.Worst()), string(js)); err != nil {
			return fmt.Errorf("store: PKI checks: %w", err)
		}
	}
	if err := s.deleteOthers(ctx, tx, "pki_checks", "ca_sha256", keep); err != nil {
		return err
	}
	return tx.Commit()
}

// deleteOthers deletes the rows of table whose col is not in keep.
func (s *Store) deleteOthers(ctx context.Context, tx *sql.Tx, table, col string, keep []string) error {
	cond, arg := s.inSet(col, keep)
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+table+" WHERE NOT ("+cond+")"), arg); err != nil {
		return fmt.Errorf("store: prune %s: %w", table, err)
	}
	return nil
}

// PKIChecks returns the stored reports, soonest-expiring CA first.
func (s *Store) PKIChecks(ctx context.Context) ([]pki.Report, error) {
	var out []pki.Report
	err := s.each(ctx, "SELECT report FROM pki_checks ORDER BY ca_sha256", nil, func(rows *sql.Rows) error {
		var js string
		if err := rows.Scan(&js); err != nil {
			return err
		}
		var r pki.Report
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			return fmt.Errorf("stored PKI check: %w", err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: PKI checks: %w", err)
	}
	sortReports(out)
	return out, nil
}

func sortReports(rs []pki.Report) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].CA.NotAfter.Before(rs[j-1].CA.NotAfter); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// ReachIn is one host's reachability report.
type ReachIn struct {
	HostID   int64
	Results  []pki.Reach
	Received time.Time
}

// PutReach replaces the reachability rows of each host in batch, in one
// transaction.
func (s *Store) PutReach(ctx context.Context, batch []ReachIn) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: reachability: %w", err)
	}
	defer tx.Rollback()
	var rows [][]any
	ids := make([]int64, 0, len(batch))
	for _, in := range batch {
		ids = append(ids, in.HostID)
		for _, r := range in.Results {
			ok := int64(0)
			if r.OK {
				ok = 1
			}
			rows = append(rows, []any{in.HostID, r.Kind, r.URL, r.CA, ok, r.Detail, r.Millis, ms(r.CheckedAt), ms(in.Received)})
		}
	}
	cond, arg := s.inSet("host_id", ids)
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM host_reach WHERE "+cond), arg); err != nil {
		return fmt.Errorf("store: reachability: %w", err)
	}
	if err := s.bulkExec(ctx, tx, "INSERT INTO host_reach (host_id, kind, url, ca_sha256, ok, detail, millis, checked_at, received_at)", rows,
		"ON CONFLICT (host_id, kind, url) DO NOTHING"); err != nil {
		return fmt.Errorf("store: reachability: %w", err)
	}
	return tx.Commit()
}

// ReachRow is one host's probe of one endpoint, with one of the host's
// IP addresses ("" when it reported none).
type ReachRow struct {
	HostID    int64
	Kind, URL string
	CA        string
	OK        bool
	Detail    string
	CheckedAt time.Time
	IP        string
}

// EachReach calls fn for every probe received since since, once per
// address of the host.
func (s *Store) EachReach(ctx context.Context, since time.Time, fn func(ReachRow) error) error {
	q := `SELECT r.host_id, r.kind, r.url, r.ca_sha256, r.ok, r.detail, r.checked_at, COALESCE(a.ip, '')
FROM host_reach r LEFT JOIN host_addresses a ON a.host_id = r.host_id AND a.ip <> ''
WHERE r.received_at >= ? ORDER BY r.kind, r.url, r.host_id`
	return s.each(ctx, q, []any{ms(since)}, func(rows *sql.Rows) error {
		var r ReachRow
		var ok int
		var at int64
		if err := rows.Scan(&r.HostID, &r.Kind, &r.URL, &r.CA, &ok, &r.Detail, &at, &r.IP); err != nil {
			return err
		}
		r.OK, r.CheckedAt = ok == 1, fromMS(at)
		return fn(r)
	})
}
