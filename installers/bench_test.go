package installers

import (
	"crypto/x509"
	"testing"
)

func BenchmarkSignedMobileConfig(b *testing.B) {
	f := newFixture(b)
	cas := []*x509.Certificate{f.root.Cert, f.inter.Cert}
	for b.Loop() {
		doc, err := MobileConfig(cas, Profile{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := SignProfile(doc, f.signer, f.signerKey, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegistryPol(b *testing.B) {
	f := newFixture(b)
	cas := []*x509.Certificate{f.root.Cert, f.inter.Cert}
	for b.Loop() {
		if _, err := RegistryPol(cas); err != nil {
			b.Fatal(err)
		}
	}
}
