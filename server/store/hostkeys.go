package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// ErrProofReplayed is the item error of an enrollment whose proof nonce
// was used before.
var ErrProofReplayed = errors.New("enroll proof already used (a replayed request)")

// ErrNotFlagged is returned by MergeHost for a host that is not flagged.
var ErrNotFlagged = errors.New("host is not flagged as a conflict")

// maxSameMachine bounds the hosts one machine id is matched against.
const maxSameMachine = 100

// sameMachine is a host enrolled with the machine id being enrolled.
type sameMachine struct {
	row        hostRow
	hostKey    string
	conflictOf int64
	conflict   string
}

// enrollTx writes one enrollment. A machine id seen before keeps its
// host (new node key) only when the enrollment proves to be that host:
// the same host key, or the host's current node key. Otherwise the
// enrollment makes a new host, flagged as a conflict of the first one,
// and the existing host is left untouched: its node key stays valid.
func (s *Store) enrollTx(ctx context.Context, tx *sql.Tx, e *EnrollIn, d deltas) (EnrollOut, error) {
	now := ms(e.Now)
	if e.Nonce != "" {
		fresh, err := s.useNonce(ctx, tx, e.Nonce, e.NonceExpires)
		if err != nil {
			return EnrollOut{}, err
		}
		if !fresh {
			return EnrollOut{Err: ErrProofReplayed}, nil
		}
	}
	same, err := s.hostsByMachineID(ctx, tx, e.Facts.MachineID)
	if err != nil {
		return EnrollOut{}, err
	}
	var out EnrollOut
	if m := provenHost(same, e); m != nil {
		if out, err = s.reenrollTx(ctx, tx, m, e, d); err != nil {
			return EnrollOut{}, err
		}
	} else if out, err = s.newHostTx(ctx, tx, same, e, d); err != nil {
		return EnrollOut{}, err
	}
	if err := s.addressesTx(ctx, tx, map[int64]*api.HostFacts{out.HostID: &e.Facts}, now); err != nil {
		return EnrollOut{}, err
	}
	return out, nil
}

// provenHost returns the host of same the enrollment proves to be: the
// one bound to its host key, else the one holding its current node key.
func provenHost(same []sameMachine, e *EnrollIn) *sameMachine {
	if e.HostKey != "" {
		for i := range same {
			if same[i].hostKey != "" && sameHash(same[i].hostKey, e.HostKey) {
				return &same[i]
			}
		}
	}
	if e.CurrentNodeKey != "" && IsNodeKey(e.CurrentNodeKey) {
		h := HashCredential(e.CurrentNodeKey)
		for i := range same {
			if sameHash(same[i].row.NodeKeyHash, h) {
				return &same[i]
			}
		}
	}
	return nil
}

func (s *Store) hostsByMachineID(ctx context.Context, tx *sql.Tx, machineID string) ([]sameMachine, error) {
	if machineID == "" {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, s.q("SELECT "+hostCols+", host_key, conflict_of, conflict FROM hosts WHERE machine_id = ? ORDER BY id LIMIT "+
		fmt.Sprint(maxSameMachine)+s.forUpdate()), machineID)
	if err != nil {
		return nil, fmt.Errorf("enroll: find hosts by machine id: %w", err)
	}
	defer rows.Close()
	var out []sameMachine
	for rows.Next() {
		var m sameMachine
		if err := rows.Scan(append(m.row.scanDest(), &m.hostKey, &m.conflictOf, &m.conflict)...); err != nil {
			return nil, fmt.Errorf("enroll: find hosts by machine id: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// reenrollTx gives host m a new node key (and the enrollment's host key,
// binding a host enrolled before host keys) and the new facts.
func (s *Store) reenrollTx(ctx context.Context, tx *sql.Tx, m *sameMachine, e *EnrollIn, d deltas) (EnrollOut, error) {
	old := m.row
	h := old
	h.NodeKeyHash = HashCredential(e.NodeKey)
	h.setFacts(&e.Facts)
	h.EnrollSecret = e.SecretName
	h.LastSeen = ms(e.Now)
	key := m.hostKey
	if e.HostKey != "" {
		key = e.HostKey
	}
	h.RetiredAt = 0 // a retired host that enrolls again is active again
	_, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET node_key_hash = ?, hostname = ?, machine_id = ?, os = ?, os_version = ?,
  arch = ?, agent_version = ?, enroll_secret = ?, last_seen = ?, host_key = ?, retired_at = 0 WHERE id = ?`),
		h.NodeKeyHash, h.Hostname, h.MachineID, h.OS, h.OSVersion, h.Arch, h.AgentVersion, h.EnrollSecret, h.LastSeen, key, h.ID)
	if err != nil {
		return EnrollOut{}, fmt.Errorf("enroll: update host %d: %w", h.ID, err)
	}
	d.host(&old, -1)
	d.host(&h, +1)
	if old.RetiredAt != 0 {
		err := s.reactivateTx(ctx, tx, map[int64]*hostRow{h.ID: &old}, map[int64]*hostRow{h.ID: &h}, []int64{h.ID}, nil, d)
		if err != nil {
			return EnrollOut{}, err
		}
	}
	return EnrollOut{HostID: h.ID, Reenrolled: true, ConflictOf: m.conflictOf, Conflict: m.conflict}, nil
}

// newHostTx inserts a host; when same holds hosts with its machine id,
// the new host is flagged as a conflict of the first unflagged one, and
// both get an enroll-conflict event.
func (s *Store) newHostTx(ctx context.Context, tx *sql.Tx, same []sameMachine, e *EnrollIn, d deltas) (EnrollOut, error) {
	now := ms(e.Now)
	h := hostRow{NodeKeyHash: HashCredential(e.NodeKey), EnrollSecret: e.SecretName, EnrolledAt: now, LastSeen: now, Status: StatusPending}
	h.setFacts(&e.Facts)
	var out EnrollOut
	if len(same) > 0 {
		orig := same[0]
		for _, m := range same {
			if m.conflictOf == 0 {
				orig = m
				break
			}
		}
		out.ConflictOf = orig.row.ID
		out.Conflict = conflictReason(orig, e)
	}
	v := append(h.values()[1:], e.HostKey, out.ConflictOf, out.Conflict)
	err := tx.QueryRowContext(ctx, s.q("INSERT INTO hosts ("+strings.TrimPrefix(hostCols, "id, ")+", host_key, conflict_of, conflict) VALUES "+
		placeholders(1, len(v))+" RETURNING id"), v...).Scan(&h.ID)
	if err != nil {
		return EnrollOut{}, fmt.Errorf("enroll: insert host: %w", err)
	}
	d.host(&h, +1)
	out.HostID = h.ID
	if out.ConflictOf != 0 {
		err := s.collectorEvents(ctx, tx, now,
			hostEvent{h.ID, api.EventEnrollConflict, out.Conflict},
			hostEvent{out.ConflictOf, api.EventEnrollConflict, fmt.Sprintf(
				"machine id %q enrolled again without this host's key: host %d (%s) was created and flagged; this host and its node key are unchanged",
				e.Facts.MachineID, h.ID, e.Facts.Hostname)})
		if err != nil {
			return EnrollOut{}, err
		}
	}
	return out, nil
}

func conflictReason(orig sameMachine, e *EnrollIn) string {
	how := "with another host key"
	switch {
	case e.HostKey == "":
		how = "without a host key (an agent older than host keys, or a forged request)"
	case orig.hostKey == "":
		how = "with a host key, but host " + fmt.Sprint(orig.row.ID) + " was enrolled before host keys and this enrollment did not present its node key"
	}
	return fmt.Sprintf("machine id %q is already enrolled as host %d (%s); this enrollment came %s: a possible clone or impersonation, or a re-imaged host. Merge it into host %d if it is that host re-installed, otherwise retire it",
		e.Facts.MachineID, orig.row.ID, orig.row.Hostname, how, orig.row.ID)
}

// useNonce records an enroll proof nonce; fresh is false when it was
// recorded before.
func (s *Store) useNonce(ctx context.Context, tx *sql.Tx, nonce string, expires time.Time) (fresh bool, err error) {
	rows, err := tx.QueryContext(ctx, s.q("INSERT INTO enroll_nonces (nonce_hash, expires_at) VALUES (?, ?) ON CONFLICT (nonce_hash) DO NOTHING RETURNING nonce_hash"),
		HashCredential(nonce), ms(expires))
	if err != nil {
		return false, fmt.Errorf("enroll: record proof nonce: %w", err)
	}
	defer rows.Close()
	fresh = rows.Next()
	return fresh, rows.Err()
}

// PruneNonces forgets enroll proof nonces that expired before t.
func (s *Store) PruneNonces(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q("DELETE FROM enroll_nonces WHERE expires_at < ?"), ms(t))
	if err != nil {
		return 0, fmt.Errorf("prune enroll nonces: %w", err)
	}
	return res.RowsAffected()
}

// hostEvent is an event the collector writes on a host.
type hostEvent struct {
	host    int64
	typ     api.EventType
	details string
}

func (s *Store) collectorEvents(ctx context.Context, tx *sql.Tx, now int64, evs ...hostEvent) error {
	rows := make([][]any, 0, len(evs))
	for _, e := range evs {
		rows = append(rows, []any{e.host, "collector-" + NewCredential(""), now, string(e.typ), "", "", e.details, now})
	}
	if err := s.bulkExec(ctx, tx, "INSERT INTO events (host_id, event_id, time, type, store_id, sha256, detail, received_at)", 8, rows,
		"ON CONFLICT (host_id, event_id) DO NOTHING"); err != nil {
		return fmt.Errorf("record collector events: %w", err)
	}
	return nil
}
