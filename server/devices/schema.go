package devices

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL dialect of the database: "sqlite" or "postgres"
// (the values of store.Dialect).
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the device side of the collector database.
type DB struct {
	db      *sql.DB
	dialect Dialect
	// IPSlack widens the period an enrolled host held an address when
	// matching it against observations (agents report periodically).
	IPSlack time.Duration
}

// schemaVersion is the version of this package's tables.
const schemaVersion = 1

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

// Open prepares the device tables in db (creating or upgrading them) and
// returns a DB. Pass the collector store's DB() and Dialect().
func Open(ctx context.Context, db *sql.DB, dialect Dialect) (*DB, error) {
	if dialect != SQLite && dialect != Postgres {
		return nil, fmt.Errorf("devices: unknown SQL dialect %q (want sqlite or postgres)", dialect)
	}
	d := &DB{db: db, dialect: dialect, IPSlack: time.Hour}
	if err := d.migrate(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

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
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS devices_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("devices: migrate: %w", err)
	}
	var cur int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM devices_schema").Scan(&cur); err != nil {
		return fmt.Errorf("devices: migrate: read schema version: %w", err)
	}
	if cur > schemaVersion {
		return fmt.Errorf("devices: database has device schema version %d but this collector knows only up to %d: upgrade anchorwatch", cur, schemaVersion)
	}
	if cur == schemaVersion {
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("devices: migrate: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range strings.Split(schemaV1, ";\n") {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("devices: migrate to version 1: %w\n%s", err, stmt)
		}
	}
	if _, err := tx.ExecContext(ctx, d.q("INSERT INTO devices_schema (version, applied_at) VALUES (?, ?)"), schemaVersion, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("devices: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("devices: migrate: commit: %w", err)
	}
	return nil
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

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
