package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

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
