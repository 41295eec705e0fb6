package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// FuzzDashboardQuery: whatever the query string of the host list, the
// events list or the trend (filters, since/until times and durations,
// order, lifecycle, cursors), the collector answers 200 or 400 with a
// reason — never 500, never a panic.
func FuzzDashboardQuery(f *testing.F) {
	for _, q := range []string{"since=1h", "since=7d&order=asc", "since=2025-01-02T15:04:05Z&until=1700000000", "since=-1h",
		"retired=all&stale=true&status=error", "retired=maybe", "stale=1", "offline_after=30d&seen_after=0", "cursor=12-34&order=desc",
		"since=99999999999d", "since=1e9h", "order=sideways", "limit=0", "since=%ff"} {
		f.Add(q)
	}
	st, err := db.Open(context.Background(), filepath.Join(f.TempDir(), "c.db"))
	if err != nil {
		f.Fatal(err)
	}
	token, err := st.AddToken(context.Background(), "v", db.RoleViewer)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PKIProbeInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close(); st.Close() })
	f.Fuzz(func(t *testing.T, query string) {
		for _, path := range []string{api.PathHosts, api.PathEvents, api.PathTrend, api.PathSummary} {
			req := httptest.NewRequest("GET", path, nil)
			req.URL.RawQuery = query // as the server's parser would receive it
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
				t.Fatalf("GET %s?%s: %d %s", path, query, rec.Code, rec.Body.String())
			}
		}
	})
}
