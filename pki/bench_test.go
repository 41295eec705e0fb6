package pki_test

import (
	"context"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
)

// BenchmarkCheck: `ca check` of a CA with one CDP (served on loopback)
// and one OCSP responder (openssl ocsp on loopback), beside its parts:
// the lint alone, and the two fetches alone (the floor set by the
// servers). The goal is under 50 ms per check.
func BenchmarkCheck(b *testing.B) {
	p := pkitest.New(b)
	p.StartResponder(b, p.Root)
	ctx := context.Background()
	target := pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert}
	f := &pki.Fetcher{Client: pki.NewClient(), Timeout: 5 * time.Second}
	if r := pki.Check(ctx, target, pki.Options{Fetcher: f}); r.Failed() || len(r.CRLs) != 1 || len(r.OCSP) != 1 {
		b.Fatalf("the benchmark PKI does not pass: %+v", r.Findings)
	}
	ms := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/check")
	}
	b.Run("Check", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if r := pki.Check(ctx, target, pki.Options{Fetcher: f}); r.Failed() {
				b.Fatal("check failed")
			}
		}
		ms(b)
	})
	b.Run("CheckNewClient", func(b *testing.B) {
		// As the command line runs it: a fresh client, no kept-alive connection.
		for i := 0; i < b.N; i++ {
			if r := pki.Check(ctx, target, pki.Options{Fetcher: &pki.Fetcher{}}); r.Failed() {
				b.Fatal("check failed")
			}
		}
		ms(b)
	})
	b.Run("LintOnly", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pki.Lint(p.Inter.Cert, pki.RoleIssuing, time.Now())
		}
		ms(b)
	})
	req, err := pki.OCSPRequest(p.Inter.Cert, p.Root.Cert)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("FetchesOnly", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := f.Get(ctx, p.URL("root.crl"), pki.MaxCRL); err != nil {
				b.Fatal(err)
			}
			if _, err := f.OCSP(ctx, target.CA.OCSPServer[0], req); err != nil {
				b.Fatal(err)
			}
		}
		ms(b)
	})
}
