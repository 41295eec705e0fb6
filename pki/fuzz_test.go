package pki_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
)

// FuzzParseCRL feeds what a distribution point may serve to the CRL
// parser and check: an error or findings, never a panic. The seeds are
// CRLs made by `openssl ca -gencrl` (DER, PEM, with an entry) and what
// broken servers send.
func FuzzParseCRL(f *testing.F) {
	issuer := pkitest.ReadCert(f, filepath.Join("testdata", "fuzz-issuer.pem"))
	cert := pkitest.ReadCert(f, filepath.Join("testdata", "fuzz-cert.pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		crl, _, err := pki.ParseCRL(data)
		if err != nil {
			if !errors.Is(err, pki.ErrNotCRL) {
				t.Fatalf("error %v does not wrap ErrNotCRL", err)
			}
			return
		}
		var res pki.CRLResult
		fs := pki.CheckCRL(crl, pki.CRLCheck{URL: "http://crl.example/x.crl", For: "CA", Cert: cert, Issuer: issuer, Now: time.Now()}, &res)
		if len(fs) == 0 {
			t.Fatal("a parsed CRL gave no finding at all")
		}
	})
}

// FuzzParseOCSP feeds what a responder may answer to the OCSP parser and
// check. The seeds are answers of `openssl ocsp` (good, revoked) and the
// RFC 6960 error answers.
func FuzzParseOCSP(f *testing.F) {
	issuer := pkitest.ReadCert(f, filepath.Join("testdata", "fuzz-issuer.pem"))
	cert := pkitest.ReadCert(f, filepath.Join("testdata", "fuzz-cert.pem"))
	now := cert.NotBefore.Add(time.Hour)
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := pki.ParseOCSP(data, cert, issuer, now)
		var re ocsp.ResponseError
		if err != nil && !errors.As(err, &re) && !errors.Is(err, pki.ErrOCSPInvalid) && !errors.Is(err, pki.ErrOCSPSignature) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil && resp == nil {
			t.Fatal("no error and no answer")
		}
		var res pki.OCSPResult
		if fs := pki.CheckOCSP(resp, err, pki.OCSPCheck{URL: "http://ocsp.example", For: "CA", Now: now}, &res); len(fs) == 0 || res.Status == "" {
			t.Fatalf("no finding or status for %v", err)
		}
	})
}

// TestFuzzSeedsMeanSomething: the committed seeds are what they claim to
// be, so the fuzzers start from real answers.
func TestFuzzSeedsMeanSomething(t *testing.T) {
	issuer := pkitest.ReadCert(t, filepath.Join("testdata", "fuzz-issuer.pem"))
	cert := pkitest.ReadCert(t, filepath.Join("testdata", "fuzz-cert.pem"))
	now := cert.NotBefore.Add(time.Hour)
	for name, want := range map[string]int{"good": ocsp.Good, "revoked": ocsp.Revoked} {
		data := readSeed(t, "FuzzParseOCSP", name)
		resp, err := pki.ParseOCSP(data, cert, issuer, now)
		if err != nil || resp.Status != want {
			t.Errorf("seed %s: %v, status %v", name, err, resp)
		}
	}
	if _, err := pki.ParseOCSP(readSeed(t, "FuzzParseOCSP", "unauthorized"), cert, issuer, now); !errors.As(err, new(ocsp.ResponseError)) {
		t.Errorf("seed unauthorized: %v", err)
	}
	for _, name := range []string{"fresh-der", "fresh-pem", "revoked-der"} {
		crl, isPEM, err := pki.ParseCRL(readSeed(t, "FuzzParseCRL", name))
		if err != nil || isPEM != (name == "fresh-pem") || crl.CheckSignatureFrom(issuer) != nil {
			t.Errorf("seed %s: %v (pem %v)", name, err, isPEM)
		}
	}
}
