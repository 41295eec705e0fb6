//go:build linux

package java

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestSIGKILLDuringWrite kills a helper process at random points of a
// keystore write, over and over. After every kill the keystore reads with
// our parser and holds exactly the old or the new entries; every distinct
// content seen is then listed with keytool.
func TestSIGKILLDuringWrite(t *testing.T) {
	j := jdk(t, 17)
	root, rts := sandbox(t)
	ca := testpki.NewCA(t, "SIGKILL CA")
	caFile := testpki.WritePEM(t, filepath.Join(t.TempDir(), "ca.pem"), ca.Cert)
	for _, c := range []struct {
		rt         int
		iterations int
		storetype  string
		password   string
	}{
		{0, 200, "JKS", "changeit"},
		{1, 60, "PKCS12", ""},
	} {
		rt := rts[c.rt]
		hp := hostPath(root, rt.Store)
		s := openStore(t, root, rt.Cacerts, nil)
		base, err := s.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		without := anchorSet(base)
		with := anchorSet(append(append([]stores.Anchor(nil), base...), stores.NewAnchor(ca.Cert, stores.Label(ca.Cert), true)))
		run := func(delay time.Duration) (time.Duration, bool) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "AW_JAVA_HELPER=toggle", "AW_ROOT="+root, "AW_PATH="+rt.Cacerts, "AW_CA="+caFile)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var timer *time.Timer
			if delay >= 0 {
				timer = time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
			}
			err := cmd.Wait()
			if timer != nil {
				timer.Stop()
			}
			if err != nil && delay < 0 {
				t.Fatalf("helper: %v\n%s", err, stderr.String())
			}
			if err == nil && stderr.Len() > 0 {
				t.Fatalf("helper: %s", stderr.String())
			}
			return time.Since(start), err != nil
		}
		// calibrate: how long an uninterrupted toggle takes
		// (median of 6 after a warm-up run)
		run(-1)
		var runs []time.Duration
		for i := 0; i < 6; i++ {
			d, _ := run(-1)
			runs = append(runs, d)
		}
		sort.Slice(runs, func(a, b int) bool { return runs[a] < runs[b] })
		full := runs[len(runs)/2]
		snapshots := map[[32]byte]string{}
		outcomes := map[string]int{}
		snapDir := t.TempDir()
		for i := 0; i < c.iterations; i++ {
			before, _ := os.ReadFile(hp)
			delay := time.Duration(rand.Int64N(int64(full + full/5)))
			_, killed := run(delay)
			data, err := os.ReadFile(hp)
			if err != nil {
				t.Fatalf("iteration %d (kill after %v): %v", i, delay, err)
			}
			kf, err := decode(data, []string{c.password, "changeit"})
			if err != nil {
				t.Fatalf("iteration %d (kill after %v): keystore unreadable: %v", i, delay, err)
			}
			got := anchorSet(kf.anchors())
			switch {
			case bytes.Equal(data, before):
				outcomes["old"]++
			case got == with || got == without:
				outcomes["new"]++
			default:
				t.Fatalf("iteration %d: keystore holds neither the old nor the new entries", i)
			}
			if killed {
				outcomes["killed"]++
			}
			sum := sha256.Sum256(data)
			if _, ok := snapshots[sum]; !ok {
				p := filepath.Join(snapDir, strings.ToLower(c.storetype)+"-"+itoa(len(snapshots)))
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				snapshots[sum] = p
			}
		}
		t.Logf("%s: %d iterations (uninterrupted toggle %v): %v; %d distinct contents", c.storetype, c.iterations, full, outcomes, len(snapshots))
		if outcomes["killed"] < c.iterations/4 || outcomes["old"] == 0 || outcomes["new"] == 0 {
			t.Fatalf("kills did not land across the write: %v", outcomes)
		}
		// the directory holds no more than one leftover temporary file
		// (from the last kill: the next write removes it)
		ents, _ := os.ReadDir(filepath.Dir(hp))
		temps := 0
		for _, e := range ents {
			if strings.Contains(e.Name(), ".anchorwatch-") {
				temps++
			}
		}
		if temps > 1 {
			t.Errorf("%d temporary files left in %s", temps, filepath.Dir(hp))
		}
		var files []string
		for _, p := range snapshots {
			files = append(files, p)
		}
		sort.Strings(files)
		keytoolAll(t, j, files, c.storetype, c.password, len(base))
	}
}

// keytoolAll lists every file with keytool, two at a time.
func keytoolAll(t *testing.T, j jdkT, files []string, storetype, password string, minEntries int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	var failures []string
	for _, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func(f string) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := keytool(t, j, "-list", "-keystore", f, "-storetype", storetype, "-storepass", password)
			if err != nil || strings.Count(out, "trustedCertEntry") < minEntries {
				mu.Lock()
				failures = append(failures, f+": "+err.Error()+"\n"+out)
				mu.Unlock()
			}
		}(f)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("keytool -list failed on %d of %d contents:\n%s", len(failures), len(files), failures[0])
	}
	t.Logf("keytool %d listed all %d distinct %s contents", j.Major, len(files), storetype)
}

// anchorSet is a canonical string of label/sha pairs.
func anchorSet(as []stores.Anchor) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Label+"/"+a.SHA256)
	}
	sort.Strings(s)
	return strings.Join(s, "|")
}

func itoa(i int) string { return strconvItoa(i) }

// TestRaceWithKeytool runs keytool -importcert of one CA and our Install of
// another against the same keystore at the same time, at varied offsets.
// Both entries must survive every time.
func TestRaceWithKeytool(t *testing.T) {
	j := jdk(t, 17)
	root, rts := sandbox(t)
	hp := hostPath(root, rts[0].Store)
	pristine, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	// keytool's timeline on this machine: measure when it reads and writes
	for i := 0; i < 6; i++ {
		if err := os.WriteFile(hp, pristine, 0o644); err != nil {
			t.Fatal(err)
		}
		theirs := testpki.NewCA(t, "Keytool CA")
		ours := testpki.NewCA(t, "Our CA")
		file := testpki.WritePEM(t, filepath.Join(t.TempDir(), stores.Label(theirs.Cert)+".pem"), theirs.Cert)
		cmd := exec.Command(j.Keytool(), "-J-XX:TieredStopAtLevel=1", "-importcert", "-noprompt", "-alias", "keytool-ca", "-file", file,
			"-keystore", hp, "-storetype", "JKS", "-storepass", "changeit")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// offsets spread over keytool's start, read, import and write
		time.Sleep(time.Duration(150+i*120) * time.Millisecond)
		s := openStore(t, root, rts[0].Cacerts, nil)
		s.settle = defaultSettle
		if _, err := s.Install(context.Background(), []*x509.Certificate{ours.Cert}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
		ourDone := time.Since(start)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("keytool: %v\n%s", err, out.String())
		}
		as, err := s.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, gotOurs := findAnchor(as, ours.Cert)
		_, gotTheirs := findAnchor(as, theirs.Cert)
		t.Logf("round %d: our install started at %v, done at %v; keytool done at %v; ours %v, keytool's %v",
			i, time.Duration(150+i*120)*time.Millisecond, ourDone, time.Since(start), gotOurs, gotTheirs)
		if !gotOurs || !gotTheirs {
			t.Fatalf("round %d: lost an entry: ours %v, keytool's %v", i, gotOurs, gotTheirs)
		}
		list := keytoolList(t, j, hp, "JKS", "changeit")
		if !containsEntry(list, "keytool-ca", "trustedCertEntry") || !containsEntry(list, stores.Label(ours.Cert), "trustedCertEntry") {
			t.Fatalf("round %d: keytool does not list both entries", i)
		}
	}
}

// TestReadOnlyStore: on a read-only mount (even as root) Info says so and
// Install fails with the reason, leaving the store byte-identical. The
// helper runs in a private mount namespace so the mount never leaks.
func TestReadOnlyStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (CI runs as root) to make a read-only bind mount")
	}
	root, rts := sandbox(t)
	ca := testpki.NewCA(t, "Read-only CA")
	caFile := testpki.WritePEM(t, filepath.Join(t.TempDir(), "ca.pem"), ca.Cert)
	hp := hostPath(root, rts[0].Store)
	sum := fileSum(t, hp)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "AW_JAVA_HELPER=readonly", "AW_ROOT="+root, "AW_PATH="+rts[0].Cacerts, "AW_CA="+caFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "java keystore /etc/ssl/certs/java/cacerts: cannot write the keystore, store unchanged: write " + hp
	if !strings.Contains(string(out), "writable=false") || !strings.Contains(string(out), want) || !strings.Contains(string(out), "read-only file system") {
		t.Fatalf("helper output:\n%s\nwant writable=false and %q … read-only file system", out, want)
	}
	if fileSum(t, hp) != sum {
		t.Fatal("store changed")
	}
}
