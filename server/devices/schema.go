package devices

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// Dialect is the SQL dialect of the database: "sqlite" or "postgres"
// (the values of db.Dialect).
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the device side of the collector database.
type DB struct {
	db *sql.DB // writes (on SQLite, the collector's single writer connection)
	// rdb serves the read-only queries (List, Counts, Exemptions…): on
	// SQLite a separate read pool, so that a slow device query does not
	// hold the writer that acknowledges agent reports.
	rdb     *sql.DB
	dialect Dialect
	// IPSlack widens the period an enrolled host held an address when
	// matching it against observations (agents report periodically).
	IPSlack time.Duration
}

// schemaVersion is the version of this package's tables.
const schemaVersion = 2

const schemaV1 = `
CREATE TABLE net_observations (
  source TEXT NOT NULL,
  ip TEXT NOT NULL,
  mac TEXT NOT NULL,
  hostname TEXT NOT NULL,
  evidence TEXT NOT NULL,
  day BIGINT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  n BIGINT NOT NULL,
  lease_end BIGINT NOT NULL,
  PRIMARY KEY (source, ip, mac, hostname, evidence, day)
);
CREATE INDEX net_observations_ip ON net_observations (ip);
CREATE INDEX net_observations_mac ON net_observations (mac);
CREATE INDEX net_observations_last_seen ON net_observations (last_seen);
CREATE TABLE evidence_checkpoints (
  key TEXT PRIMARY KEY,
  format TEXT NOT NULL,
  path TEXT NOT NULL,
  byte_offset BIGINT NOT NULL,
  prefix_len BIGINT NOT NULL,
  prefix_hash TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE device_exemptions (
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  reason TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (kind, value)
)`

// schemaV2 marks where an exemption came from (an administrator, or the
// signed policy), remembers which policy serial was imported, and keeps
// the batch ids of observations posted over the API (exactly once).
const schemaV2 = `
ALTER TABLE device_exemptions ADD COLUMN source TEXT NOT NULL DEFAULT 'admin';
CREATE TABLE observation_batches (
  batch_id TEXT PRIMARY KEY,
  n BIGINT NOT NULL,
  received_at BIGINT NOT NULL
);
CREATE INDEX observation_batches_received_at ON observation_batches (received_at);
CREATE TABLE devices_policy_import (
  id INTEGER PRIMARY KEY,
  serial BIGINT NOT NULL,
  exemptions BIGINT NOT NULL,
  skipped BIGINT NOT NULL,
  imported_at BIGINT NOT NULL
)`

// migrations[i] brings the tables from version i to i+1.
var migrations = []string{schemaV1, schemaV2}

// Open prepares the device tables in the database (creating or upgrading
// them) and returns a DB. Pass the collector store's DB(), ReadDB() and
// Dialect(); a nil r reads through w.
func Open(ctx context.Context, w, r *sql.DB, dialect Dialect) (*DB, error) {
	if dialect != SQLite && dialect != Postgres {
		return nil, fmt.Errorf("devices: unknown SQL dialect %q (want sqlite or postgres)", dialect)
	}
	if r == nil {
		r = w
	}
	d := &DB{db: w, rdb: r, dialect: dialect, IPSlack: time.Hour}
	if err := d.migrate(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DB) version(ctx context.Context) (int, error) {
	var cur int
	if err := d.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM devices_schema").Scan(&cur); err != nil {
		return 0, fmt.Errorf("devices: migrate: read schema version: %w", err)
	}
	return cur, nil
}

// migrate brings the device tables to schemaVersion like the collector
// store migrates its own (db.BeginMigration): each version in one
// transaction that also reads the version, begun on SQLite with BEGIN
// IMMEDIATE, so that processes opening the same file at once serialize;
// on PostgreSQL under an advisory lock.
func (d *DB) migrate(ctx context.Context) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("devices: migrate: %w", err)
	}
	defer conn.Close()
	if d.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7262638)"); err != nil {
			return fmt.Errorf("devices: migrate: take advisory lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7262638)")
	}
	for {
		done, err := d.migrateStep(ctx, conn)
		if err != nil || done {
			return err
		}
	}
}

func (d *DB) migrateStep(ctx context.Context, conn *sql.Conn) (done bool, err error) {
	tx, end, err := db.BeginMigration(ctx, conn, db.Dialect(d.dialect))
	if err != nil {
		return false, fmt.Errorf("devices: migrate: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			end(false)
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS devices_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return false, fmt.Errorf("devices: migrate: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM devices_schema").Scan(&cur); err != nil {
		return false, fmt.Errorf("devices: migrate: read schema version: %w", err)
	}
	if cur > schemaVersion {
		return false, fmt.Errorf("devices: database has device schema version %d but this collector knows only up to %d: upgrade anchorwatch", cur, schemaVersion)
	}
	if cur < schemaVersion {
		for _, stmt := range splitStatements(migrations[cur]) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return false, fmt.Errorf("devices: migrate to version %d: %w\n%s", cur+1, err, stmt)
			}
		}
		if _, err := tx.ExecContext(ctx, d.q("INSERT INTO devices_schema (version, applied_at) VALUES (?, ?)"), cur+1, time.Now().UnixMilli()); err != nil {
			return false, fmt.Errorf("devices: migrate to version %d: %w", cur+1, err)
		}
	}
	committed = true
	if err := end(true); err != nil {
		return false, fmt.Errorf("devices: migrate to version %d: commit: %w", cur+1, err)
	}
	return cur == schemaVersion, nil
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (d *DB) q(query string) string {
	if d.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (d *DB) min() string {
	if d.dialect == Postgres {
		return "LEAST"
	}
	return "MIN"
}

func (d *DB) max() string {
	if d.dialect == Postgres {
		return "GREATEST"
	}
	return "MAX"
}

// ms and fromMS store times the way every collector table does.
func ms(t time.Time) int64 { return db.Millis(t) }

func fromMS(v int64) time.Time { return db.FromMillis(v) }

// splitStatements splits a migration script into its statements.
func splitStatements(script string) []string {
	return strings.Split(script, ";\n")
}
