package devices

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/evidence"
)

func accessLine(i, client int) string {
	return fmt.Sprintf("%d.%03d %6d 10.%d.%d.%d TCP_MISS/200 %d GET https://www.example.com/a/%d.js - HIER_DIRECT/203.0.113.7 text/html\n",
		1704870000+i/50, i%1000, i%5000, client>>16&255, client>>8&255, client&255, 1000+i%9000, i%977)
}

// BenchmarkIngestSquidSQLite is the end-to-end figure: a Squid access.log
// of 2M lines (ANCHORWATCH_BENCH_LINES to change it, e.g. 50000000) from
// 5,000 clients ingested from disk into the collector's SQLite database
// (parse, aggregate, upsert, checkpoint), per op.
func BenchmarkIngestSquidSQLite(b *testing.B) {
	lines := int64(2_000_000)
	if v, err := strconv.ParseInt(os.Getenv("ANCHORWATCH_BENCH_LINES"), 10, 64); err == nil && v > 0 {
		lines = v
	}
	path := filepath.Join(b.TempDir(), "access.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < int(lines); i++ {
		w.WriteString(accessLine(i, (i*7919)%5000))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_, d := openTest(b)
		b.StartTimer()
		st, err := evidence.IngestFile(context.Background(), d, evidence.SourceSquidAccess, path, evidence.IngestOptions{})
		if err != nil || st.Parsed != lines {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkListDevices is the cost of matching, which every device query
// and (cached) scrape pays: 50,000 observation rows (5,000 clients over
// 10 days, a DHCP lease for each) against 1,000 enrolled hosts.
func BenchmarkListDevices(b *testing.B) {
	st, d := openTest(b)
	ctx := context.Background()
	for h := 0; h < 1000; h++ {
		enroll(b, st, fmt.Sprintf("host-%d", h), t0, []string{fmt.Sprintf("10.0.%d.%d", h>>8, h&255)}, nil)
	}
	var obs []evidence.Observation
	for day := 0; day < 10; day++ {
		for c := 0; c < 5000; c++ {
			at := t0.Add(time.Duration(day)*24*time.Hour + time.Duration(c)*time.Second)
			ip := fmt.Sprintf("10.0.%d.%d", c>>8, c&255)
			obs = append(obs, obs1(evidence.SourceSquidAccess, ip, "", at))
			if day == 0 {
				o := obs1(evidence.SourceDHCPD, ip, fmt.Sprintf("02:00:00:00:%02x:%02x", c>>8, c&255), at)
				o.LeaseEnd = at.Add(240 * time.Hour)
				obs = append(obs, o)
			}
		}
	}
	if err := d.AddObservations(ctx, obs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		all, err := d.List(ctx, Filter{Statuses: api.DeviceStatuses(), Now: t0})
		if err != nil {
			b.Fatal(err)
		}
		n = len(all)
	}
	b.ReportMetric(float64(n), "devices")
	b.ReportMetric(float64(len(obs)), "rows")
}

func obs1(src, ip, mac string, at time.Time) evidence.Observation {
	return evidence.Observation{Source: src, IP: netip.MustParseAddr(ip), MAC: mac, Time: at, Last: at, Count: 1}
}
