package evidence

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// dhcpdJournal writes n lease blocks over `addrs` addresses, in the order
// dhcpd appends them: each address is written again, with a later time
// and the next MAC, every time it comes round.
func dhcpdJournal(n, addrs int) []byte {
	var b bytes.Buffer
	b.WriteString("# The format of this file is documented in the dhcpd.leases(5) manual page.\nauthoring-byte-order little-endian;\n\n")
	t := time.Date(2024, 1, 10, 8, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		at := t.Add(time.Duration(i) * time.Minute).Format("2006/01/02 15:04:05")
		fmt.Fprintf(&b, "lease 10.1.%d.%d {\n  starts 3 %s;\n  ends never;\n  cltt 3 %s;\n  binding state active;\n"+
			"  hardware ethernet 02:00:00:00:%02x:%02x;\n  client-hostname \"host-%d\";\n}\n",
			i%addrs/256, i%addrs%256, at, at, i/addrs/256%256, i/addrs%256, i)
	}
	return b.Bytes()
}

// TestDHCPDStreamsInBatches: a lease journal is emitted batch by batch,
// never splitting a block; no address repeats within a batch; and for
// every address the last observation emitted is the one read whole (the
// last block written for it), so a store keeping the newest loses nothing.
func TestDHCPDStreamsInBatches(t *testing.T) {
	data := dhcpdJournal(5000, 700)
	whole, wst := parseAll(t, SourceDHCPD, data, Options{BatchLines: 1 << 30})
	if len(whole) != 700 || wst.Parsed != 5000 || wst.Malformed != 0 {
		t.Fatalf("read whole: %d observations, %+v", len(whole), wst)
	}
	var batches int
	last := map[netip.Addr]Observation{}
	st, err := Parse(context.Background(), SourceDHCPD, bytes.NewReader(data), Options{BatchLines: 1000}, func(b Batch) error {
		batches++
		if b.Offset < 2 || !bytes.HasSuffix(data[:b.Offset], []byte("\n}\n")) {
			t.Fatalf("batch %d ends at byte %d, inside a lease block: %q", batches, b.Offset, data[max(0, b.Offset-40):b.Offset])
		}
		inBatch := map[netip.Addr]bool{}
		for _, o := range b.Observations {
			if inBatch[o.IP] {
				t.Fatalf("batch %d holds %s twice", batches, o.IP)
			}
			inBatch[o.IP] = true
			last[o.IP] = o
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if batches < 30 {
		t.Errorf("%d batches for %d lines of 1000: the journal was not streamed", batches, st.Lines)
	}
	if st != wst {
		t.Errorf("stats in batches %+v, read whole %+v", st, wst)
	}
	if len(last) != len(whole) {
		t.Fatalf("%d addresses in batches, %d read whole", len(last), len(whole))
	}
	for _, w := range whole {
		if got := last[w.IP]; got != w {
			t.Errorf("%s: newest in batches %+v, read whole %+v", w.IP, got, w)
		}
	}
}

// BenchmarkParseDHCPD is the parse rate of a lease journal: 100,000
// blocks (a million lines) per op over 20,000 addresses.
func BenchmarkParseDHCPD(b *testing.B) {
	data := dhcpdJournal(100_000, 20_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := Parse(context.Background(), SourceDHCPD, bytes.NewReader(data), Options{}, func(Batch) error { return nil })
		if err != nil || st.Parsed != 100_000 {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(100_000)*float64(b.N)/b.Elapsed().Seconds(), "leases/s")
}

// TestBatchesBoundObservations: a lease file names a new device on every
// record; its batches still hold at most BatchObservations each, so
// memory does not grow with the number of devices.
func TestBatchesBoundObservations(t *testing.T) {
	var kea bytes.Buffer
	kea.WriteString("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n")
	for i := 0; i < 20_000; i++ {
		fmt.Fprintf(&kea, "10.2.%d.%d,02:00:00:00:%02x:%02x,,3600,%d,1,0,0,,0,\n", i/256, i%256, i/256, i%256, 1704877200+i)
	}
	for format, data := range map[string][]byte{SourceKea: kea.Bytes(), SourceDHCPD: dhcpdJournal(20_000, 20_000)} {
		var batches, total int
		_, err := Parse(context.Background(), format, bytes.NewReader(data), Options{BatchObservations: 3000}, func(b Batch) error {
			batches++
			total += len(b.Observations)
			if len(b.Observations) > 3000 {
				t.Errorf("%s: a batch of %d observations, over 3000", format, len(b.Observations))
			}
			return nil
		})
		if err != nil || total != 20_000 || batches < 7 {
			t.Errorf("%s: %d observations in %d batches, err %v", format, total, batches, err)
		}
	}
}

// discardStore is a Store that keeps only the checkpoint.
type discardStore struct{ cp Checkpoint }

func (d *discardStore) LoadCheckpoint(context.Context, string) (Checkpoint, bool, error) {
	return d.cp, d.cp.Key != "", nil
}

func (d *discardStore) Commit(_ context.Context, _ []Observation, cp Checkpoint) error {
	d.cp = cp
	return nil
}

// BenchmarkIngestKea ingests a Kea lease file of 500,000 leases (one
// device each: 31 batches) into a store that discards them: the parse
// and the checkpoints, each of which hashes the file up to its offset.
func BenchmarkIngestKea(b *testing.B) {
	var kea bytes.Buffer
	kea.WriteString("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n")
	const leases = 500_000
	for i := 0; i < leases; i++ {
		fmt.Fprintf(&kea, "10.%d.%d.%d,02:00:00:%02x:%02x:%02x,,3600,%d,1,0,0,host-%d,0,\n", i>>16, i>>8&255, i&255, i>>16, i>>8&255, i&255, 1704877200+i, i)
	}
	path := filepath.Join(b.TempDir(), "kea-leases4.csv")
	if err := os.WriteFile(path, kea.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(kea.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := IngestFile(context.Background(), &discardStore{}, SourceKea, path, IngestOptions{})
		if err != nil || st.Parsed != leases {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(leases)*float64(b.N)/b.Elapsed().Seconds(), "leases/s")
}
