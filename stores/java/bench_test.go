//go:build linux

package java

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// BenchmarkList lists one full cacerts (~145 CAs) per format, beside
// keytool -list of the same file (JDK 17: JVM start included, which is
// what running keytool costs).
func BenchmarkList(b *testing.B) {
	root, rts := sandbox(b)
	vendor := mustVendor(b)
	p12, err := encodeTestP12(vendor, "changeit")
	if err != nil {
		b.Fatal(err)
	}
	writeHost(b, hostPath(root, "/opt/app/cacerts.p12"), p12)
	cases := []struct{ name, path, storetype, pw string }{
		{"jks", rts[0].Cacerts, "JKS", "changeit"},
		{"pkcs12-passwordless", rts[1].Cacerts, "PKCS12", ""},
		{"pkcs12-password", "/opt/app/cacerts.p12", "PKCS12", "changeit"},
	}
	for _, c := range cases {
		s := openStore(b, root, c.path, nil)
		b.Run(c.name+"/anchorwatch", func(b *testing.B) {
			for b.Loop() {
				as, err := s.List(context.Background())
				if err != nil || len(as) < 100 {
					b.Fatal(len(as), err)
				}
			}
		})
	}
	j := jdk(b, 17)
	for _, c := range cases[:2] {
		b.Run(c.name+"/keytool-17", func(b *testing.B) {
			for b.Loop() {
				keytoolList(b, j, hostPath(root, openStore(b, root, c.path, nil).Info().Path), c.storetype, c.pw)
			}
		})
	}
}

// BenchmarkDiscoverAudit is the java part of `anchorwatch audit`: discover
// every keystore under a root (Debian JDK 17 + JDK 25) and audit each.
func BenchmarkDiscoverAudit(b *testing.B) {
	root, _ := sandbox(b)
	ca := testpki.NewCA(b, "Bench CA")
	env := stores.Env{Root: root}
	want := []*x509.Certificate{ca.Cert}
	for b.Loop() {
		ss, err := Discover(context.Background(), env)
		if err != nil || len(ss) != 2 {
			b.Fatal(len(ss), err)
		}
		for _, s := range ss {
			if r := stores.Audit(context.Background(), s, want); r.Status != stores.StatusMissing {
				b.Fatal(r.Status, r.Detail)
			}
		}
	}
}
