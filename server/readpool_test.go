package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestDeviceReadsOffTheWriter checks that device queries and report
// acknowledgements do not wait for each other on SQLite: a long read
// (a device list scanning the observations) does not hold up a report,
// and a device list is answered while the single writer connection is
// busy (it reads through the store's read pool, not the writer).
func TestDeviceReadsOffTheWriter(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	ctx := context.Background()
	key, _ := c.Enroll(t, facts("laptop-1"))
	now := time.Now().UTC()
	batch := api.ObservationBatch{BatchID: "proxy-1:0001", Observations: []api.Observation{
		{IP: "10.0.0.77", SeenAt: now.Add(-time.Hour), Source: "squid-access", Count: 3},
		{IP: "10.0.0.78", SeenAt: now.Add(-time.Hour), Source: "squid-access", Count: 4},
	}}
	if code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, batch); code != http.StatusOK {
		t.Fatalf("observations: %d %s", code, body)
	}
	if p := deviceList(t, c, ""); len(p.Devices) != 2 {
		t.Fatalf("devices: %+v", p)
	}

	// A read transaction stays open mid-scan while a report is acknowledged.
	rtx, err := c.Store.ReadDB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := rtx.QueryContext(ctx, "SELECT ip FROM net_observations")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no observation row")
	}
	if rr := c.Report(t, report(key, "r1", stores.StatusCompliant)); rr.Status != "ok" || rr.Duplicate {
		t.Fatalf("report not accepted during a read: %+v", rr)
	}
	rows.Close()
	rtx.Rollback()

	// The writer connection is busy (as behind a slow statement on it):
	// the device list, summary and exemptions are still answered.
	wconn, err := c.Store.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{api.PathDevices + "?status=all", api.PathDevicesSummary, api.PathExemptions} {
		code, body, err := getWithin(c, path, 10*time.Second)
		if err != nil || code != http.StatusOK {
			t.Errorf("GET %s while the writer is busy: %d %s %v", path, code, body, err)
		}
		if path == api.PathDevices+"?status=all" && err == nil {
			var p devices.Page
			if err := json.Unmarshal(body, &p); err != nil || len(p.Devices) != 2 {
				t.Errorf("device list while the writer is busy: %s %v", body, err)
			}
		}
	}
	wconn.ExecContext(ctx, "ROLLBACK")
	wconn.Close()
}

// getWithin GETs path with the viewer token, giving up after d (a hang
// guard: the answer is expected at once).
func getWithin(c *servertest.Collector, path string, d time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.URL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.ViewerToken)
	resp, err := c.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
