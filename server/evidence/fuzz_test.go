package evidence

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fuzzParse checks the invariants every parser keeps on any input: no
// panic, counts that add up, and only well-formed observations.
func fuzzParse(t *testing.T, format string, data []byte) {
	for _, opt := range []Options{
		{MaxLineBytes: 256, BatchLines: 3, Location: time.UTC, ModTime: time.Unix(1704877200, 0)},
		{Follow: true, Location: time.UTC, ModTime: time.Unix(1704877200, 0)},
	} {
		var lastOff int64
		st, err := Parse(context.Background(), format, bytes.NewReader(data), opt, func(b Batch) error {
			if b.Offset < lastOff || b.Offset > int64(len(data)) {
				t.Fatalf("batch offset %d after %d (input %d bytes)", b.Offset, lastOff, len(data))
			}
			lastOff = b.Offset
			for _, o := range b.Observations {
				if !o.IP.IsValid() && o.MAC == "" && o.Hostname == "" {
					t.Fatalf("observation with no identity: %+v", o)
				}
				if o.Count < 1 || o.Last.Before(o.Time) {
					t.Fatalf("bad interval or count: %+v", o)
				}
				if o.Source != format && !strings.HasPrefix(o.Source, format+":") {
					t.Fatalf("source %q from format %q", o.Source, format)
				}
				if len(o.Evidence) > 1024 || len(o.Hostname) > 253 {
					t.Fatalf("unbounded text: %+v", o)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if st.Lines != st.Parsed+st.Ignored+st.Malformed+st.TooLong+st.Partial && !opt.Follow {
			// A partial line is counted in Lines and Partial only;
			// a snapshot's unterminated line is a normal line.
			if st.Lines != st.Parsed+st.Ignored+st.Malformed+st.TooLong {
				t.Fatalf("stats do not add up: %+v", st)
			}
		}
		if st.Bytes > int64(len(data)) {
			t.Fatalf("consumed %d of %d bytes", st.Bytes, len(data))
		}
	}
}

func FuzzSquidAccess(f *testing.F) {
	f.Add(fixture(f, "squid-access.log"))
	f.Add(fixture(f, "squid-e2e-access.log"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, SourceSquidAccess, data) })
}

func FuzzSquidCache(f *testing.F) {
	f.Add(fixture(f, "squid-cache.log"))
	f.Add(fixture(f, "squid6-cache.log"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, SourceSquidCache, data) })
}

func FuzzDHCPD(f *testing.F) {
	f.Add(fixture(f, "dhcpd.leases"))
	f.Add(dhcpdJournal(12, 5))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, SourceDHCPD, data)
		fuzzDHCPDBatches(t, data)
	})
}

// fuzzDHCPDBatches: read in batches of a few lines, a lease journal
// yields the same stats as read whole, and for every address the last
// observation emitted is the one the whole read keeps.
func fuzzDHCPDBatches(t *testing.T, data []byte) {
	opt := Options{Location: time.UTC}
	whole := map[netip.Addr]Observation{}
	opt.BatchLines = 1 << 30
	wst, err := Parse(context.Background(), SourceDHCPD, bytes.NewReader(data), opt, func(b Batch) error {
		for _, o := range b.Observations {
			whole[o.IP] = o
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	last := map[netip.Addr]Observation{}
	opt.BatchLines = 2
	st, err := Parse(context.Background(), SourceDHCPD, bytes.NewReader(data), opt, func(b Batch) error {
		for _, o := range b.Observations {
			last[o.IP] = o
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st != wst {
		t.Fatalf("stats in batches %+v, read whole %+v", st, wst)
	}
	if len(last) != len(whole) {
		t.Fatalf("%d addresses in batches, %d read whole", len(last), len(whole))
	}
	for ip, w := range whole {
		if last[ip] != w {
			t.Fatalf("%s: newest in batches %+v, read whole %+v", ip, last[ip], w)
		}
	}
}

func FuzzKea(f *testing.F) {
	f.Add(fixture(f, "kea-leases4.csv"))
	f.Add(fixture(f, "kea-leases6.csv"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, SourceKea, data) })
}

func FuzzDnsmasq(f *testing.F) {
	f.Add(fixture(f, "dnsmasq.leases"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, SourceDnsmasq, data) })
}

func FuzzCSV(f *testing.F) {
	f.Add(fixture(f, "devices.csv"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, SourceCSV, data) })
}

// FuzzClassifySquidTLS: any detail string gets a known kind and a short
// printable reason, never a panic.
func FuzzClassifySquidTLS(f *testing.F) {
	for _, s := range []string{"SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+TLS_IO_ERR=1", "SQUID_TLS_ERR_ACCEPT+TLS_IO_ERR=5",
		"ERR_CLIENT_GONE", "error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca", "TLS_LIB_ERR=FFFFFFFFFFFFFFFFFFFF", "0x55dd036e57a0*1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, detail string) {
		kind, reason := ClassifySquidTLS(detail)
		switch kind {
		case KindCertificate, KindProtocol, KindTimeout, KindUnknown:
		default:
			t.Fatalf("kind %q", kind)
		}
		if reason == "" || len(reason) > 80 {
			t.Fatalf("reason %q", reason)
		}
		if got := KindOf(handshakeEvidence(kind, reason, detail)); got != kind {
			t.Fatalf("KindOf(evidence of %q) = %q", kind, got)
		}
	})
}
