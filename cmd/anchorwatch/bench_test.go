package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// BenchmarkHostCommands times the built anchorwatch binary against the
// same read-only check done with the real tools, on a sandbox with a
// Debian system store (the full Mozilla bundle), two NSS databases, one
// JKS and one PKCS12 cacerts, with the CA installed everywhere:
//
//   - audit: `anchorwatch audit --ca` vs `certutil -L -n` per database,
//     `keytool -list -alias` per keystore and `openssl verify` of the CA
//     against the bundle, run one after the other as a script would;
//   - install-noop: `anchorwatch install --ca` when everything is in
//     place vs the check `mkcert -install` runs in that case
//     (`certutil -V -u L` per database, `keytool -list -alias` per
//     keystore, a verification against the bundle).
//
// Each side runs ANCHORWATCH_BENCH_RUNS times (default 21, at least b.N);
// the medians of both sides and their ratio come from the same run.
// ns/op is anchorwatch's median.
func BenchmarkHostCommands(b *testing.B) {
	w := newWorkstation(b)
	kt := keytool(b)
	bin := filepath.Join(b.TempDir(), "anchorwatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "install", "--ca", w.caFile, "--root", w.root).CombinedOutput(); err != nil {
		b.Fatalf("install: %v\n%s", err, out)
	}
	label := stores.Label(w.ca)
	bundle := filepath.Join(w.root, systemtest.DebianBundle)
	dbs := []string{filepath.Join(w.root, w.firefox), filepath.Join(w.root, w.chromium)}
	var keystores []string
	for _, rt := range w.java {
		keystores = append(keystores, filepath.Join(w.root, rt.Store))
	}
	if len(keystores) != 2 {
		b.Fatalf("want a JKS and a PKCS12 keystore, have %v", keystores)
	}
	toolsCheck := func(nssArgs func(db string) []string) [][]string {
		var cmds [][]string
		for _, db := range dbs {
			cmds = append(cmds, append([]string{"certutil"}, nssArgs(db)...))
		}
		for _, ks := range keystores {
			cmds = append(cmds, []string{kt, "-list", "-keystore", ks, "-storepass", "changeit", "-alias", label})
		}
		return append(cmds, []string{"openssl", "verify", "-CAfile", bundle, w.caFile})
	}
	cases := []struct {
		name  string
		aw    []string
		tools [][]string
	}{
		{"audit", []string{bin, "audit", "--ca", w.caFile, "--root", w.root},
			toolsCheck(func(db string) []string { return []string{"-L", "-d", "sql:" + db, "-n", label} })},
		{"install-noop", []string{bin, "install", "--ca", w.caFile, "--root", w.root},
			toolsCheck(func(db string) []string { return []string{"-V", "-d", "sql:" + db, "-u", "L", "-n", label} })},
	}
	runs := 21
	if v, err := strconv.Atoi(os.Getenv("ANCHORWATCH_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			n := max(runs, b.N)
			var aw, tools, awCPU, toolsCPU []time.Duration
			for i := 0; i < n; i++ {
				w, c1 := timeRun(b, c.aw)
				aw, awCPU = append(aw, w), append(awCPU, c1)
				var d, dc time.Duration
				for _, cmd := range c.tools {
					w, c2 := timeRun(b, cmd)
					d, dc = d+w, dc+c2
				}
				tools, toolsCPU = append(tools, d), append(toolsCPU, dc)
			}
			am, tm := median(aw), median(tools)
			ac, tc := median(awCPU), median(toolsCPU)
			b.ReportMetric(float64(am.Nanoseconds()), "ns/op")
			b.ReportMetric(ms(am), "anchorwatch-ms")
			b.ReportMetric(ms(tm), "tools-ms")
			b.ReportMetric(float64(tm)/float64(am), "x-faster")
			b.ReportMetric(ms(ac), "anchorwatch-cpu-ms")
			b.ReportMetric(ms(tc), "tools-cpu-ms")
			b.Logf("%s, %d runs each: wall median anchorwatch %.1f ms vs real tools %.1f ms (%d commands) = %.1fx faster; "+
				"CPU (user+sys) median anchorwatch %.1f ms vs real tools %.1f ms",
				c.name, n, ms(am), ms(tm), len(c.tools), float64(tm)/float64(am), ms(ac), ms(tc))
		})
	}
}

// timeRun runs cmd once and returns its wall time and the CPU time
// (user + system) it used; a failing command fails the benchmark (a fast
// wrong answer is no answer).
func timeRun(b *testing.B, cmd []string) (wall, cpu time.Duration) {
	c := exec.Command(cmd[0], cmd[1:]...)
	start := time.Now()
	out, err := c.CombinedOutput()
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	return wall, c.ProcessState.UserTime() + c.ProcessState.SystemTime()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
