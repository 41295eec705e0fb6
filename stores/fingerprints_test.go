package stores_test

import (
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

func TestFingerprints(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("0c", 32)
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":") // a, as certutil prints it
	got, err := stores.Fingerprints([]string{colons, b, a, " " + b + " "})
	if err != nil || !slices.Equal(got, []string{a, b}) {
		t.Errorf("Fingerprints = %q, %v; want [a b] in order, repeats dropped", got, err)
	}
	for _, bad := range []string{"", "ab", strings.Repeat("zz", 32), a + "00"} {
		_, err := stores.Fingerprints([]string{a, bad})
		if !errors.Is(err, stores.ErrNotFingerprint) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("%q: err = %v, want ErrNotFingerprint naming it", bad, err)
		}
	}
	if got, err := stores.Fingerprints(nil); err != nil || len(got) != 0 {
		t.Errorf("none: %q, %v", got, err)
	}
}

func TestUnique(t *testing.T) {
	c1, _ := testpki.SelfSigned(t, "Unique One")
	c2, _ := testpki.SelfSigned(t, "Unique Two")
	again, err := x509.ParseCertificate(c1.Raw) // another pointer, same certificate
	if err != nil {
		t.Fatal(err)
	}
	got := stores.Unique([]*x509.Certificate{c1, c2, again, c2})
	if len(got) != 2 || got[0] != c1 || got[1] != c2 {
		t.Errorf("Unique kept %d certificates, want the first of each in order", len(got))
	}
}
