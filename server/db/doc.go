// Package db is the collector's storage: one schema, one set of
// migrations and one set of queries for SQLite (pure Go, modernc.org/sqlite,
// WAL, the default) and PostgreSQL (github.com/jackc/pgx/v5, the scale-out
// path where several collectors share one database).
//
// Open takes a URL: "postgres://…" or "postgresql://…" selects PostgreSQL;
// "sqlite:PATH", "file:PATH" or a bare path selects SQLite, and creates the
// database if needed; OpenExisting refuses a missing one
// (*NoDatabaseError). The package owns the one SQL layer of the
// collector database: the Dialect, the placeholder rewriter (Rebind), the
// open helper and one migration engine (schema.go) for both schemas it
// holds — the collector's (versioned in schema_migrations, applied by
// Open) and the unmanaged-device tables (versioned in devices_schema,
// applied by MigrateDevices when server/devices opens them). Each version
// table is read as the releases before this package wrote it. On SQLite a
// migration step takes the write lock (BEGIN IMMEDIATE) before it reads
// the version; on PostgreSQL it runs under an advisory lock, so several
// collectors may start at once. IsUnavailable tells, from the drivers'
// typed errors, a database that cannot commit or answer from a faulty
// statement; unique violations too are recognized from typed errors.
//
// Nothing that matters lives in process memory: current state per host
// (hosts, host_stores, host_roots, host_cas, host_addresses), history
// (events, compliance_snapshots), idempotency (reports) and the fleet
// aggregates (fleet_agg, maintained in the same transaction as the host
// rows, so the fleet summary over a million hosts reads a few hundred rows)
// are all in the database. WriteBatch applies many reports and enrollments
// in one transaction: the collector's group commit; a full report writes
// only the store, root and CA rows that changed (details.go). Retired hosts
// (lifecycle.go) keep their rows but leave fleet_agg; the hourly snapshot
// is fleet_agg as each hour began; PruneBatch deletes history in bounded
// batches.
//
// Timestamps are stored as Unix milliseconds (BIGINT); the documented SQL
// views (v_hosts, v_host_stores, v_events, …, see docs/collector.md)
// expose them as timestamps for BI tools.
package db
