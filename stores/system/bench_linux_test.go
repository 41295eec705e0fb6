//go:build linux

package system_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// BenchmarkListCheck is the system store's share of `anchorwatch audit`:
// List and Check over the full Mozilla bundle of a Debian root built by
// the real update-ca-certificates, with our CA installed.
func BenchmarkListCheck(b *testing.B) {
	ctx := context.Background()
	_, s := debianStore(b)
	ca, _ := systemtest.CA(b, "Bench CA")
	if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
		b.Fatal(err)
	}
	want := []*x509.Certificate{ca}
	b.ReportAllocs()
	for b.Loop() {
		anchors, err := s.List(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if r := stores.Check(s.Info(), anchors, want); r.Status != stores.StatusCompliant {
			b.Fatal(r.Detail)
		}
	}
}

// BenchmarkAudit is the same through Audit (with explanations).
func BenchmarkAudit(b *testing.B) {
	ctx := context.Background()
	_, s := debianStore(b)
	ca, _ := systemtest.CA(b, "Bench CA")
	want := []*x509.Certificate{ca}
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Audit(ctx, want); r.Status != stores.StatusMissing {
			b.Fatal(r.Detail)
		}
	}
}
