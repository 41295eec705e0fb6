package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestMigrateDatabaseFromEarlierRelease opens a SQLite database made the
// way the code before the one engine made it — the collector schema at
// version 6 in schema_migrations (version, name, applied_at) and the
// device tables at version 1 in devices_schema (version, applied_at),
// each written by its own engine — and migrates it: both version tables
// are read, the missing versions applied once and the rows kept.
func TestMigrateDatabaseFromEarlierRelease(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old.SetMaxOpenConns(1)
	// The version tables exactly as the earlier engines created them.
	mustExec(t, old, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
	mustExec(t, old, `CREATE TABLE IF NOT EXISTS devices_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
	for _, m := range migrations[:6] {
		execScript(t, old, migrationSQL(SQLite, m))
		mustExec(t, old, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 1)", m.version, m.name)
	}
	execScript(t, old, deviceSchemaV1)
	mustExec(t, old, "INSERT INTO devices_schema VALUES (1, 0)")
	mustExec(t, old, "INSERT INTO hosts (node_key_hash, hostname, machine_id, os, os_version, arch, agent_version, enroll_secret, enrolled_at, last_seen, last_report_at, policy_serial, status, state_hash, stores_total, stores_compliant, unknown_roots, blocked_roots) VALUES ('h', 'pc-1', 'm', 'linux', '', '', '', '', 1, 1, 1, 0, 'compliant', '', 0, 0, 0, 0)")
	mustExec(t, old, "INSERT INTO device_exemptions VALUES ('mac', '00:11:22:33:44:55', 'server', 0, 1)")
	old.Close()

	for round := 0; round < 2; round++ { // the second open finds nothing to do
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := MigrateDevices(ctx, st.DB(), st.Dialect()); err != nil {
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
		if n != SchemaVersion() || v != SchemaVersion() || dn != DeviceSchemaVersion() || dv != DeviceSchemaVersion() {
			t.Errorf("round %d: schema_migrations %d rows up to %d, devices_schema %d rows up to %d; want %d and %d",
				round, n, v, dn, dv, SchemaVersion(), DeviceSchemaVersion())
		}
		if err := r.QueryRow("SELECT hostname FROM hosts").Scan(&hostname); err != nil || hostname != "pc-1" {
			t.Errorf("host row after migration: %q %v", hostname, err)
		}
		if err := r.QueryRow("SELECT source FROM device_exemptions WHERE value = '00:11:22:33:44:55'").Scan(&source); err != nil || source != "admin" {
			t.Errorf("exemption after migration: source %q %v", source, err)
		}
		st.Close()
	}
}

// TestMigrateRefusesNewerSchema: a device schema newer than the code is
// an error that says to upgrade, not a silent downgrade.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := MigrateDevices(ctx, st.DB(), st.Dialect()); err != nil {
		t.Fatal(err)
	}
	mustExec(t, st.DB(), "INSERT INTO devices_schema VALUES (99, 0)")
	if err := MigrateDevices(ctx, st.DB(), st.Dialect()); err == nil {
		t.Fatal("device schema 99 accepted")
	}
}

func mustExec(t *testing.T, d *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := d.Exec(query, args...); err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
}

func execScript(t *testing.T, d *sql.DB, script string) {
	t.Helper()
	for _, stmt := range splitScript(script) {
		mustExec(t, d, stmt)
	}
}

// TestInsertColumns: bulkExec's row width comes from the INSERT's column
// list.
func TestInsertColumns(t *testing.T) {
	for in, want := range map[string]int{
		"INSERT INTO fleet_agg (dim, key, status, n)": 4,
		"INSERT INTO hosts (" + hostCols + ")":        20,
		insertEvents:                                  8,
		"INSERT INTO host_facets (facet, host_id)":    2,
		"INSERT INTO t (a)":                           1,
		"INSERT INTO t ()":                            0,
		"INSERT INTO t":                               0,
	} {
		if got := insertColumns(in); got != want {
			t.Errorf("insertColumns(%q) = %d, want %d", in, got, want)
		}
	}
}
