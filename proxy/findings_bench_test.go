package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// generateAnchorwatchLog writes n access.log lines in the anchorwatch
// logformat from 5,000 clients to 2,000 destinations: bumped tunnels and
// the requests inside them, with a few upstream failures and refusals.
func generateAnchorwatchLog(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	ts := int64(1796291000000)
	for i := 0; i < n; i++ {
		ts += int64(r.IntN(20))
		client := fmt.Sprintf("10.%d.%d.%d", r.IntN(20), r.IntN(250), r.IntN(250))
		host := fmt.Sprintf("site%d.example", r.IntN(2000))
		tail := "-/- bump " + host + " - /C=US/O=Example%20CA/CN=Example%20CA%20R3 /CN=" + host
		line := fmt.Sprintf("%d.%03d %6d %s TCP_MISS/200 %d GET https://%s/app.js - HIER_DIRECT/203.0.113.9 text/javascript %s",
			ts/1000, ts%1000, r.IntN(500), client, r.IntN(90000), host, tail)
		switch r.IntN(20) {
		case 0:
			line = fmt.Sprintf("%d.%03d %6d %s NONE_NONE/200 0 CONNECT %s:443 - HIER_DIRECT/203.0.113.9 - %s", ts/1000, ts%1000, 20, client, host, tail)
		case 1:
			line = fmt.Sprintf("%d.%03d %6d %s NONE_NONE/200 0 CONNECT %s:443 - HIER_NONE/- - ERR_SECURE_CONNECT_FAIL/X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY+broken_cert stare %s X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY@depth=0 /C=US/O=Example%%20CA/CN=Example%%20CA%%20R3 /CN=%s",
				ts/1000, ts%1000, 30, client, host, host, host)
		case 2:
			line = fmt.Sprintf("%d.%03d %6d %s NONE_NONE/200 0 CONNECT %s:443 - HIER_DIRECT/203.0.113.9 - ERR_SECURE_ACCEPT_FAIL/SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+TLS_IO_ERR=1 bump %s - - -",
				ts/1000, ts%1000, 10, client, host, host)
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

// BenchmarkScanAccessLogs is the findings scan rate on 1M lines.
func BenchmarkScanAccessLogs(b *testing.B) {
	const lines = 1_000_000
	data := generateAnchorwatchLog(lines)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := ScanAccessLogs(context.Background(), []io.Reader{bytes.NewReader(data)}, nil)
		if err != nil || f.Extended != lines {
			b.Fatalf("%+v %v", f, err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
