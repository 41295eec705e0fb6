package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// TestDashboardSessions: a session opens only for an active token, is
// stored hashed, ends after its idle time, its absolute lifetime, a
// sign-out or the revocation of its token, and is pruned afterwards.
func TestDashboardSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		tok, err := s.AddToken(ctx, "alice", db.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		lim := db.SessionLimits{Idle: 10 * time.Minute, Max: time.Hour}
		if _, err := s.CreateSession(ctx, "awt_forged", lim, now); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("session for a forged token: %v", err)
		}
		id, err := s.CreateSession(ctx, tok, lim, now)
		if err != nil || !strings.HasPrefix(id, db.PrefixSession) || len(id) < 40 {
			t.Fatalf("session %q %v", id, err)
		}
		// Stored as its hash only.
		var stored string
		if err := s.ReadDB().QueryRow("SELECT id_hash FROM dashboard_sessions").Scan(&stored); err != nil || stored != db.HashCredential(id) {
			t.Fatalf("stored %q, %v; want the hash of the id", stored, err)
		}
		check := func(at time.Time) error {
			_, _, err := s.CheckSession(ctx, id, at)
			return err
		}
		// Activity every 9 minutes keeps it open past 10 minutes idle.
		for m := 0; m <= 45; m += 9 {
			if err := check(now.Add(time.Duration(m) * time.Minute)); err != nil {
				t.Fatalf("at +%dm: %v", m, err)
			}
		}
		if err := check(now.Add(56 * time.Minute)); !errors.Is(err, db.ErrSessionExpired) {
			t.Errorf("11 minutes idle: %v, want expired", err)
		}
		// Absolute expiry, however active.
		id2, _ := s.CreateSession(ctx, tok, lim, now)
		for m := 0; m < 60; m += 5 {
			if _, _, err := s.CheckSession(ctx, id2, now.Add(time.Duration(m)*time.Minute)); err != nil {
				t.Fatalf("active session at +%dm: %v", m, err)
			}
		}
		if _, _, err := s.CheckSession(ctx, id2, now.Add(time.Hour)); !errors.Is(err, db.ErrSessionExpired) {
			t.Errorf("after the absolute lifetime: %v", err)
		}
		// Sign-out, and token revocation, end sessions.
		id3, _ := s.CreateSession(ctx, tok, lim, now)
		id4, _ := s.CreateSession(ctx, tok, lim, now)
		if name, role, err := s.CheckSession(ctx, id3, now); err != nil || name != "alice" || role != db.RoleViewer {
			t.Fatalf("open session: %s %s %v", name, role, err)
		}
		if err := s.EndSession(ctx, id3); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CheckSession(ctx, id3, now); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("after sign-out: %v", err)
		}
		if _, _, err := s.CheckSession(ctx, id4, now); err != nil {
			t.Fatalf("another session of the token: %v", err)
		}
		if err := s.RevokeToken(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CheckSession(ctx, id4, now); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("after the token was revoked: %v", err)
		}
		// Neither a token nor a node key is a session id.
		for _, v := range []string{tok, db.NewCredential(db.PrefixNodeKey), ""} {
			if _, _, err := s.CheckSession(ctx, v, now); !errors.Is(err, db.ErrNotFound) {
				t.Errorf("%q as a session: %v", v, err)
			}
		}
		if n, err := s.PruneSessions(ctx, now.Add(2*time.Hour)); err != nil || n != 4 {
			t.Errorf("pruned %d sessions, %v; want 4", n, err)
		}
	})
}
