package db_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// TestConcurrentOpenFreshSQLite opens one fresh SQLite file from many
// stores at once (as two collectors, or a collector and an ingest, starting
// together would): every Open succeeds and each migration is applied once.
func TestConcurrentOpenFreshSQLite(t *testing.T) {
	for round := 0; round < 3; round++ {
		p := filepath.Join(t.TempDir(), "collector.db")
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		stores := make([]*db.Store, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				stores[i], errs[i] = db.Open(context.Background(), p)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: open %d: %v", round, i, err)
				continue
			}
			defer stores[i].Close()
		}
		if t.Failed() {
			return
		}
		var rows, max int
		if err := stores[0].DB().QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&rows, &max); err != nil {
			t.Fatal(err)
		}
		if rows != db.SchemaVersion() || max != db.SchemaVersion() {
			t.Errorf("round %d: schema_migrations has %d rows up to version %d, want %d", round, rows, max, db.SchemaVersion())
		}
	}
}
