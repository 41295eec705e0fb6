package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// TestIsUniqueViolation: a unique or primary-key violation is recognized
// from the driver's typed error on both dialects; another constraint
// failure, and an error that only says the words, are not.
func TestIsUniqueViolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		w := s.DB()
		q := func(query string) string { return db.Rebind(s.Dialect(), query) }
		if _, err := w.ExecContext(ctx, q("INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)"), "a", "admin", "h1", 1); err != nil {
			t.Fatal(err)
		}
		_, err := w.ExecContext(ctx, q("INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)"), "a", "admin", "h2", 1)
		if !db.IsUniqueViolation(err) {
			t.Errorf("duplicate UNIQUE name: %v not recognized", err)
		}
		if !db.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)) {
			t.Errorf("wrapped duplicate: not recognized")
		}
		if _, err := w.ExecContext(ctx, q("INSERT INTO policies (serial, blob, sha256, uploaded_at) VALUES (?, ?, ?, ?)"), 1, []byte("x"), "s", 1); err != nil {
			t.Fatal(err)
		}
		_, err = w.ExecContext(ctx, q("INSERT INTO policies (serial, blob, sha256, uploaded_at) VALUES (?, ?, ?, ?)"), 1, []byte("y"), "s", 1)
		if !db.IsUniqueViolation(err) {
			t.Errorf("duplicate PRIMARY KEY: %v not recognized", err)
		}
		_, err = w.ExecContext(ctx, q("INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, NULL)"), "b", "admin", "h3")
		if err == nil || db.IsUniqueViolation(err) {
			t.Errorf("NOT NULL violation: %v taken for a unique violation", err)
		}
		for _, text := range []string{"UNIQUE constraint failed: api_tokens.name", "ERROR: duplicate key (SQLSTATE 23505)"} {
			if db.IsUniqueViolation(errors.New(text)) {
				t.Errorf("plain error %q taken for a unique violation", text)
			}
		}
	})
}
