package devices

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// DB is the device side of the collector database.
type DB struct {
	db *sql.DB // writes (on SQLite, the collector's single writer connection)
	// rdb serves the read-only queries (List, Counts, Exemptions…): on
	// SQLite a separate read pool, so that a slow device query does not
	// hold the writer that acknowledges agent reports.
	rdb     *sql.DB
	dialect db.Dialect
	// IPSlack widens the period an enrolled host held an address when
	// matching it against observations (agents report periodically).
	IPSlack time.Duration
}

// Open prepares the device tables in the database (creating or upgrading
// them, db.MigrateDevices) and returns a DB. Pass the collector store's
// DB(), ReadDB() and Dialect(); a nil r reads through w.
func Open(ctx context.Context, w, r *sql.DB, dialect db.Dialect) (*DB, error) {
	if dialect != db.SQLite && dialect != db.Postgres {
		return nil, fmt.Errorf("devices: unknown SQL dialect %q (want sqlite or postgres)", dialect)
	}
	if r == nil {
		r = w
	}
	d := &DB{db: w, rdb: r, dialect: dialect, IPSlack: time.Hour}
	if err := db.MigrateDevices(ctx, w, dialect); err != nil {
		return nil, err
	}
	return d, nil
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (d *DB) q(query string) string { return db.Rebind(d.dialect, query) }

func (d *DB) min() string {
	if d.dialect == db.Postgres {
		return "LEAST"
	}
	return "MIN"
}

func (d *DB) max() string {
	if d.dialect == db.Postgres {
		return "GREATEST"
	}
	return "MAX"
}

// ms and fromMS store times the way every collector table does.
func ms(t time.Time) int64 { return db.Millis(t) }

func fromMS(v int64) time.Time { return db.FromMillis(v) }
