package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/store"
)

func squidLine(i, client int) string {
	return fmt.Sprintf("%d.%03d %6d 10.30.0.%d TCP_MISS/200 %d GET https://www.example.com/%d - HIER_DIRECT/203.0.113.7 text/html\n",
		1704870000+i, i%1000, 20+i%100, client, 1000+i, i)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// sightings opens the collector database read-side and sums the sightings
// of every device seen.
func sightings(t *testing.T, db string) (int64, []devices.Device) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := devices.Open(ctx, st.DB(), st.ReadDB(), devices.Dialect(st.Dialect()))
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.List(ctx, devices.Filter{Statuses: api.DeviceStatuses()})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, dev := range all {
		n += dev.Sightings
	}
	return n, all
}

func TestCollectorIngestCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "collector.db")
	log := filepath.Join(dir, "access.log")
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString(squidLine(i, i%4))
	}
	b.WriteString("not a squid line\n")
	b.WriteString(strings.Repeat("x", 100<<10) + "\n")            // over the line limit
	b.WriteString("1704871000.000     20 10.30.0.9 TCP_MISS/200") // still being written
	appendFile(t, log, b.String())

	cli := func(args ...string) (string, string, int) {
		return runCLI(t, newRootCmd(), append([]string{"collector", "--db", db}, args...)...)
	}
	if out, errOut, code := cli("init"); code != 0 {
		t.Fatalf("collector init: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := cli("ingest", "--format", "squid-access", log)
	if code != 0 {
		t.Fatalf("ingest: %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"1,003 lines", "1,000 parsed", "1 malformed", "1 too long", "1 partial"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal, yet: %q", errOut)
	}
	// Again: nothing new, nothing stored twice.
	out, _, code = cli("ingest", "--format", "squid-access", log)
	if code != 0 || !strings.Contains(out, "nothing new") {
		t.Errorf("second ingest: %d %s", code, out)
	}
	if n, devs := sightings(t, db); n != 1000 || len(devs) != 4 {
		t.Errorf("after two ingests: %d sightings of %d devices, want 1000 of 4", n, len(devs))
	}
	// The partial line completes and more arrive: only they are read.
	appendFile(t, log, " 1200 GET https://www.example.com/x - HIER_DIRECT/203.0.113.7 text/html\n"+squidLine(2000, 1))
	out, _, code = cli("ingest", "--format", "squid-access", log)
	if code != 0 || !strings.Contains(out, "2 lines") || !strings.Contains(out, "2 parsed") {
		t.Errorf("ingest of the new lines: %d %s", code, out)
	}
	if n, devs := sightings(t, db); n != 1002 || len(devs) != 5 {
		t.Errorf("after the new lines: %d sightings of %d devices, want 1002 of 5", n, len(devs))
	}

	// Several files, one missing: the others are ingested; a file named on
	// the command line that is missing is an input error, exit 2.
	lease := filepath.Join(dir, "dnsmasq.leases")
	appendFile(t, lease, fmt.Sprintf("%d aa:bb:cc:dd:ee:01 10.30.0.1 phone-1 *\n", time.Now().Add(time.Hour).Unix()))
	out, errOut, code = cli("ingest", "--format", "dnsmasq", lease, filepath.Join(dir, "missing.leases"))
	if code != 2 || !strings.Contains(out, "1 parsed") || !strings.Contains(errOut, "missing.leases") || !strings.Contains(out, "total (2 files)") {
		t.Errorf("ingest with a missing file: %d\n%s%s", code, out, errOut)
	}

	// Usage errors exit 2.
	for _, args := range [][]string{
		{"ingest", log},
		{"ingest", "--format", "syslog", log},
		{"ingest", "--format", "squid-cache", "--timezone", "Mars/Olympus", log},
		{"ingest", "--format", "squid-access"},
		{"exemption", "add", "subnet", "10.0.0.0/8"},
		{"exemption", "add", "vlan", "7", "--reason", "x"},
		{"exemption", "add", "mac", "00:11:22:33:44:55", "--reason", "x", "--expires", "soon"},
	} {
		if _, errOut, code := cli(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}

	// Exemptions.
	if out, errOut, code := cli("exemption", "add", "subnet", "10.30.0.0/30", "--reason", "lab servers", "--expires", "30d"); code != 0 || !strings.Contains(out, "10.30.0.0/30") {
		t.Fatalf("exemption add: %d %s%s", code, out, errOut)
	}
	if out, _, code := cli("exemption", "add", "hostname", "phone-*", "--reason", "guest Wi-Fi"); code != 0 {
		t.Fatalf("exemption add: %d %s", code, out)
	}
	out, _, code = cli("exemption", "list")
	if code != 0 || !strings.Contains(out, "lab servers") || !strings.Contains(out, "phone-*") || !strings.Contains(out, "admin") {
		t.Errorf("exemption list: %d\n%s", code, out)
	}
	_, devs := sightings(t, db)
	exempt := 0
	for _, d := range devs {
		if d.Status == api.DeviceExempt {
			exempt++
		}
	}
	if exempt != 5 { // 10.30.0.0-3 by address, and the phone leasing 10.30.0.1 (its sightings of 2024 predate the lease)
		t.Errorf("%d exempt devices, want 5: %+v", exempt, devs)
	}
	if out, errOut, code := cli("exemption", "remove", "subnet", "10.30.0.0/30"); code != 0 {
		t.Errorf("exemption remove: %d %s%s", code, out, errOut)
	}
	if _, errOut, code := cli("exemption", "remove", "subnet", "10.30.0.0/30"); code != 1 || !strings.Contains(errOut, "no subnet exemption") {
		t.Errorf("removing it again: %d %s", code, errOut)
	}
}

// TestCollectorIngestFollow tails a log through rename rotation and
// copytruncate with the real command, then stops it as Ctrl-C would.
func TestCollectorIngestFollow(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "collector.db")
	log := filepath.Join(dir, "access.log")
	appendFile(t, log, squidLine(0, 1)+squidLine(1, 1))
	// Create the database first: the test reads it while the command runs,
	// and two first-time openings of one SQLite file race to migrate it.
	sightings(t, db)

	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"collector", "--db", db, "ingest", "--format", "squid-access", "--follow", "--poll", "20ms", log})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	waitFor := func(want int64) {
		t.Helper()
		for i := 0; i < 1000; i++ {
			if n, _ := sightings(t, db); n == want {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("follow stopped: %v\n%s", err, errb.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		n, _ := sightings(t, db)
		t.Fatalf("following: %d sightings stored, want %d\n%s", n, want, errb.String())
	}
	waitFor(2)
	appendFile(t, log, squidLine(2, 2))
	waitFor(3)
	// Rotation by rename: the rest of the old file, then the new one.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log+".1", squidLine(3, 2))
	appendFile(t, log, squidLine(4, 3)+squidLine(5, 3))
	waitFor(6)
	// copytruncate.
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, squidLine(6, 1))
	waitFor(7)
	cancel()
	if err := <-done; exitCode(err) != 0 {
		t.Errorf("follow after Ctrl-C: %v", err)
	}
	if !strings.Contains(errb.String(), "stopped") {
		t.Errorf("no goodbye on stderr: %s", errb.String())
	}
	if _, devs := sightings(t, db); len(devs) != 3 {
		t.Errorf("devices: %+v", devs)
	}
}

// BenchmarkCollectorIngestCLI is the end-to-end figure of the command
// line: `anchorwatch collector ingest --format squid-access` of a 2M-line
// access.log from 5,000 clients (ANCHORWATCH_BENCH_LINES to change it) into
// a fresh SQLite collector database per op, summary included.
func BenchmarkCollectorIngestCLI(b *testing.B) {
	lines := 2_000_000
	if v := os.Getenv("ANCHORWATCH_BENCH_LINES"); v != "" {
		fmt.Sscan(v, &lines)
	}
	dir := b.TempDir()
	log := filepath.Join(dir, "access.log")
	f, err := os.Create(log)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < lines; i++ {
		c := (i * 7919) % 5000
		fmt.Fprintf(w, "%d.%03d %6d 10.%d.%d.%d TCP_MISS/200 %d GET https://www.example.com/a/%d.js - HIER_DIRECT/203.0.113.7 text/html\n",
			1704870000+i/50, i%1000, i%5000, c>>16&255, c>>8&255, c&255, 1000+i%9000, i%977)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(log)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db := filepath.Join(dir, fmt.Sprintf("c%d.db", i))
		root := newRootCmd()
		var out, errb bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errb)
		root.SetArgs([]string{"collector", "--db", db, "ingest", "--format", "squid-access", log})
		if err := root.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), group(int64(lines))+" parsed") {
			b.Fatalf("%v\n%s%s", err, out.String(), errb.String())
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
