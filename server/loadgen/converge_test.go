package loadgen_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/loadgen"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// uploader publishes throwaway-signed policies of rising serials through
// the admin API (the collector checks the signature, not the signer).
func uploader(t testing.TB, c *servertest.Collector) func(context.Context) (int64, error) {
	var serial atomic.Int64
	serial.Store(100)
	return func(ctx context.Context) (int64, error) {
		n := serial.Add(1)
		if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, signedPolicy(t, n)); code != 200 {
			return 0, fmt.Errorf("upload: %d %s", code, body)
		}
		return n, nil
	}
}

// agentClients gives each group of perConn agents one HTTP/2 client
// (its own TLS connection) trusting the collector.
func agentClients(c *servertest.Collector, agents, perConn int) func(int) *http.Client {
	base := c.Client().Transport.(*http.Transport).TLSClientConfig
	clients := make([]*http.Client, (agents+perConn-1)/perConn)
	for i := range clients {
		clients[i] = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: base.Clone(), ForceAttemptHTTP2: true}}
	}
	return func(i int) *http.Client { return clients[i/perConn] }
}

// TestConverge: simulated agents holding policy waits at the real
// collector all report a new upload's serial, the collector shows them on
// it, and the report load ran before and during the rollout.
func TestConverge(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{HTTP2: true})
	upload := uploader(t, c)
	if _, err := upload(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 200
	res, err := loadgen.Converge(context.Background(), loadgen.ConvergeConfig{
		Config: loadgen.Config{URL: c.URL, EnrollSecret: c.EnrollSecret, Client: c.Client(), Hosts: n, Rate: 200, Concurrency: 16, Seed: 2},
		Upload: upload, AgentClient: agentClients(c, n, 50), Baseline: 2 * time.Second, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Agents != n || res.Reached != n || res.Serial != 102 || res.P100 == 0 || res.P50 > res.P99 || res.P99 > res.P100 {
		t.Fatalf("convergence: %s", res)
	}
	if res.Before.PerSecond == 0 || res.During.PerSecond == 0 || res.Before.Errors+res.During.Errors != 0 {
		t.Fatalf("report load: before %s, during %s", res.Before, res.During)
	}
	var ro api.Rollout
	code, body := c.Do(t, "GET", api.PathRollout, c.ViewerToken, nil)
	if code != 200 {
		t.Fatalf("rollout: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &ro); err != nil {
		t.Fatal(err)
	}
	if ro.Serial != 102 || ro.Now.On != n || ro.Now.Older != 0 || ro.Now.Silent != 0 {
		t.Fatalf("rollout after convergence: %+v", ro)
	}
}

// BenchmarkConverge measures the time from a policy upload until 50, 99
// and 100% of 10,000 simulated agents reported its serial, with the
// fleet's usual reports going on (10,000 hosts at the default 5-minute
// heartbeat: 34/s; a tenth of them full) before and during the rollout.
// The agents share HTTP/2 connections, 100 to each (a client's stream
// limit until the server's SETTINGS arrive): 100 TLS connections, so
// that collector and agents fit one process's file descriptors; the CLI
// (collector loadgen --converge-policy) gives each agent its own.
func BenchmarkConverge(b *testing.B) {
	c := servertest.StartCollector(b, servertest.Options{HTTP2: true})
	upload := uploader(b, c)
	if _, err := upload(context.Background()); err != nil {
		b.Fatal(err)
	}
	n := benchAgents
	for i := 0; i < b.N; i++ {
		res, err := loadgen.Converge(context.Background(), loadgen.ConvergeConfig{
			Config: loadgen.Config{URL: c.URL, EnrollSecret: c.EnrollSecret, Client: c.Client(), Hosts: n, Rate: float64(n) / 300, Concurrency: 64, Seed: uint64(i + 10)},
			Upload: upload, AgentClient: agentClients(c, n, 100), Baseline: 10 * time.Second, Timeout: 2 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.Log(res)
		b.ReportMetric(res.P50.Seconds(), "s-to-50%")
		b.ReportMetric(res.P99.Seconds(), "s-to-99%")
		b.ReportMetric(res.P100.Seconds(), "s-to-100%")
		b.ReportMetric(res.Before.PerSecond, "reports/s-before")
		b.ReportMetric(res.During.PerSecond, "reports/s-during")
	}
}

// signedPolicy signs a policy of serial with a throwaway signer.
func signedPolicy(t testing.TB, serial int64) []byte {
	t.Helper()
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca, _ := json.Marshal(string(testpki.PEM(testpki.NewCA(t, "Corp Interception CA").Cert)))
	blob, err := policy.Sign([]byte(fmt.Sprintf(`{"serial": %d, "anchors": [{"pem": %s}]}`, serial, ca)), signer, key)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// benchAgents is BenchmarkConverge's fleet (-agents to change it).
var benchAgents = 10000

func init() { flag.IntVar(&benchAgents, "agents", benchAgents, "BenchmarkConverge: simulated agents") }
