package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/pavlo-v-chernykh/keystore-go/v4"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// benchHeal measures heal latency from the moment our CA is gone from
// the store (the removal complete) to the moment the store holds it again
// with trust, observed by re-reading the store (through a separate Store
// instance) after change notifications. remove takes the CA out the way
// an outside tool would and returns the moment the removal completed.
// The median, 99th percentile and maximum are reported. The agent runs
// against the real collector.
func benchHeal(b *testing.B, root string, kind stores.Kind, remove func(st stores.Store, ca *x509.Certificate) time.Time) {
	signer, key := testpki.SelfSigned(b, "Policy Signer")
	ca := testpki.NewCA(b, "Corp Interception CA").Cert
	coll := startCollector(b)
	coll.upload(signedPolicy(b, 1, signer, key, nil, ca))
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
	files := map[string]bool{} // the store's own files: a change there may be the heal
	for _, p := range st.Watch().Paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			files[filepath.Clean(p)] = true
			p = filepath.Dir(p)
		}
		_ = fw.Add(p)
	}
	compliant := func() bool {
		anchors, err := st.List(context.Background())
		return err == nil && stores.Check(st.Info(), anchors, []*x509.Certificate{ca}).Status == stores.StatusCompliant
	}
	drain := func() {
		for {
			select {
			case <-fw.Events:
			default:
				return
			}
		}
	}
	// next waits until one of the store's files changed (the store is
	// re-read at once) or 50 ms passed. Other events in the directories
	// (a refresh rewriting hundreds of links) are skipped, so the observer
	// does not compete with the agent for the CPU.
	next := func() {
		tick := time.NewTimer(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case ev := <-fw.Events:
				if files[filepath.Clean(ev.Name)] {
					return
				}
			case <-tick.C:
				return
			}
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		drain()
		t0 := remove(st, ca)
		for !compliant() {
			next()
		}
		lat = append(lat, time.Since(t0))
		// Let the agent finish (its healed event) before the next round.
		h.rec.waitCount(api.EventHealed, prefix, i)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	if os.Getenv("AW_BENCH_TRACE") != "" {
		b.Logf("%s heal latencies (sorted): %v", kind, lat)
	}
}

// BenchmarkHealJava removes our CA from a Debian JKS the way a careful
// tool does: the keystore without our alias is written to a temporary
// file and renamed over the original. The rename is the removal: the
// clock starts right before it. (The java adapter's Install keeps
// watching the file for a second after its write, against a racing
// keytool; that tail delays the agent's healed event, not the heal.)
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
		tmp := sb.javaKS + ".bench-tmp"
		if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		if f, err := os.Open(tmp); err == nil {
			_ = f.Sync()
			f.Close()
		}
		t0 := time.Now()
		if err := os.Rename(tmp, sb.javaKS); err != nil {
			b.Fatal(err)
		}
		return t0
	})
}

// BenchmarkHealNSS removes our CA from a cert9.db the way NSS itself does
// (Firefox's certificate manager, certutil -D): the certificate and trust
// objects are deleted from nssPublic in one SQLite transaction. The clock
// starts when the COMMIT returns, so the remover's own run time (certutil
// takes ~100 ms to start and stop NSS) is not counted.
func BenchmarkHealNSS(b *testing.B) {
	sb := newSandbox(b)
	dbFile := filepath.Join(sb.root, sb.nssDir, "cert9.db")
	benchHeal(b, sb.root, stores.KindNSS, func(_ stores.Store, ca *x509.Certificate) time.Time {
		return nssDelete(b, dbFile, ca)
	})
}

// nssDelete deletes c's certificate and trust objects from an NSS
// cert9.db and returns when the transaction committed. Certificate and
// trust objects of one certificate share its issuer (a81) and serial
// (a82) attributes.
func nssDelete(b testing.TB, dbFile string, c *x509.Certificate) time.Time {
	db, err := sql.Open("sqlite", "file:"+dbFile+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var issuer, serial []byte
	if err := db.QueryRow("SELECT a81, a82 FROM nssPublic WHERE a11 = ?", c.Raw).Scan(&issuer, &serial); err != nil {
		b.Fatalf("our CA is not in %s: %v", dbFile, err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	res, err := tx.Exec("DELETE FROM nssPublic WHERE a81 = ? AND a82 = ?", issuer, serial)
	if err != nil {
		b.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n < 2 {
		b.Fatalf("deleted %d objects, want the certificate and its trust", n)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return time.Now()
}

// BenchmarkHealDebianSystem removes our CA with the adapter (anchor file
// deleted, update-ca-certificates run); the clock starts when that
// returns, when the bundle no longer holds the CA.
//
// The floor is one run of update-ca-certificates, whose duration depends
// on the machine's load: the median of the removals' own runs (each one
// refresh, the same work as a heal) is reported as refresh-ms beside the
// heal figures, measured under the same conditions.
func BenchmarkHealDebianSystem(b *testing.B) {
	root := b.TempDir()
	systemtest.DebianRoot(b, root)
	var refresh []time.Duration
	benchHeal(b, root, stores.KindSystem, func(st stores.Store, ca *x509.Certificate) time.Time {
		t0 := time.Now()
		if _, err := st.Remove(context.Background(), []string{stores.SHA256(ca)}, stores.Options{}); err != nil {
			b.Fatal(err)
		}
		refresh = append(refresh, time.Since(t0))
		return time.Now()
	})
	sort.Slice(refresh, func(i, j int) bool { return refresh[i] < refresh[j] })
	if len(refresh) > 0 {
		b.ReportMetric(float64(refresh[len(refresh)/2].Microseconds())/1000, "refresh-ms")
	}
}
