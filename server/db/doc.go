// Package db is the collector's storage: one schema, one set of
// migrations and one set of queries for SQLite (pure Go, modernc.org/sqlite,
// WAL, the default) and PostgreSQL (github.com/jackc/pgx/v5, the scale-out
// path where several collectors share one database).
//
// Open takes a URL: "postgres://…" or "postgresql://…" selects PostgreSQL;
// "sqlite:PATH", "file:PATH" or a bare path selects SQLite, and creates the
// database if needed; OpenExisting refuses a missing one
// (*NoDatabaseError). Schema migrations are versioned (table
// schema_migrations) and run by both; on PostgreSQL they run under an
// advisory lock, so several collectors may start at once. IsUnavailable
// tells, from the drivers' typed errors, a database that cannot commit or
// answer from a faulty statement.
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
