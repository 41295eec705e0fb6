package db

import "fmt"

// IsUniqueViolation exposes isUniqueViolation to the external tests,
// which run on both dialects.
var IsUniqueViolation = isUniqueViolation

// EarlierRelease returns the statements with which the releases before
// the one migration engine left a database of dialect d: the collector
// schema at version v in schema_migrations (version, name, applied_at)
// and the device tables at version dv in devices_schema (version,
// applied_at), each version table as its own engine created it.
func EarlierRelease(d Dialect, v, dv int) []string {
	out := []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS devices_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
	}
	for _, m := range migrations[:v] {
		// m.run (the optional pg_trgm index of version 3) is left out: a
		// database without it is one the earlier releases made too.
		out = append(out, splitScript(migrationSQL(d, m))...)
		out = append(out, fmt.Sprintf("INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', 1)", m.version, m.name))
	}
	for _, m := range deviceMigrations[:dv] {
		out = append(out, splitScript(migrationSQL(d, m))...)
		out = append(out, fmt.Sprintf("INSERT INTO devices_schema (version, applied_at) VALUES (%d, 1)", m.version))
	}
	return out
}
