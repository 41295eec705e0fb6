package evidence

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// parseAll runs Parse and returns every observation (copied) and the stats.
func parseAll(t testing.TB, format string, input []byte, opt Options) ([]Observation, Stats) {
	t.Helper()
	var out []Observation
	st, err := Parse(context.Background(), format, bytes.NewReader(input), opt, func(b Batch) error {
		out = append(out, b.Observations...)
		return nil
	})
	if err != nil {
		t.Fatalf("Parse(%s): %v", format, err)
	}
	return out, st
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// summary renders observations in a stable, readable form.
func summary(obs []Observation) []string {
	var s []string
	for _, o := range obs {
		line := fmt.Sprintf("%s ip=%v mac=%s host=%s %s..%s n=%d",
			o.Source, o.IP, o.MAC, o.Hostname, o.Time.Format(time.RFC3339), o.Last.Format(time.RFC3339), o.Count)
		if !o.LeaseEnd.IsZero() {
			line += " end=" + o.LeaseEnd.Format(time.RFC3339)
		}
		if o.Evidence != "" {
			line += " ev=" + o.Evidence
		}
		s = append(s, line)
	}
	sort.Strings(s)
	return s
}

func TestParseFixtures(t *testing.T) {
	modTime := time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)
	unknown5 := EvidenceHandshakeFailed + ": reason not logged (Squid 5 cache.log; log %err_code/%err_detail in access.log) (squid: failure while accepting a TLS connection)"
	tests := []struct {
		format, file string
		want         []string
		stats        Stats
	}{
		{
			format: SourceSquidAccess, file: "squid-access.log",
			want: []string{
				"squid-access ip=127.0.0.1 mac= host= 2026-11-25T00:11:06Z..2026-11-25T00:11:06Z n=1",
				"squid-access ip=127.0.0.2 mac= host= 2026-11-25T00:11:03Z..2026-11-25T00:11:06Z n=3",
				"squid-access ip=127.0.0.3 mac= host= 2026-11-25T00:11:03Z..2026-11-25T00:11:30Z n=3",
			},
			stats: Stats{Lines: 7, Parsed: 7},
		},
		{
			format: SourceSquidCache, file: "squid-cache.log",
			want: []string{
				"squid-cache ip=127.0.0.3 mac= host= 2026-11-25T00:10:45Z..2026-11-25T00:11:30Z n=2 ev=" + unknown5,
			},
			stats: Stats{Lines: 16, Parsed: 2, Ignored: 14},
		},
		{
			format: SourceSquidAccess, file: "squid-e2e-access.log",
			want: []string{
				"squid-access ip=127.0.0.1 mac= host= 2026-12-03T09:58:41Z..2026-12-03T09:58:41Z n=1",
				"squid-access ip=127.0.0.2 mac= host= 2026-12-03T09:58:41Z..2026-12-03T09:58:41Z n=2",
				"squid-access ip=127.0.0.3 mac= host= 2026-12-03T09:58:41Z..2026-12-03T09:58:41Z n=1 ev=" + EvidenceRejectedCA +
					": client alert unknown ca (squid: ERR_SECURE_ACCEPT_FAIL/SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+TLS_IO_ERR=1)",
				"squid-access ip=127.0.0.4 mac= host= 2026-12-03T09:58:41Z..2026-12-03T09:58:41Z n=1 ev=" + EvidenceProtocol +
					": no suitable signature algorithm (squid: ERR_SECURE_ACCEPT_FAIL/SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000076+TLS_IO_ERR=1)",
				"squid-access ip=127.0.0.5 mac= host= 2026-12-03T09:58:43Z..2026-12-03T09:58:43Z n=1 ev=" + EvidenceTimeout +
					": the client went away or timed out before the handshake finished (squid: ERR_CLIENT_GONE/WITH_CLIENT)",
			},
			stats: Stats{Lines: 6, Parsed: 6},
		},
		{
			format: SourceSquidCache, file: "squid6-cache.log",
			want: []string{
				"squid-cache ip=10.0.0.5 mac= host= 2024-01-10T09:00:00Z..2024-01-10T09:00:00Z n=1 ev=" + EvidenceRejectedCA +
					": client alert unknown ca (squid: failure while accepting a TLS connection: SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+TLS_IO_ERR=1)",
				"squid-cache ip=10.0.0.6 mac= host= 2024-01-10T09:00:07Z..2024-01-10T09:00:07Z n=1 ev=" + EvidenceProtocol +
					": no shared cipher (squid: failure while accepting a TLS connection: SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A0000C1+TLS_IO_ERR=1)",
				"squid-cache ip=10.0.0.7 mac= host= 2024-01-10T09:00:09Z..2024-01-10T09:00:09Z n=1 ev=" + EvidenceTimeout +
					": the client closed the connection during the handshake (squid: failure while accepting a TLS connection: SQUID_TLS_ERR_ACCEPT+TLS_IO_ERR=5)",
				"squid-cache ip=2001:db8::5 mac= host= 2024-01-10T09:00:05Z..2024-01-10T09:00:05Z n=1 ev=" + EvidenceRejectedCA +
					": client alert certificate unknown (squid: failure while accepting a TLS connection: SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000416+TLS_IO_ERR=1)",
			},
			stats: Stats{Lines: 10, Parsed: 4, Ignored: 6, Unattributed: 1},
		},
		{
			format: SourceDHCPD, file: "dhcpd.leases",
			want: []string{
				"dhcpd ip=192.168.1.100 mac=00:11:22:33:44:66 host=tablet-9 2024-01-10T12:00:00Z..2024-01-10T12:00:00Z n=1 end=2024-01-11T00:00:00Z",
				"dhcpd ip=192.168.1.101 mac=aa:bb:cc:dd:ee:01 host=pixel-7 2024-01-10T10:00:00Z..2024-01-10T10:00:00Z n=1 end=2024-01-10T22:00:00Z",
			},
			// The .102 block lacks a ';' (malformed statement, block dropped).
			stats: Stats{Lines: 47, Parsed: 3, Ignored: 42, Malformed: 2},
		},
		{
			format: SourceKea, file: "kea-leases4.csv",
			want: []string{
				"kea ip=192.168.2.10 mac=00:11:22:33:44:55 host=laptop-3 2024-01-10T08:00:00Z..2024-01-10T09:00:00Z n=2 end=2024-01-10T10:00:00Z",
				"kea ip=192.168.2.11 mac=aa:bb:cc:dd:ee:02 host= 2024-01-10T08:01:40Z..2024-01-10T08:01:40Z n=1 end=2024-01-10T09:01:40Z",
			},
			stats: Stats{Lines: 6, Parsed: 3, Ignored: 2, Malformed: 1},
		},
		{
			format: SourceKea, file: "kea-leases6.csv",
			want: []string{
				"kea ip=2001:db8:1::10 mac=52:54:00:00:00:01 host=ws-6 2024-01-10T07:53:20Z..2024-01-10T07:53:20Z n=1 end=2024-01-10T09:00:00Z",
			},
			stats: Stats{Lines: 2, Parsed: 1, Ignored: 1},
		},
		{
			format: SourceDnsmasq, file: "dnsmasq.leases",
			want: []string{
				"dnsmasq ip=192.168.3.50 mac=00:11:22:33:44:55 host=laptop-2 2024-01-10T09:00:00Z..2024-01-10T09:00:00Z n=1 end=2024-01-10T09:00:00Z",
				"dnsmasq ip=192.168.3.51 mac=aa:bb:cc:dd:ee:04 host= 2024-01-10T09:00:00Z..2024-01-10T09:00:00Z n=1",
				"dnsmasq ip=2001:db8::50 mac= host=laptop-2 2024-01-10T09:00:00Z..2024-01-10T09:00:00Z n=1 end=2024-01-10T09:00:00Z",
			},
			stats: Stats{Lines: 5, Parsed: 3, Ignored: 1, Malformed: 1},
		},
		{
			format: SourceCSV, file: "devices.csv",
			want: []string{
				"csv ip=10.0.0.8 mac= host= 2024-01-10T09:00:00Z..2024-01-10T09:00:00Z n=1",
				"csv:arpwatch ip=10.0.0.7 mac=00:11:22:33:44:55 host=printer-2 2024-01-10T08:00:00Z..2024-01-10T08:00:00Z n=1",
				"csv:nac ip=invalid IP mac=aa:bb:cc:dd:ee:05 host=phone.example 2024-01-10T08:00:00Z..2024-01-10T08:00:00Z n=1",
			},
			stats: Stats{Lines: 6, Parsed: 3, Ignored: 1, Malformed: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			input := fixture(t, tt.file)
			obs, st := parseAll(t, tt.format, input, Options{Location: time.UTC, ModTime: modTime})
			got := summary(obs)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("observations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			tt.stats.Bytes = int64(len(input))
			if st != tt.stats {
				t.Errorf("stats = %+v, want %+v", st, tt.stats)
			}
			if st.Lines != st.Parsed+st.Ignored+st.Malformed+st.TooLong {
				t.Errorf("stats do not add up: %+v", st)
			}
		})
	}
}
