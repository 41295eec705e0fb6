package devices

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// DB is an evidence.Store.
var _ evidence.Store = (*DB)(nil)

// rowsPerInsert bounds one multi-row INSERT (10 parameters a row).
const rowsPerInsert = 500

// LoadCheckpoint implements evidence.Store.
func (d *DB) LoadCheckpoint(ctx context.Context, key string) (evidence.Checkpoint, bool, error) {
	cp := evidence.Checkpoint{Key: key}
	err := d.db.QueryRowContext(ctx, d.q("SELECT format, path, byte_offset, prefix_len, prefix_hash FROM evidence_checkpoints WHERE key = ?"), key).
		Scan(&cp.Format, &cp.Path, &cp.Offset, &cp.PrefixLen, &cp.PrefixHash)
	if errors.Is(err, sql.ErrNoRows) {
		return evidence.Checkpoint{}, false, nil
	}
	if err != nil {
		return evidence.Checkpoint{}, false, fmt.Errorf("devices: load checkpoint %s: %w", key, err)
	}
	return cp, true, nil
}

// Commit implements evidence.Store: the observations and the checkpoint
// are written in one transaction. A repeated sighting widens the stored
// interval and adds to the count; observations are kept per source,
// identity, evidence and UTC day.
func (d *DB) Commit(ctx context.Context, obs []evidence.Observation, cp evidence.Checkpoint) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("devices: commit observations: %w", err)
	}
	defer tx.Rollback()
	if err := d.insertObservations(ctx, tx, obs); err != nil {
		return err
	}
	if cp.Key != "" {
		if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO evidence_checkpoints (key, format, path, byte_offset, prefix_len, prefix_hash, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET format = excluded.format, path = excluded.path,
byte_offset = excluded.byte_offset, prefix_len = excluded.prefix_len, prefix_hash = excluded.prefix_hash, updated_at = excluded.updated_at`),
			cp.Key, cp.Format, cp.Path, cp.Offset, cp.PrefixLen, cp.PrefixHash, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("devices: save checkpoint %s: %w", cp.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("devices: commit observations: %w", err)
	}
	return nil
}

// AddObservations stores observations without a checkpoint: for evidence
// posted over the API, where the sender owns retries (re-sending the same
// observations widens nothing and only adds to the counts).
func (d *DB) AddObservations(ctx context.Context, obs []evidence.Observation) error {
	return d.Commit(ctx, obs, evidence.Checkpoint{})
}

// AddBatch stores observations posted over the API under the sender's
// batch id, exactly once: a batch id already stored (a retry after a lost
// answer) changes nothing and reports duplicate. The id is kept for
// retention (see PruneBatches).
func (d *DB) AddBatch(ctx context.Context, batchID string, obs []evidence.Observation) (duplicate bool, err error) {
	if batchID == "" {
		return false, errors.New("devices: a batch id is required")
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("devices: store observation batch: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, d.q("INSERT INTO observation_batches (batch_id, n, received_at) VALUES (?, ?, ?) ON CONFLICT (batch_id) DO NOTHING"),
		batchID, len(obs), time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("devices: store observation batch %q: %w", batchID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("devices: store observation batch %q: %w", batchID, err)
	} else if n == 0 {
		return true, nil
	}
	if err := d.insertObservations(ctx, tx, obs); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("devices: store observation batch %q: commit: %w", batchID, err)
	}
	return false, nil
}

// PruneBatches forgets the ids of batches received before cutoff; a
// batch re-sent after that would be stored again.
func (d *DB) PruneBatches(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.q("DELETE FROM observation_batches WHERE received_at < ?"), cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("devices: prune observation batch ids: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (d *DB) insertObservations(ctx context.Context, tx *sql.Tx, obs []evidence.Observation) error {
	const day = int64(24 * time.Hour / time.Millisecond)
	suffix := fmt.Sprintf(` ON CONFLICT (source, ip, mac, hostname, evidence, day) DO UPDATE SET
first_seen = %[1]s(net_observations.first_seen, excluded.first_seen),
last_seen = %[2]s(net_observations.last_seen, excluded.last_seen),
n = net_observations.n + excluded.n,
lease_end = %[2]s(net_observations.lease_end, excluded.lease_end)`, d.min(), d.max())
	// Two observations with the same key in one statement would make
	// PostgreSQL refuse the upsert: merge them first.
	type key struct {
		source, ip, mac, host, ev string
		day                       int64
	}
	idx := make(map[key]int, len(obs))
	rows := make([][10]any, 0, len(obs))
	for _, o := range obs {
		if !o.IP.IsValid() && o.MAC == "" && o.Hostname == "" {
			continue
		}
		ip := ""
		if o.IP.IsValid() {
			ip = o.IP.String()
		}
		first, last := ms(o.Time), ms(o.Last)
		if last < first {
			last = first
		}
		n := o.Count
		if n < 1 {
			n = 1
		}
		k := key{o.Source, ip, strings.ToLower(o.MAC), strings.ToLower(o.Hostname), o.Evidence, first / day * day}
		if i, ok := idx[k]; ok {
			r := &rows[i]
			r[6] = min(r[6].(int64), first)
			r[7] = max(r[7].(int64), last)
			r[8] = r[8].(int64) + n
			r[9] = max(r[9].(int64), ms(o.LeaseEnd))
			continue
		}
		idx[k] = len(rows)
		rows = append(rows, [10]any{k.source, k.ip, k.mac, k.host, k.ev, k.day, first, last, n, ms(o.LeaseEnd)})
	}
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		var b strings.Builder
		b.WriteString("INSERT INTO net_observations (source, ip, mac, hostname, evidence, day, first_seen, last_seen, n, lease_end) VALUES ")
		args := make([]any, 0, n*10)
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
			args = append(args, r[:]...)
		}
		b.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, d.q(b.String()), args...); err != nil {
			return fmt.Errorf("devices: store observations: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}
