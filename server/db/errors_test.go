package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
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

// TestMigrateDatabaseFromEarlierRelease opens, on both dialects, a
// database left by the releases before the one migration engine — the
// collector schema at version 6 and the device tables at version 1, each
// in its own version table — and migrates it: both version tables are
// read, the missing versions applied once, the rows kept.
func TestMigrateDatabaseFromEarlierRelease(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		t.Run(string(dialect), func(t *testing.T) {
			dbURL := filepath.Join(t.TempDir(), "old.db")
			driver, dsn := "sqlite", "file:"+dbURL
			if dialect == db.Postgres {
				if pgErr != nil {
					t.Fatal(pgErr)
				}
				u, err := pg.NewDatabase(ctx)
				if err != nil {
					t.Fatal(err)
				}
				dbURL, driver, dsn = u, "pgx", u
			}
			old, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			stmts := append(db.EarlierRelease(dialect, 6, 1),
				"INSERT INTO hosts (node_key_hash, hostname, machine_id, os, os_version, arch, agent_version, enroll_secret, enrolled_at, last_seen, last_report_at, policy_serial, status, state_hash, stores_total, stores_compliant, unknown_roots, blocked_roots) VALUES ('h', 'pc-1', 'm', 'linux', '', '', '', '', 1, 1, 1, 0, 'compliant', '', 0, 0, 0, 0)",
				"INSERT INTO device_exemptions VALUES ('mac', '00:11:22:33:44:55', 'server', 0, 1)")
			for _, stmt := range stmts {
				if _, err := old.Exec(stmt); err != nil {
					t.Fatalf("%v\n%s", err, stmt)
				}
			}
			old.Close()
			for round := 0; round < 2; round++ { // the second open finds nothing to do
				st, err := db.Open(ctx, dbURL)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.MigrateDevices(ctx, st.DB(), st.Dialect()); err != nil {
					t.Fatal(err)
				}
				var n, v, dn, dv int
				var hostname, source string
				r := st.DB()
				if err := r.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil {
					t.Fatal(err)
				}
				if err := r.QueryRow("SELECT COUNT(*), MAX(version) FROM devices_schema").Scan(&dn, &dv); err != nil {
					t.Fatal(err)
				}
				if n != db.SchemaVersion() || v != db.SchemaVersion() || dn != db.DeviceSchemaVersion() || dv != db.DeviceSchemaVersion() {
					t.Errorf("round %d: schema_migrations %d rows up to %d, devices_schema %d rows up to %d; want %d and %d",
						round, n, v, dn, dv, db.SchemaVersion(), db.DeviceSchemaVersion())
				}
				if err := r.QueryRow("SELECT hostname FROM hosts").Scan(&hostname); err != nil || hostname != "pc-1" {
					t.Errorf("host row after migration: %q %v", hostname, err)
				}
				if err := r.QueryRow("SELECT source FROM device_exemptions WHERE value = '00:11:22:33:44:55'").Scan(&source); err != nil || source != "admin" {
					t.Errorf("exemption after migration: source %q %v", source, err)
				}
				st.Close()
			}
		})
	}
}
