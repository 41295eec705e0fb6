package nss

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// BenchmarkList compares reading one cert9.db directly (what audit does)
// with running certutil -L on it, for a typical profile (a handful of
// certificates) and a heavy one.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{5, 100} {
		root := b.TempDir()
		db := nsstest.FirefoxProfile(b, root, "/home/bench", "b.default")
		for i := 0; i < n; i++ {
			ca := testpki.NewCA(b, fmt.Sprintf("Bench CA %d", i))
			trust := "C,,"
			if i%3 == 0 {
				trust = "c,,"
			}
			nsstest.AddCert(b, root, db, ca.Cert, fmt.Sprintf("bench-%d", i), trust)
		}
		s, err := Open(stores.Env{Root: root}, db, "firefox")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("anchorwatch/certs=%d", n), func(b *testing.B) {
			ctx := context.Background()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				as, err := s.List(ctx)
				if err != nil || len(as) != n {
					b.Fatalf("%v %d", err, len(as))
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/list")
		})
		b.Run(fmt.Sprintf("certutil-L/certs=%d", n), func(b *testing.B) {
			bin := nsstest.Certutil(b)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if out, err := exec.Command(bin, "-L", "-d", "sql:"+fsroot.Join(root, db)).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/list")
		})
	}
}

// BenchmarkDiscover measures finding every store of a host with a few
// users and profiles.
func BenchmarkDiscover(b *testing.B) {
	root := b.TempDir()
	for _, u := range []string{"a", "b", "c"} {
		nsstest.FirefoxProfile(b, root, "/home/"+u, "x.default")
		nsstest.ChromiumDB(b, root, "/home/"+u)
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		ss, err := Discover(ctx, stores.Env{Root: root})
		if err != nil || len(ss) != 6 {
			b.Fatalf("%v %d", err, len(ss))
		}
	}
}
