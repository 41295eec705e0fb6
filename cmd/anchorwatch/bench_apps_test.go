//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// appKinds are the application store kinds.
var appKinds = []stores.Kind{stores.KindPython, stores.KindNode, stores.KindGit, stores.KindBundle, stores.KindContainer, stores.KindCloud}

// appTree builds a Debian root (real update-ca-certificates) with 50
// homes in /etc/passwd holding 200 virtualenvs between them, at the
// places people put them (~/.venv, ~/src/<project>/.venv,
// ~/.virtualenvs/<name>, ~/<project>/venv), each with certifi's bundle
// and pip (half pip 23.0, whose vendored bundle is a store too, half
// 24.2, which uses the system store), plus clutter: documents, projects
// without a venv, a node_modules tree. It returns the root and a CA file.
func appTree(b *testing.B) (root, caFile string) {
	root = b.TempDir()
	systemtest.DebianRoot(b, root)
	bundle, err := os.ReadFile(filepath.Join(root, systemtest.DebianBundle))
	if err != nil {
		b.Fatal(err)
	}
	put := func(p string, data []byte) {
		hp := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(hp, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var passwd strings.Builder
	passwd.WriteString("root:x:0:0:root:/root:/bin/bash\n")
	places := []string{".venv", "src/api/.venv", ".virtualenvs/tools", "notebooks/venv"}
	for h := 0; h < 50; h++ {
		home := fmt.Sprintf("/home/user%02d", h)
		fmt.Fprintf(&passwd, "user%02d:x:%d:%d::%s:/bin/bash\n", h, 2000+h, 2000+h, home)
		for i, place := range places {
			venv := filepath.Join(home, place)
			site := filepath.Join(venv, "lib/python3.11/site-packages")
			put(filepath.Join(venv, "pyvenv.cfg"), []byte("home = /usr/bin\nversion = 3.11.2\n"))
			put(filepath.Join(site, "certifi/cacert.pem"), bundle)
			pip := "23.0.1"
			if (h+i)%2 == 1 {
				pip = "24.2"
			}
			put(filepath.Join(site, "pip/__init__.py"), []byte("__version__ = \""+pip+"\"\n"))
			put(filepath.Join(site, "pip/_vendor/certifi/cacert.pem"), bundle)
		}
		for _, d := range []string{"Documents/report.txt", "Downloads/x.iso", "src/web/README", "src/lib/main.go",
			"src/web/node_modules/left-pad/index.js", ".config/app/settings.json"} {
			put(filepath.Join(home, d), []byte("x\n"))
		}
	}
	put("/etc/passwd", []byte(passwd.String()))
	ca := testpki.NewCA(b, "Bench Interception CA")
	caFile = testpki.WritePEM(b, filepath.Join(b.TempDir(), "ca.pem"), ca.Cert)
	return root, caFile
}

// BenchmarkAppStores measures what the application stores add to
// `anchorwatch audit` on the tree of appTree (50 homes, 200 virtualenvs):
//
//   - discovery: stores.Discover of the application kinds alone, in
//     process (what they add to finding stores), against discovery of the
//     system kind on the same root;
//   - audit: the built binary's `audit --ca` with every kind against
//     `audit --stores system` (the same command without the application
//     stores), both after `install`, so every store is read in full.
//
// ns/op is the median of the discovery of the application kinds; every
// figure pair comes from the same run (ANCHORWATCH_BENCH_RUNS, default 21).
func BenchmarkAppStores(b *testing.B) {
	root, caFile := appTree(b)
	bin := filepath.Join(b.TempDir(), "anchorwatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "install", "--ca", caFile, "--root", root).CombinedOutput(); err != nil {
		b.Fatalf("install: %v\n%s", err, out)
	}
	runs := 21
	if v, err := strconv.Atoi(os.Getenv("ANCHORWATCH_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	n := max(runs, b.N)
	ctx := context.Background()
	env := stores.Env{Root: root}
	var appD, appCPU, sysD, all, allCPU, sys, sysCPU []time.Duration
	found := 0
	for i := 0; i < n; i++ {
		start, cpu0 := time.Now(), cpuTime()
		ss, errs := stores.Discover(ctx, env, appKinds)
		appD, appCPU = append(appD, time.Since(start)), append(appCPU, cpuTime()-cpu0)
		if len(errs) > 0 {
			b.Fatal(errs)
		}
		found = len(ss)
		start = time.Now()
		stores.Discover(ctx, env, []stores.Kind{stores.KindSystem})
		sysD = append(sysD, time.Since(start))
		w, c := timeRun(b, []string{bin, "audit", "--ca", caFile, "--root", root})
		all, allCPU = append(all, w), append(allCPU, c)
		w, c = timeRun(b, []string{bin, "audit", "--ca", caFile, "--root", root, "--stores", "system"})
		sys, sysCPU = append(sys, w), append(sysCPU, c)
	}
	if found < 300 {
		b.Fatalf("found %d application stores, want 300 (200 certifi + 100 pip-vendored)", found)
	}
	b.ReportMetric(float64(median(appD).Nanoseconds()), "ns/op")
	b.ReportMetric(ms(median(appD)), "app-discovery-ms")
	b.ReportMetric(ms(median(sysD)), "system-discovery-ms")
	b.ReportMetric(ms(median(all)), "audit-all-ms")
	b.ReportMetric(ms(median(sys)), "audit-system-only-ms")
	b.ReportMetric(ms(median(appCPU)), "app-discovery-cpu-ms")
	b.ReportMetric(ms(median(allCPU)), "audit-all-cpu-ms")
	b.ReportMetric(ms(median(sysCPU)), "audit-system-only-cpu-ms")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d runs, %d application stores, load average %s: discovery of the application kinds %.1f ms wall, %.1f ms CPU (system kind %.1f ms); "+
		"audit with every kind %.1f ms wall / %.1f ms CPU vs audit --stores system %.1f ms / %.1f ms: the application stores add %.1f ms wall, %.1f ms CPU",
		n, found, strings.Fields(string(load))[0], ms(median(appD)), ms(median(appCPU)), ms(median(sysD)),
		ms(median(all)), ms(median(allCPU)), ms(median(sys)), ms(median(sysCPU)), ms(median(all)-median(sys)), ms(median(allCPU)-median(sysCPU)))
}

// cpuTime is the user and system time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppDiscovery is the discovery of each application kind alone,
// in process, on the tree of appTree: the per-kind split of
// BenchmarkAppStores's app-discovery figure, with allocations.
func BenchmarkAppDiscovery(b *testing.B) {
	root, _ := appTree(b)
	env := stores.Env{Root: root}
	for _, k := range append([]stores.Kind{""}, appKinds...) {
		kinds, name := []stores.Kind{k}, string(k)
		if k == "" {
			kinds, name = appKinds, "all"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, errs := stores.Discover(context.Background(), env, kinds); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		})
	}
}
