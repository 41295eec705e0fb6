package db

import (
	"context"
)

// migration is one schema version. SQL holds statements separated by
// ";\n"; {{PK}}, {{BLOB}} and {{TS}} are replaced per dialect.
type migration struct {
	version int
	name    string
	sql     string
	// views replaces sql per dialect when the statements differ.
	sqlite, postgres string
	// run, when set, runs after the statements, in the same transaction.
	run func(ctx context.Context, d Dialect, tx Execer) error
}

// migrations are applied in order and never edited once released: a
// schema change is a new version.
var migrations = []migration{
	{version: 1, name: "initial schema", sql: `
CREATE TABLE enroll_secrets (
  id {{PK}},
  name TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE TABLE api_tokens (
  id {{PK}},
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE TABLE hosts (
  id {{PK}},
  node_key_hash TEXT NOT NULL UNIQUE,
  hostname TEXT NOT NULL,
  machine_id TEXT NOT NULL,
  os TEXT NOT NULL,
  os_version TEXT NOT NULL,
  arch TEXT NOT NULL,
  agent_version TEXT NOT NULL,
  enroll_secret TEXT NOT NULL,
  enrolled_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  last_report_at BIGINT NOT NULL,
  policy_serial BIGINT NOT NULL,
  status TEXT NOT NULL,
  state_hash TEXT NOT NULL,
  stores_total INTEGER NOT NULL,
  stores_compliant INTEGER NOT NULL,
  unknown_roots INTEGER NOT NULL,
  blocked_roots INTEGER NOT NULL
);
CREATE INDEX hosts_machine_id ON hosts (machine_id);
CREATE INDEX hosts_status ON hosts (status, id);
CREATE INDEX hosts_os ON hosts (os, id);
CREATE INDEX hosts_policy_serial ON hosts (policy_serial, id);
CREATE INDEX hosts_last_seen ON hosts (last_seen);
CREATE TABLE host_stores (
  host_id BIGINT NOT NULL,
  store_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  format TEXT NOT NULL,
  owner TEXT NOT NULL,
  status TEXT NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (host_id, store_id)
);
CREATE TABLE host_roots (
  host_id BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  spki_sha256 TEXT NOT NULL,
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  not_after BIGINT NOT NULL,
  class TEXT NOT NULL,
  reason TEXT NOT NULL,
  store_ids TEXT NOT NULL,
  PRIMARY KEY (host_id, sha256)
);
CREATE INDEX host_roots_sha256 ON host_roots (sha256);
CREATE TABLE host_cas (
  host_id BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  subject TEXT NOT NULL,
  not_after BIGINT NOT NULL,
  PRIMARY KEY (host_id, sha256)
);
CREATE TABLE host_addresses (
  host_id BIGINT NOT NULL,
  ip TEXT NOT NULL,
  mac TEXT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  PRIMARY KEY (host_id, ip, mac)
);
CREATE INDEX host_addresses_ip ON host_addresses (ip);
CREATE INDEX host_addresses_mac ON host_addresses (mac);
CREATE TABLE reports (
  host_id BIGINT NOT NULL,
  report_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (host_id, report_id)
);
CREATE INDEX reports_received_at ON reports (received_at);
CREATE TABLE events (
  id {{PK}},
  host_id BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  time BIGINT NOT NULL,
  type TEXT NOT NULL,
  store_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  detail TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  UNIQUE (host_id, event_id)
);
CREATE INDEX events_time ON events (time, id);
CREATE INDEX events_host_time ON events (host_id, time);
CREATE TABLE fleet_agg (
  dim TEXT NOT NULL,
  key TEXT NOT NULL,
  status TEXT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (dim, key, status)
);
CREATE TABLE root_info (
  sha256 TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  class TEXT NOT NULL,
  not_after BIGINT NOT NULL
);
CREATE TABLE ca_info (
  sha256 TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  not_after BIGINT NOT NULL
);
CREATE TABLE compliance_snapshots (
  bucket BIGINT NOT NULL,
  dim TEXT NOT NULL,
  key TEXT NOT NULL,
  status TEXT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (bucket, dim, key, status)
);
CREATE TABLE policies (
  serial BIGINT PRIMARY KEY,
  blob {{BLOB}} NOT NULL,
  sha256 TEXT NOT NULL,
  uploaded_at BIGINT NOT NULL
)`},
	{version: 2, name: "SQL views for BI tools", sqlite: viewsSQL(SQLite), postgres: viewsSQL(Postgres)},
	{version: 3, name: "host page indexes: store facets, hostname trigrams", sql: facetsSQL,
		sqlite: facetsSQL + ";\n" + sqliteNamesSQL, run: pgTrigramIndex},
	{version: 4, name: "PKI health: CA checks, host reachability", sql: pkiSQL}, // pki.go
	{version: 5, name: "host keys, enroll nonces, flagged hosts", sql: hostKeysSQL},
	{version: 6, name: "dashboard sessions", sql: sessionsSQL},
	{version: 7, name: "fleet lifecycle: retired hosts, retention indexes", sqlite: lifecycleSQL(SQLite), postgres: lifecycleSQL(Postgres)}, // lifecycle.go
}

// sessionsSQL holds the web dashboard's sign-in sessions: the SHA-256 of
// the random session id (the cookie), the API token it was opened with,
// and its idle and absolute expiry (sessions.go).
const sessionsSQL = `
CREATE TABLE dashboard_sessions (
  id_hash TEXT PRIMARY KEY,
  token_name TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  idle_ms BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX dashboard_sessions_token ON dashboard_sessions (token_name);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at)`

// hostKeysSQL binds hosts to the key pair made at their first enrollment
// (host_key, PKIX DER in base64), flags a host made by re-enrolling a
// known machine id without that key (conflict_of: the host it claims to
// be; conflict: why), and keeps enroll proof nonces until they expire.
const hostKeysSQL = `
ALTER TABLE hosts ADD COLUMN host_key TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN conflict_of BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN conflict TEXT NOT NULL DEFAULT '';
CREATE INDEX hosts_conflict_of ON hosts (conflict_of, id);
CREATE TABLE enroll_nonces (
  nonce_hash TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX enroll_nonces_expires ON enroll_nonces (expires_at)`

// facetsSQL creates host_facets (see facets.go) from the stored stores.
const facetsSQL = `
CREATE TABLE host_facets (
  facet TEXT NOT NULL,
  host_id BIGINT NOT NULL,
  PRIMARY KEY (facet, host_id)
);
INSERT INTO host_facets (facet, host_id)
SELECT DISTINCT 'k:' || kind, host_id FROM host_stores
UNION SELECT DISTINCT 's:' || status, host_id FROM host_stores
UNION SELECT DISTINCT 'ks:' || status || ':' || kind, host_id FROM host_stores`

// sqliteNamesSQL indexes hostnames by trigram (FTS5) for the hostname
// substring filter, kept in step with hosts by triggers. Trigger bodies
// stay on one line: statements are split on ";\n".
const sqliteNamesSQL = `
CREATE VIRTUAL TABLE host_names USING fts5(hostname, content='hosts', content_rowid='id', tokenize='trigram');
INSERT INTO host_names (host_names) VALUES ('rebuild');
CREATE TRIGGER hosts_names_insert AFTER INSERT ON hosts BEGIN INSERT INTO host_names (rowid, hostname) VALUES (new.id, new.hostname); END;
CREATE TRIGGER hosts_names_delete AFTER DELETE ON hosts BEGIN INSERT INTO host_names (host_names, rowid, hostname) VALUES ('delete', old.id, old.hostname); END;
CREATE TRIGGER hosts_names_update AFTER UPDATE OF hostname ON hosts WHEN old.hostname <> new.hostname BEGIN INSERT INTO host_names (host_names, rowid, hostname) VALUES ('delete', old.id, old.hostname); INSERT INTO host_names (rowid, hostname) VALUES (new.id, new.hostname); END`

// pgTrigramIndex indexes lower(hostname) with pg_trgm (GIN) when the
// extension can be had (Debian's postgresql-15 ships it; creating it
// needs CREATE on the database, which the owner has). Without it the
// hostname filter still works, by scanning.
func pgTrigramIndex(ctx context.Context, d Dialect, tx Execer) error {
	if d != Postgres {
		return nil
	}
	var avail bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')").Scan(&avail); err != nil || !avail {
		return err
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT trgm"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm"); err != nil {
		_, err = tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT trgm")
		return err
	}
	_, err := tx.ExecContext(ctx, "CREATE INDEX hosts_hostname_trgm ON hosts USING gin (lower(hostname) gin_trgm_ops)")
	return err
}

// viewsSQL returns the documented views; only the timestamp conversion
// differs between dialects.
func viewsSQL(d Dialect) string {
	ts := func(col string) string { return tsExpr(d, col) }
	return `
CREATE VIEW v_hosts AS
SELECT id AS host_id, hostname, machine_id, os, os_version, arch, agent_version, status,
  policy_serial, stores_total, stores_compliant, unknown_roots, blocked_roots,
  ` + ts("enrolled_at") + ` AS enrolled_at, ` + ts("last_seen") + ` AS last_seen,
  ` + ts("last_report_at") + ` AS last_report_at
FROM hosts;
CREATE VIEW v_host_stores AS
SELECT s.host_id, h.hostname, h.os, s.store_id, s.kind, s.path, s.format, s.owner, s.status, s.detail
FROM host_stores s JOIN hosts h ON h.id = s.host_id;
CREATE VIEW v_events AS
SELECT e.id AS event_seq, e.host_id, h.hostname, e.event_id, ` + ts("e.time") + ` AS time, e.type,
  e.store_id, e.sha256, e.detail, ` + ts("e.received_at") + ` AS received_at
FROM events e JOIN hosts h ON h.id = e.host_id;
CREATE VIEW v_roots_seen AS
SELECT i.sha256, i.subject, i.issuer, a.status AS class, ` + ts("i.not_after") + ` AS not_after, a.n AS hosts
FROM fleet_agg a JOIN root_info i ON i.sha256 = a.key
WHERE a.dim = 'root' AND a.n > 0;
CREATE VIEW v_ca_expiry AS
SELECT i.sha256, i.subject, ` + ts("i.not_after") + ` AS not_after, a.n AS hosts
FROM fleet_agg a JOIN ca_info i ON i.sha256 = a.key
WHERE a.dim = 'ca' AND a.n > 0;
CREATE VIEW v_fleet_compliance AS
SELECT dim, key, status, n FROM fleet_agg WHERE n > 0 AND dim IN ('hosts', 'os', 'serial', 'kind');
CREATE VIEW v_compliance_history AS
SELECT ` + ts("bucket") + ` AS time, dim, key, status, n FROM compliance_snapshots`
}

// tsExpr turns a column of Unix milliseconds (0: none) into a timestamp
// in a view: PostgreSQL timestamptz, SQLite ISO 8601 text.
func tsExpr(d Dialect, col string) string {
	if d == Postgres {
		return "CASE WHEN " + col + " = 0 THEN NULL ELSE to_timestamp(" + col + " / 1000.0) END"
	}
	return "CASE WHEN " + col + " = 0 THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', " + col + " / 1000.0, 'unixepoch') END"
}
