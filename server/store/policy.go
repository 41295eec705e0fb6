package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Policy is a signed policy blob as uploaded; the collector never alters it.
type Policy struct {
	Serial     int64
	Blob       []byte
	SHA256     string
	UploadedAt time.Time
}

// ErrStaleSerial is wrapped by PutPolicy when the serial is not greater
// than one stored before (a replay, or a concurrent upload of the same).
var ErrStaleSerial = errors.New("stale policy serial")

// PutPolicy stores a signed policy blob under its serial, which must be
// greater than every serial stored before (else ErrStaleSerial).
func (s *Store) PutPolicy(ctx context.Context, serial int64, blob []byte) error {
	if serial <= 0 {
		return fmt.Errorf("policy serial %d: must be positive", serial)
	}
	cur, err := s.CurrentPolicySerial(ctx)
	if err != nil {
		return err
	}
	if serial <= cur {
		return fmt.Errorf("%w: serial %d is not greater than the served serial %d: agents would reject it; bump the serial and sign again", ErrStaleSerial, serial, cur)
	}
	h := sha256.Sum256(blob)
	_, err = s.w.ExecContext(ctx, s.q("INSERT INTO policies (serial, blob, sha256, uploaded_at) VALUES (?, ?, ?, ?)"),
		serial, blob, hex.EncodeToString(h[:]), time.Now().UnixMilli())
	if err != nil {
		if s.isUniqueViolation(err) {
			return fmt.Errorf("%w: serial %d already uploaded", ErrStaleSerial, serial)
		}
		return fmt.Errorf("store policy serial %d: %w", serial, err)
	}
	return nil
}

// CurrentPolicy returns the policy with the highest serial, or ErrNotFound.
func (s *Store) CurrentPolicy(ctx context.Context) (*Policy, error) {
	var p Policy
	var up int64
	err := s.r.QueryRowContext(ctx, "SELECT serial, blob, sha256, uploaded_at FROM policies ORDER BY serial DESC LIMIT 1").Scan(&p.Serial, &p.Blob, &p.SHA256, &up)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read current policy: %w", err)
	}
	p.UploadedAt = fromMS(up)
	return &p, nil
}

// CurrentPolicySerial returns the highest stored serial, 0 if none.
func (s *Store) CurrentPolicySerial(ctx context.Context) (int64, error) {
	var serial int64
	if err := s.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(serial), 0) FROM policies").Scan(&serial); err != nil {
		return 0, fmt.Errorf("read current policy serial: %w", err)
	}
	return serial, nil
}

// RolloutCounts are the active hosts by where they stand on one serial.
type RolloutCounts struct {
	On     int64 // report the serial
	Older  int64 // reported since it was uploaded, on another serial
	Silent int64 // not on it and not seen since it was uploaded
}

// PolicyRollout counts the active hosts on serial, on other serials and
// seen since uploaded, and not seen since uploaded (one scan of hosts).
func (s *Store) PolicyRollout(ctx context.Context, serial int64, uploaded time.Time) (RolloutCounts, error) {
	var c RolloutCounts
	up := uploaded.UnixMilli()
	err := s.r.QueryRowContext(ctx, s.q(`SELECT
  COALESCE(SUM(CASE WHEN policy_serial = ? THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN policy_serial <> ? AND last_seen >= ? THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN policy_serial <> ? AND last_seen < ? THEN 1 ELSE 0 END), 0)
FROM hosts WHERE retired_at = 0`), serial, serial, up, serial, up).Scan(&c.On, &c.Older, &c.Silent)
	if err != nil {
		return c, fmt.Errorf("count the rollout of policy serial %d: %w", serial, err)
	}
	return c, nil
}

// PolicyUploadedAt returns when serial was uploaded, or ErrNotFound.
func (s *Store) PolicyUploadedAt(ctx context.Context, serial int64) (time.Time, error) {
	var up int64
	err := s.r.QueryRowContext(ctx, s.q("SELECT uploaded_at FROM policies WHERE serial = ?"), serial).Scan(&up)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read policy serial %d: %w", serial, err)
	}
	return fromMS(up), nil
}
