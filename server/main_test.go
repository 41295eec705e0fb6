package server_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// pg is the PostgreSQL cluster the tests share (a fresh database per
// test), started on first use so fuzz workers never start one; pgErr says
// why it could not start.
var (
	pg     *servertest.PostgresCluster
	pgErr  error
	pgOnce sync.Once
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChildCollector() // the SIGKILL test's collector process
		return
	}
	code := m.Run()
	if pg != nil {
		if err := pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// backend is a database the suite runs against.
type backend struct {
	name string
	url  func(t *testing.T) string // "" means SQLite in t.TempDir()
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return "" }},
	{"postgres", func(t *testing.T) string {
		pgOnce.Do(func() { pg, pgErr = servertest.NewPostgresCluster(servertest.PostgresOptions{}) })
		if pgErr != nil {
			t.Fatal(pgErr)
		}
		u, err := pg.NewDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}},
}

// forEachBackend runs fn with a collector over each backend.
func forEachBackend(t *testing.T, opts servertest.Options, fn func(t *testing.T, c *servertest.Collector)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			o := opts
			o.DBURL = b.url(t)
			fn(t, servertest.StartCollector(t, o))
		})
	}
}
