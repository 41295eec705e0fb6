//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// ingestRecords is how many leases (rows) each memory test ingests.
const ingestRecords = 1_000_000

// ingestMaxRSS is the bound the peak resident memory of one ingest must
// stay under, whatever the file size: an ingest that holds the file grows
// ~1.5 KB per lease (1.5 GB here).
const ingestMaxRSS = 200 << 20

// leaseGenerators write n records of each lease format, one device per
// record (the worst case: nothing aggregates).
var leaseGenerators = map[string]func(w io.Writer, n int){
	evidence.SourceDHCPD: func(w io.Writer, n int) {
		fmt.Fprint(w, "# The format of this file is documented in the dhcpd.leases(5) manual page.\nauthoring-byte-order little-endian;\n\n")
		for i := 0; i < n; i++ {
			at := time.Unix(1704873600+int64(i), 0).UTC().Format("2006/01/02 15:04:05")
			fmt.Fprintf(w, "lease 10.%d.%d.%d {\n  starts 3 %s;\n  ends 3 %s;\n  cltt 3 %s;\n  binding state active;\n"+
				"  next binding state free;\n  hardware ethernet 02:00:%s;\n  uid \"\\001\\002\\003\";\n  client-hostname \"host-%d\";\n}\n",
				i>>16&255, i>>8&255, i&255, at, at, at, macOf(i), i)
		}
	},
	evidence.SourceKea: func(w io.Writer, n int) {
		fmt.Fprintln(w, "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context")
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "10.%d.%d.%d,02:00:%s,,3600,%d,1,0,0,host-%d,0,\n", i>>16&255, i>>8&255, i&255, macOf(i), 1704877200+i, i)
		}
	},
	evidence.SourceDnsmasq: func(w io.Writer, n int) {
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "%d 02:00:%s 10.%d.%d.%d host-%d *\n", 1704877200+i, macOf(i), i>>16&255, i>>8&255, i&255, i)
		}
	},
	evidence.SourceCSV: func(w io.Writer, n int) {
		fmt.Fprintln(w, "ip,mac,hostname,seen_at,source")
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "10.%d.%d.%d,02:00:%s,host-%d,%d,nac\n", i>>16&255, i>>8&255, i&255, macOf(i), i, 1704877200+i)
		}
	},
}

func macOf(i int) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x", i>>24&255, i>>16&255, i>>8&255, i&255)
}

// TestCollectorIngestBoundedMemory runs the real binary's `collector
// ingest` on a generated file of a million leases in each lease format
// and reads the peak resident memory of the process (getrusage
// ru_maxrss of the child): it must not grow with the file. The figure is
// logged; the bound is generous, memory use being near deterministic.
func TestCollectorIngestBoundedMemory(t *testing.T) {
	bin := buildAnchorwatch(t)
	for _, format := range []string{evidence.SourceDHCPD, evidence.SourceKea, evidence.SourceDnsmasq, evidence.SourceCSV} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "leases")
			writeFile(t, file, func(w io.Writer) { leaseGenerators[format](w, ingestRecords) })
			if out, err := exec.Command(bin, "collector", "--data-dir", dir, "init").CombinedOutput(); err != nil {
				t.Fatalf("init: %v\n%s", err, out)
			}
			cmd := exec.Command(bin, "collector", "--data-dir", dir, "ingest", "--format", format, file)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("ingest: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), fmt.Sprintf(" %s parsed, ", group(ingestRecords))) || !strings.Contains(string(out), " 0 malformed") {
				t.Fatalf("ingest did not read every lease:\n%s", out)
			}
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
			fi, _ := os.Stat(file)
			t.Logf("%s: %s leases (%s) in %s: peak RSS %.1f MiB", format, group(ingestRecords), byteSize(fi.Size()),
				time.Since(start).Round(time.Second), float64(rss)/(1<<20))
			if rss > ingestMaxRSS {
				t.Errorf("peak RSS %.1f MiB for %s leases, over %d MiB: the ingest holds the file in memory",
					float64(rss)/(1<<20), group(ingestRecords), ingestMaxRSS>>20)
			}
		})
	}
}

func writeFile(t *testing.T, path string, gen func(io.Writer)) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
