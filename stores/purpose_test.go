package stores_test

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

func TestCheckOvertrusted(t *testing.T) {
	ca := testpki.NewCA(t, "Purpose CA").Cert
	other := testpki.NewCA(t, "Other CA").Cert
	info := stores.Info{ID: "test:x"}
	anchor := func(c *x509.Certificate, ps ...stores.Purpose) stores.Anchor {
		a := stores.NewAnchor(c, "", true)
		a.Purposes = ps
		return a
	}
	cases := []struct {
		name    string
		info    stores.Info
		anchors []stores.Anchor
		want    []*x509.Certificate
		status  stores.Status
		over    int
	}{
		{"server auth only", info, []stores.Anchor{anchor(ca, stores.PurposeServerAuth)}, []*x509.Certificate{ca}, stores.StatusCompliant, 0},
		{"not reported", info, []stores.Anchor{anchor(ca)}, []*x509.Certificate{ca}, stores.StatusCompliant, 0},
		{"s/mime too", info, []stores.Anchor{anchor(ca, stores.PurposeServerAuth, stores.PurposeEmailProtection)}, []*x509.Certificate{ca}, stores.StatusOvertrusted, 1},
		{"any", info, []stores.Anchor{anchor(ca, stores.PurposeAny)}, []*x509.Certificate{ca}, stores.StatusOvertrusted, 1},
		{"store cannot restrict", stores.Info{ID: "test:y", CannotRestrict: true}, []stores.Anchor{anchor(ca, stores.PurposeAny)}, []*x509.Certificate{ca}, stores.StatusCompliant, 0},
		{"missing wins", info, []stores.Anchor{anchor(ca, stores.PurposeAny)}, []*x509.Certificate{ca, other}, stores.StatusMissing, 1},
		{"another CA overtrusted is not ours", info, []stores.Anchor{anchor(ca, stores.PurposeServerAuth), anchor(other, stores.PurposeAny)}, []*x509.Certificate{ca}, stores.StatusCompliant, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := stores.Check(tc.info, tc.anchors, tc.want)
			if r.Status != tc.status || len(r.Overtrusted) != tc.over {
				t.Fatalf("status %s, overtrusted %v; want %s, %d (detail %q)", r.Status, r.Overtrusted, tc.status, tc.over, r.Detail)
			}
			if tc.over > 0 && !strings.Contains(r.Detail, "beyond TLS server auth") {
				t.Errorf("detail %q does not name the overtrust", r.Detail)
			}
			if tc.info.CannotRestrict && !strings.Contains(r.Detail, "cannot restrict purposes") {
				t.Errorf("detail %q does not say the store cannot restrict purposes", r.Detail)
			}
		})
	}
}

func TestAllowPurposes(t *testing.T) {
	ca := testpki.NewCA(t, "Allowed CA").Cert
	a := stores.NewAnchor(ca, "", true)
	a.Purposes = []stores.Purpose{stores.PurposeEmailProtection, stores.PurposeServerAuth}
	r := stores.Check(stores.Info{ID: "test:x"}, []stores.Anchor{a}, []*x509.Certificate{ca})
	if r.Status != stores.StatusOvertrusted {
		t.Fatalf("status %s", r.Status)
	}
	if got := stores.AllowPurposes(r, []stores.Purpose{stores.PurposeCodeSigning}); got.Status != stores.StatusOvertrusted {
		t.Errorf("allowing code signing made S/MIME trust %s", got.Status)
	}
	for _, allow := range [][]stores.Purpose{{stores.PurposeEmailProtection}, {stores.PurposeAny}} {
		if got := stores.AllowPurposes(r, allow); got.Status != stores.StatusCompliant || len(got.Overtrusted) != 0 {
			t.Errorf("allow %v: %s %v", allow, got.Status, got.Overtrusted)
		}
	}
	a.Purposes = []stores.Purpose{stores.PurposeAny}
	r = stores.Check(stores.Info{ID: "test:x"}, []stores.Anchor{a}, []*x509.Certificate{ca})
	if got := stores.AllowPurposes(r, []stores.Purpose{stores.PurposeEmailProtection}); got.Status != stores.StatusOvertrusted {
		t.Errorf("allowing S/MIME allowed trust for any purpose: %s", got.Status)
	}
}

func TestParsePurposes(t *testing.T) {
	got, err := stores.ParsePurposes("smime, codeSigning,EMAIL,any")
	if err != nil {
		t.Fatal(err)
	}
	if stores.JoinPurposes(got) != "emailProtection, codeSigning, any" {
		t.Errorf("parsed %v", got)
	}
	if _, err := stores.ParsePurposes("serverAuth,bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("bad name: %v", err)
	}
}
