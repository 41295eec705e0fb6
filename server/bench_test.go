package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/loadgen"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
)

// Benchmarks take their size from the environment so CI stays short:
//
//	AW_BENCH_DURATION  sustained-load length (default 15s)
//	AW_BENCH_RATE      offered reports/s (default 0: as fast as possible)
//	AW_BENCH_FULL      share of full reports (default 0.1)
//	AW_BENCH_HOSTS     simulated hosts for the load (default 10000)
//	AW_BENCH_FLEET     hosts in the query database (default 100000; the
//	                   figures in docs/collector.md use 1000000)
//	AW_BENCH_CONC      requests in flight (default 512)
//	AW_BENCH_TLS       "0" for plain HTTP (default TLS, as shipped)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

// vmHWM reads a process's peak resident set size in MB.
func vmHWM(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func benchDB(b *testing.B, name, dir string) string {
	if name == "sqlite" {
		return filepath.Join(dir, "collector.db")
	}
	c, err := servertest.NewPostgresCluster(servertest.PostgresOptions{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Stop() })
	u, err := c.NewDatabase(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// benchChild starts a collector on dbURL (with an enroll secret) or the
// no-op handler (mode "noop") in a child process, over TLS unless
// AW_BENCH_TLS=0, and returns it, its URL and the secret.
func benchChild(b *testing.B, mode, dbURL string) (*exec.Cmd, string, string) {
	dir := b.TempDir()
	secret := "aws_noop"
	if mode == "collector" {
		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			b.Fatal(err)
		}
		if secret, err = st.AddSecret(context.Background(), "bench"); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	tlsDir := dir
	if os.Getenv("AW_BENCH_TLS") == "0" {
		tlsDir = ""
	}
	cmd, url := startChildMode(b, mode, dbURL, dir, tlsDir)
	return cmd, url, secret
}

// runLoad starts a collector (or the no-op handler) in a child process and
// drives it with loadgen; it reports reports/s, p99 latency and the
// child's peak RSS.
func runLoad(b *testing.B, mode, dbURL string) {
	cmd, url, secret := benchChild(b, mode, dbURL)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 512, MaxIdleConns: 512}}
	b.ResetTimer()
	var cpu0 time.Duration
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, EnrollSecret: secret, Client: client,
		Hosts: envInt("AW_BENCH_HOSTS", 10000), Rate: envFloat("AW_BENCH_RATE", 0), FullRatio: envFloat("AW_BENCH_FULL", 0.1),
		Duration: time.Duration(envInt("AW_BENCH_DURATION", 15)) * time.Second, Concurrency: envInt("AW_BENCH_CONC", 512),
		PhaseStart: func(p string) {
			if p == "report" {
				cpu0 = cpuTime(cmd.Process.Pid)
			}
		}})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Acked > 0 {
		b.ReportMetric(float64((cpuTime(cmd.Process.Pid)-cpu0).Microseconds())/float64(res.Acked), "server_cpu_µs/report")
	}
	if res.Errors > 0 {
		b.Errorf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	b.ReportMetric(res.PerSecond, "reports/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(vmHWM(cmd.Process.Pid), "rss_MB")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s", res)
}

// BenchmarkSustainedLoad: the real collector, SQLite and PostgreSQL.
func BenchmarkSustainedLoad(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runLoad(b, "collector", benchDB(b, name, b.TempDir()))
			}
		})
	}
}

// BenchmarkNoopHandler: the same HTTP stack and load, storing nothing.
func BenchmarkNoopHandler(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runLoad(b, "noop", "")
	}
}

// benchReports builds n full reports of ten stores for hosts.
func benchReports(hosts []int64, n, round int) []store.ReportIn {
	out := make([]store.ReportIn, n)
	for i := range out {
		r := &api.ReportRequest{ReportID: fmt.Sprintf("b-%d-%d", round, i), Kind: api.ReportFull, PolicySerial: 1, StateHash: fmt.Sprintf("s-%d-%d", round, i)}
		for j := 0; j < 10; j++ {
			st := stores.StatusCompliant
			if (i+j+round)%17 == 0 {
				st = stores.StatusMissing
			}
			r.Stores = append(r.Stores, api.StoreStatus{ID: fmt.Sprintf("nss:/home/u%d/.pki/nssdb", j), Kind: stores.KindNSS, Path: "/p", Status: st})
		}
		out[i] = store.ReportIn{HostID: hosts[i%len(hosts)], Report: r, Received: time.Now()}
	}
	return out
}

// BenchmarkWriteVsRawInsert compares the collector's write path without
// HTTP (store.WriteBatch of 500 full reports of 10 stores) with raw
// INSERTs of the same rows (report ids, stores, host update) in one
// transaction: the database's own limit.
func BenchmarkWriteVsRawInsert(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			wround := 0
			st, err := store.Open(ctx, benchDB(b, name, b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var hosts []int64
			for i := 0; i < 5000; i += 1000 {
				var en []store.EnrollIn
				for j := 0; j < 1000; j++ {
					en = append(en, store.EnrollIn{NodeKey: fmt.Sprint("k", i+j), Now: time.Now(), Facts: api.HostFacts{Hostname: fmt.Sprint("h", i+j), OS: "linux"}})
				}
				eo, _, err := st.WriteBatch(ctx, en, nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range eo {
					hosts = append(hosts, e.HostID)
				}
			}
			const batch = 500
			b.Run("WriteBatch", func(b *testing.B) {
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					wround++
					reps := benchReports(hosts[(i*batch)%len(hosts):], batch, wround)
					b.StartTimer()
					if _, _, err := st.WriteBatch(ctx, nil, reps); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "reports/s")
			})
			round := 1000000
			b.Run("RawInsert", func(b *testing.B) {
				db := st.DB()
				ph := func(n, cols int, pg bool) string {
					var sb strings.Builder
					k := 0
					for r := 0; r < n; r++ {
						if r > 0 {
							sb.WriteByte(',')
						}
						sb.WriteByte('(')
						for c := 0; c < cols; c++ {
							if c > 0 {
								sb.WriteByte(',')
							}
							k++
							if pg {
								fmt.Fprintf(&sb, "$%d", k)
							} else {
								sb.WriteByte('?')
							}
						}
						sb.WriteByte(')')
					}
					return sb.String()
				}
				pg := st.Dialect() == store.Postgres
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					round++
					reps := benchReports(hosts[(i*batch)%len(hosts):], batch, round)
					b.StartTimer()
					tx, err := db.Begin()
					if err != nil {
						b.Fatal(err)
					}
					var ra, sa, ha []any
					for _, r := range reps {
						ra = append(ra, r.HostID, r.Report.ReportID, r.Report.Kind, r.Received.UnixMilli())
						ha = append(ha, r.HostID)
						for _, s := range r.Report.Stores {
							sa = append(sa, r.HostID, fmt.Sprint(s.ID, "#", round), s.Kind, s.Path, "", "", s.Status, "")
						}
					}
					if _, err := tx.Exec("INSERT INTO reports (host_id, report_id, kind, received_at) VALUES "+ph(batch, 4, pg), ra...); err != nil {
						b.Fatal(err)
					}
					for k := 0; k < len(sa); k += 8 * 500 {
						part := sa[k:min(k+8*500, len(sa))]
						if _, err := tx.Exec("INSERT INTO host_stores (host_id, store_id, kind, path, format, owner, status, detail) VALUES "+ph(len(part)/8, 8, pg), part...); err != nil {
							b.Fatal(err)
						}
					}
					in := strings.TrimSuffix(strings.Repeat("?,", len(ha)), ",")
					if pg {
						in = strings.TrimPrefix(ph(len(ha), 1, true), "(")
						in = strings.NewReplacer("(", "", ")", "").Replace(in)
					}
					if _, err := tx.Exec(fmt.Sprintf("UPDATE hosts SET last_seen = %d WHERE id IN (%s)", time.Now().UnixMilli(), in), ha...); err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "reports/s")
			})
		})
	}
}

// fleetDB returns a store holding AW_BENCH_FLEET hosts. The SQLite file
// is kept in the temp dir between runs (it takes minutes to fill).
func fleetDB(b *testing.B, name string) *store.Store {
	n := envInt("AW_BENCH_FLEET", 100000)
	ctx := context.Background()
	var u string
	fresh := true
	if name == "sqlite" {
		u = filepath.Join(os.TempDir(), fmt.Sprintf("anchorwatch-bench-fleet-v%d-%d.db", store.SchemaVersion(), n))
		if _, err := os.Stat(u + ".done"); err == nil {
			fresh = false
		} else {
			os.Remove(u)
			os.Remove(u + "-wal")
		}
	} else {
		u = benchDB(b, name, "")
	}
	st, err := store.Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if fresh {
		start := time.Now()
		if err := loadgen.Seed(ctx, st, n, 10, nil); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d hosts (10 stores each) into %s in %v", n, name, time.Since(start).Round(time.Second))
		start = time.Now()
		if name == "sqlite" {
			st.DB().Exec("ANALYZE")
			os.WriteFile(u+".done", nil, 0o600)
		} else {
			st.DB().Exec("VACUUM ANALYZE")
		}
		b.Logf("analyzed in %v", time.Since(start).Round(time.Second))
	}
	return st
}

// BenchmarkFleetQueries: the fleet summary and filtered host pages over
// AW_BENCH_FLEET hosts.
func BenchmarkFleetQueries(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			st := fleetDB(b, name)
			ctx := context.Background()
			b.Run("Summary", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := st.Summary(ctx, time.Now(), 24*time.Hour); err != nil {
						b.Fatal(err)
					}
				}
			})
			serial := int64(2)
			for _, f := range []struct {
				name string
				f    store.HostFilter
			}{
				{"HostsPage/status+os", store.HostFilter{Status: store.StatusNoncompliant, OS: "windows"}},
				{"HostsPage/policy_serial+offline", store.HostFilter{PolicySerial: &serial, SeenBefore: time.Now().Add(-24 * time.Hour)}},
				{"HostsPage/store_kind+status", store.HostFilter{StoreKind: stores.KindJava, StoreStatus: stores.StatusMissing}},
				{"HostsPage/store_status+os", store.HostFilter{StoreStatus: stores.StatusError, OS: "darwin"}},
				{"HostsPage/store_kind+status+host_status", store.HostFilter{StoreKind: stores.KindNSS, StoreStatus: stores.StatusUntrusted, Status: store.StatusNoncompliant}},
				{"HostsPage/hostname", store.HostFilter{Hostname: "host-00123"}},
				{"HostsPage/hostname_common", store.HostFilter{Hostname: "CORP.example"}},
				{"HostsPage/hostname+store", store.HostFilter{Hostname: "host-0012", StoreStatus: stores.StatusMissing}},
				{"HostsPage/deep_cursor", store.HostFilter{Status: store.StatusCompliant, AfterID: 900000}},
			} {
				b.Run(f.name, func(b *testing.B) {
					f.f.Limit = 100
					for i := 0; i < b.N; i++ {
						if _, err := st.ListHosts(ctx, f.f); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// loadAvg reads the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuTime is the user+system CPU time of process pid so far.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])  // fields from 3 (state) on
	utime, _ := strconv.ParseInt(f[11], 10, 64)               // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64)               // field 15
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// selfCPU is this process's user+system CPU time (the load generator).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// saturation is one saturation run with the CPU time each side spent per
// acknowledged report (whole run: enrollment and warm-up included).
type saturation struct {
	*loadgen.Saturation
	serverCPU, clientCPU time.Duration // per acknowledged report
}

// saturate starts mode ("noop" or "collector" on dbURL) in a child process
// on the shipped stack (TLS unless AW_BENCH_TLS=0) and measures its
// maximum sustained rate with loadgen.Saturate.
func saturate(b *testing.B, mode, dbURL string) saturation {
	cmd, url, secret := benchChild(b, mode, dbURL)
	srv0, cli0 := cpuTime(cmd.Process.Pid), selfCPU()
	res := saturateURL(b, url, secret)
	out := saturation{Saturation: res}
	if res.Acked > 0 {
		out.serverCPU = (cpuTime(cmd.Process.Pid) - srv0) / time.Duration(res.Acked)
		out.clientCPU = (selfCPU() - cli0) / time.Duration(res.Acked)
	}
	return out
}

func saturateURL(b *testing.B, url, secret string) *loadgen.Saturation {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}
	res, err := loadgen.Saturate(context.Background(), loadgen.SaturateConfig{
		Config: loadgen.Config{URL: url, EnrollSecret: secret, Client: client, Hosts: envInt("AW_BENCH_HOSTS", 5000),
			FullRatio: envFloat("AW_BENCH_FULL", 0.1), Concurrency: envInt("AW_BENCH_CONC", 512)},
		StartRate: envFloat("AW_BENCH_START", 500), Factor: envFloat("AW_BENCH_FACTOR", 1.25),
		StepDuration: time.Duration(envInt("AW_BENCH_STEP", 5)) * time.Second,
		Step:         func(s loadgen.Step) { b.Logf("%s", s) },
	})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkSaturation measures capacity, not an offered rate: the maximum
// sustained reports/s (p99 ≤ 100 ms, no error) of the no-op handler on the
// collector's HTTP stack, and of the collector on SQLite and on
// PostgreSQL, one after the other in one run, with the load average.
//
//	go test -run '^$' -bench Saturation -benchtime 1x ./server/
func BenchmarkSaturation(b *testing.B) {
	type row struct {
		name                 string
		max                  loadgen.Step
		serverCPU, clientCPU time.Duration
	}
	var rows []row
	b.Logf("load average before: %s", loadAvg())
	for _, c := range []struct{ name, mode, db string }{{"noop", "noop", ""}, {"sqlite", "collector", "sqlite"}, {"postgres", "collector", "postgres"}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				db := ""
				if c.db != "" {
					db = benchDB(b, c.db, b.TempDir())
				}
				res := saturate(b, c.mode, db)
				b.ReportMetric(res.Max.Achieved, "max_reports/s")
				b.ReportMetric(float64(res.Max.P99.Microseconds())/1000, "p99_ms")
				b.ReportMetric(float64(res.serverCPU.Microseconds()), "server_cpu_µs/report")
				b.ReportMetric(float64(res.clientCPU.Microseconds()), "loadgen_cpu_µs/report")
				b.ReportMetric(0, "ns/op")
				rows = append(rows, row{c.name, res.Max, res.serverCPU, res.clientCPU})
			}
		})
	}
	b.Logf("load average after: %s", loadAvg())
	var noop float64
	for _, r := range rows {
		if r.name == "noop" {
			noop = r.max.Achieved
		}
	}
	for _, r := range rows {
		share := ""
		if noop > 0 {
			share = fmt.Sprintf(" (%.0f%% of the no-op handler)", 100*r.max.Achieved/noop)
		}
		b.Logf("%-9s max sustained %6.0f reports/s, p99 %v%s; CPU per report: server %v, load generator %v",
			r.name, r.max.Achieved, r.max.P99.Round(100*time.Microsecond), share, r.serverCPU, r.clientCPU)
	}
}

// BenchmarkHAProxyPostgres: the maximum sustained rate through HAProxy of
// one and of two collector processes on one PostgreSQL (durable).
func BenchmarkHAProxyPostgres(b *testing.B) {
	b.Logf("load average before: %s", loadAvg())
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("collectors=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				so := startScaleOut(b, n, true)
				res := saturateURL(b, so.url, so.secret)
				b.ReportMetric(res.Max.Achieved, "max_reports/s")
				b.ReportMetric(float64(res.Max.P99.Microseconds())/1000, "p99_ms")
				b.ReportMetric(0, "ns/op")
				b.Logf("%d collectors: max sustained %.0f reports/s, p99 %v", n, res.Max.Achieved, res.Max.P99.Round(100*time.Microsecond))
			}
		})
	}
	b.Logf("load average after: %s", loadAvg())
}
