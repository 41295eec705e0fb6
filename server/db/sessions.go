package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PrefixSession marks a dashboard session id (the sign-in cookie).
const PrefixSession = "awd_"

// Default session lifetimes.
const (
	DefaultSessionIdle = time.Hour
	DefaultSessionMax  = 12 * time.Hour
)

// sessionTouch is how stale last_seen may get before a check writes it:
// idle expiry is exact to this much, and a busy dashboard does not write
// on every request.
const sessionTouch = time.Minute

// SessionLimits bound a session: it ends after Idle without a request, and
// Max after it was opened, whichever comes first.
type SessionLimits struct {
	Idle, Max time.Duration
}

// CreateSession opens a dashboard session for an active API token at now
// and returns its id: 256 random bits, stored only as a hash. An unknown
// or revoked token is ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, token string, lim SessionLimits, now time.Time) (string, error) {
	if lim.Idle <= 0 {
		lim.Idle = DefaultSessionIdle
	}
	if lim.Max <= 0 {
		lim.Max = DefaultSessionMax
	}
	name, _, err := s.CheckToken(ctx, token)
	if err != nil {
		return "", err
	}
	id := NewCredential(PrefixSession)
	_, err = s.w.ExecContext(ctx, s.q(`INSERT INTO dashboard_sessions (id_hash, token_name, created_at, last_seen, idle_ms, expires_at)
VALUES (?, ?, ?, ?, ?, ?)`), HashCredential(id), name, ms(now), ms(now), lim.Idle.Milliseconds(), ms(now.Add(lim.Max)))
	if err != nil {
		return "", fmt.Errorf("open dashboard session: %w", err)
	}
	return id, nil
}

// SessionCSRF returns the anti-forgery value of session id: what the
// dashboard's script sends in a header with each change it asks for (it
// learns the value from GET /api/v1/whoami; a cross-site page cannot read
// that answer). It is derived from the secret id with SHA-256, so it
// reveals nothing of the id and needs no storage.
func SessionCSRF(id string) string {
	return HashCredential("anchorwatch-csrf-v1\x00" + id)
}

// ErrSessionExpired wraps ErrNotFound for a session past its idle or
// absolute expiry.
var ErrSessionExpired = fmt.Errorf("dashboard session expired: sign in again: %w", ErrNotFound)

// CheckSession returns the token name and role of an open session at now.
// A session that is unknown, ended, expired, or whose token was revoked
// is ErrNotFound.
func (s *Store) CheckSession(ctx context.Context, id string, now time.Time) (name, role string, err error) {
	if !strings.HasPrefix(id, PrefixSession) || len(id) > 256 {
		return "", "", ErrNotFound
	}
	h := HashCredential(id)
	var stored string
	var lastSeen, idle, expires int64
	err = s.r.QueryRowContext(ctx, s.q(`SELECT s.id_hash, s.token_name, t.role, s.last_seen, s.idle_ms, s.expires_at
FROM dashboard_sessions s JOIN api_tokens t ON t.name = s.token_name
WHERE s.id_hash = ? AND s.revoked_at IS NULL AND t.revoked_at IS NULL`), h).Scan(&stored, &name, &role, &lastSeen, &idle, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !sameHash(stored, h)) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("check dashboard session: %w", err)
	}
	t := ms(now)
	if t >= expires || t-lastSeen >= idle {
		return "", "", ErrSessionExpired
	}
	if t-lastSeen >= sessionTouch.Milliseconds() {
		if _, err := s.w.ExecContext(ctx, s.q("UPDATE dashboard_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?"), t, h, t); err != nil {
			return "", "", fmt.Errorf("check dashboard session: %w", err)
		}
	}
	return name, role, nil
}

// EndSession ends a session at once (sign-out). Ending an unknown or
// ended session is not an error.
func (s *Store) EndSession(ctx context.Context, id string) error {
	if !strings.HasPrefix(id, PrefixSession) {
		return nil
	}
	_, err := s.w.ExecContext(ctx, s.q("UPDATE dashboard_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL"),
		time.Now().UnixMilli(), HashCredential(id))
	if err != nil {
		return fmt.Errorf("end dashboard session: %w", err)
	}
	return nil
}

// PruneSessions deletes sessions that ended or expired before now.
func (s *Store) PruneSessions(ctx context.Context, now time.Time) (int64, error) {
	t := ms(now)
	res, err := s.w.ExecContext(ctx, s.q("DELETE FROM dashboard_sessions WHERE revoked_at IS NOT NULL OR expires_at <= ? OR last_seen + idle_ms <= ?"), t, t)
	if err != nil {
		return 0, fmt.Errorf("prune dashboard sessions: %w", err)
	}
	return res.RowsAffected()
}
