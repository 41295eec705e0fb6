package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// startHAProxy runs Debian's haproxy on 127.0.0.1 in front of the
// collectors at backends (http://host:port), round robin with TCP health
// checks, for t; it returns the URL to send to.
func startHAProxy(t testing.TB, backends []string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			t.Fatal("haproxy not found: install the Debian package haproxy")
		}
		bin = "/usr/sbin/haproxy"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var servers strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&servers, "  server c%d %s check inter 500ms\n", i+1, strings.TrimPrefix(b, "http://"))
	}
	cfg := `global
  maxconn 8192
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
frontend agents
  bind ` + addr + `
  default_backend collectors
backend collectors
  balance roundrobin
` + servers.String()
	dir := t.TempDir()
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
	cmd := exec.Command(bin, "-db", "-f", file)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("haproxy did not start listening")
	return ""
}

// scaleOut is PostgreSQL with n collector processes behind HAProxy.
type scaleOut struct {
	pg     *servertest.PostgresCluster
	dbURL  string
	secret string
	url    string // HAProxy
}

func startScaleOut(t testing.TB, n int, durable bool) *scaleOut {
	t.Helper()
	c, err := servertest.NewPostgresCluster(servertest.PostgresOptions{Durable: durable})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	u, err := c.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	secret := initDB(t, u)
	dir := t.TempDir()
	var backends []string
	for i := 0; i < n; i++ {
		_, url := startChildMode(t, "collector", u, dir, "")
		backends = append(backends, url)
	}
	return &scaleOut{pg: c, dbURL: u, secret: secret, url: startHAProxy(t, backends)}
}

// TestTwoCollectorsPostgresRestart: two collector processes on one
// PostgreSQL behind a real HAProxy; agents report (re-sending a report
// until it is acknowledged, as the agent does) while PostgreSQL restarts.
// Every acknowledged report is stored exactly once with its event, no
// report is stored that was not sent, and the fleet counters match a
// recount.
func TestTwoCollectorsPostgresRestart(t *testing.T) {
	so := startScaleOut(t, 2, false)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const hosts = 32
	keys := enrollHosts(t, client, so.url, so.secret, "ha", hosts)
	a := startAgents(t, so.url, client, keys)
	a.waitAcks(t, 1000, 2*time.Minute)
	before := time.Now()
	beforeAcks := a.ackCount.Load()
	if err := so.pg.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL restarted in %v", time.Since(before).Round(time.Millisecond))
	a.waitAcks(t, 1000, 2*time.Minute)
	a.halt()
	elapsed := time.Since(before)
	codes := a.snapshot()
	t.Logf("answers %v; %d reports acknowledged (%d since the restart began, %v ago)", codes, len(a.acked), a.ackCount.Load()-beforeAcks, elapsed.Round(time.Millisecond))
	if codes[http.StatusServiceUnavailable]+codes[http.StatusBadGateway]+codes[0] == 0 {
		t.Error("no request failed while PostgreSQL restarted: the restart was not under load")
	}
	if codes[http.StatusInternalServerError] != 0 {
		t.Errorf("%d answers 500: a lost connection must be 503 (retryable)", codes[http.StatusInternalServerError])
	}
	st, err := db.OpenExisting(context.Background(), so.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkStored(t, st, a.acked)
	var stored int
	if err := st.ReadDB().QueryRow("SELECT COUNT(*) FROM reports").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	// Each agent may have had one report in flight when it stopped.
	if extra := stored - len(a.acked); extra < 0 || extra > hosts {
		t.Errorf("%d reports stored for %d acknowledged (%d agents)", stored, len(a.acked), hosts)
	}
	var dupEvents int
	if err := st.ReadDB().QueryRow("SELECT COUNT(*) FROM (SELECT host_id, event_id FROM events GROUP BY host_id, event_id HAVING COUNT(*) > 1) AS d").Scan(&dupEvents); err != nil || dupEvents != 0 {
		t.Errorf("%d events stored twice (%v)", dupEvents, err)
	}
	got, _ := st.Aggregates(context.Background())
	want, _ := st.RecountAggregates(context.Background())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fleet counters after the restart differ from a recount:\n got %v\nwant %v", got, want)
	}
	lat := append([]time.Duration(nil), a.lat...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("acknowledgement latency through the restart (resends included): p50 %v, p99 %v, max %v",
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
