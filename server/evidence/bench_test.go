package evidence

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// GenerateAccessLog writes n realistic Squid access.log lines from
// `clients` client addresses (a mix of plain HTTP, CONNECT and bumped
// HTTPS requests) into a buffer.
func generateAccessLog(n, clients int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(n * 130)
	methods := []string{"GET", "GET", "GET", "POST", "CONNECT", "HEAD"}
	codes := []string{"TCP_MISS/200", "TCP_TUNNEL/200", "NONE_NONE/200", "TCP_MISS/304", "TCP_DENIED/403", "TCP_MISS/502"}
	hosts := []string{"www.example.com", "cdn.example.net", "login.example.org", "api.example.io", "updates.example.com"}
	ts := int64(1704870000000)
	for i := 0; i < n; i++ {
		ts += int64(r.IntN(20))
		c := r.IntN(clients)
		m := methods[r.IntN(len(methods))]
		h := hosts[r.IntN(len(hosts))]
		url := fmt.Sprintf("https://%s/assets/%d/app.js?v=%d", h, r.IntN(1000), r.IntN(100000))
		if m == "CONNECT" {
			url = h + ":443"
		}
		fmt.Fprintf(&b, "%d.%03d %6d 10.%d.%d.%d %s %d %s %s - HIER_DIRECT/203.0.113.%d text/html\n",
			ts/1000, ts%1000, r.IntN(5000), c>>16&255, c>>8&255, c&255, codes[r.IntN(len(codes))],
			r.IntN(200000), m, url, r.IntN(250))
	}
	return b.Bytes()
}

// BenchmarkParseSquidAccess is the raw parse rate: 1M lines per op from
// 5,000 clients, aggregated per client per batch.
func BenchmarkParseSquidAccess(b *testing.B) {
	const lines = 1_000_000
	data := generateAccessLog(lines, 5000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var obs int
	for i := 0; i < b.N; i++ {
		obs = 0
		st, err := Parse(context.Background(), SourceSquidAccess, bytes.NewReader(data), Options{}, func(bt Batch) error {
			obs += len(bt.Observations)
			return nil
		})
		if err != nil || st.Parsed != lines {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(obs), "rows/op")
}
