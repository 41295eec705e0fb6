package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/pavlo-v-chernykh/keystore-go/v4"

	"github.com/anchorwatch/anchorwatch/server/api"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// benchHeal measures heal latency from the moment our CA is gone from
// the store to the moment the store holds it again with trust, observed
// by re-reading the store (through a separate Store instance) on every
// change notification. remove takes the CA out the way an outside tool
// would and returns the moment it was gone. The median, 99th percentile
// and maximum are reported.
func benchHeal(b *testing.B, root string, kind stores.Kind, remove func(st stores.Store, ca *x509.Certificate) time.Time) {
	signer, key := newCert(b, "Policy Signer", false)
	ca, _ := newCert(b, "Corp Interception CA", true)
	coll := newFakeCollector(b, "s3cret")
	coll.setPolicy(signedPolicy(b, 1, signer, key, nil, ca), 1)
	h := startAgent(b, sandbox{root: root}, coll, signer, kind)
	prefix := string(kind) + ":"
	h.rec.waitCount(api.EventInstalled, prefix, 1)

	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{kind})
	var st stores.Store
	for _, s := range ss {
		if strings.HasPrefix(s.Info().ID, prefix) && s.Info().Writable {
			st = s
			break
		}
	}
	if st == nil {
		b.Fatalf("no writable %s store under %s: %v", kind, root, errs)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	for _, p := range st.Watch().Paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			p = filepath.Dir(p)
		}
		_ = fw.Add(p)
	}
	compliant := func() bool {
		anchors, err := st.List(context.Background())
		return err == nil && stores.Check(st.Info(), anchors, []*x509.Certificate{ca}).Status == stores.StatusCompliant
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		for len(fw.Events) > 0 {
			<-fw.Events
		}
		t0 := remove(st, ca)
		for !compliant() {
			select {
			case <-fw.Events:
			case <-time.After(50 * time.Millisecond):
			}
		}
		lat = append(lat, time.Since(t0))
		// Let the agent finish (its healed event) before the next round.
		h.rec.waitCount(api.EventHealed, prefix, i)
		if os.Getenv("AW_BENCH_TRACE") != "" {
			evs := h.rec.all()
			var rm time.Time
			for _, e := range evs {
				if e.Type == api.EventRemoved {
					rm = e.Time
				}
			}
			b.Logf("observed %v, agent saw removal after %v", lat[len(lat)-1], rm.Sub(t0))
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkHealJava removes our CA from a Debian JKS the way keytool
// does (read, delete the alias, write back), atomically renamed.
func BenchmarkHealJava(b *testing.B) {
	sb := newSandbox(b)
	benchHeal(b, sb.root, stores.KindJava, func(_ stores.Store, ca *x509.Certificate) time.Time {
		data, err := os.ReadFile(sb.javaKS)
		if err != nil {
			b.Fatal(err)
		}
		ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
		if err := ks.Load(bytes.NewReader(data), []byte("changeit")); err != nil {
			b.Fatal(err)
		}
		ks.DeleteEntry(stores.Label(ca))
		var buf bytes.Buffer
		if err := ks.Store(&buf, []byte("changeit")); err != nil {
			b.Fatal(err)
		}
		// The clock starts before the write (conservative: our own
		// temp-file fsync is counted); the rename is the removal.
		t0 := time.Now()
		if err := fsroot.WriteFileAtomic(sb.javaKS, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		return t0
	})
}

// BenchmarkHealNSS removes our CA with certutil -D; the clock starts
// before certutil runs (conservative: its own run time is counted).
func BenchmarkHealNSS(b *testing.B) {
	sb := newSandbox(b)
	benchHeal(b, sb.root, stores.KindNSS, func(_ stores.Store, ca *x509.Certificate) time.Time {
		t0 := time.Now()
		nsstest.Run(b, nil, "-D", "-d", "sql:"+filepath.Join(sb.root, sb.nssDir), "-n", stores.Label(ca))
		return t0
	})
}

// BenchmarkHealDebianSystem removes our CA with the adapter (anchor file
// deleted, update-ca-certificates run); the clock starts when that
// returns, when the bundle no longer holds the CA.
func BenchmarkHealDebianSystem(b *testing.B) {
	root := b.TempDir()
	systemtest.DebianRoot(b, root)
	benchHeal(b, root, stores.KindSystem, func(st stores.Store, ca *x509.Certificate) time.Time {
		if _, err := st.Remove(context.Background(), []string{stores.SHA256(ca)}, stores.Options{}); err != nil {
			b.Fatal(err)
		}
		return time.Now()
	})
}
