package pki_test

import (
	"crypto/x509"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/pki"
)

func TestTargets(t *testing.T) {
	root := testpki.NewCA(t, "Root")
	inter := root.Intermediate(t, "Inspection CA")
	lone := testpki.NewCA(t, "Lone root")
	ts := pki.Targets([]*x509.Certificate{root.Cert, inter.Cert, lone.Cert}, nil)
	want := []struct {
		role   pki.Role
		issuer *x509.Certificate
	}{{pki.RoleRoot, nil}, {pki.RoleIssuing, root.Cert}, {pki.RoleIssuing, nil}}
	for i, w := range want {
		if ts[i].Role != w.role || ts[i].Issuer != w.issuer {
			t.Errorf("target %d (%s): role %s issuer %v, want %s %v", i, ts[i].CA.Subject, ts[i].Role, ts[i].Issuer, w.role, w.issuer)
		}
	}
	// The issuer given separately is used, and the CA alone is issuing.
	ts = pki.Targets([]*x509.Certificate{inter.Cert}, []*x509.Certificate{root.Cert})
	if ts[0].Issuer != root.Cert || ts[0].Role != pki.RoleIssuing {
		t.Errorf("with --issuer: %+v", ts[0])
	}
}

func TestSubnet(t *testing.T) {
	for ip, want := range map[string]string{
		"10.20.3.77": "10.20.3.0/24", "2001:db8:1:2::5": "2001:db8:1:2::/64", "::ffff:192.0.2.9": "192.0.2.0/24",
		"127.0.0.1": "", "fe80::1": "", "0.0.0.0": "", "not an ip": "", "169.254.1.1": "",
	} {
		got, ok := pki.Subnet(ip, pki.DefaultV4Bits, pki.DefaultV6Bits)
		if got != want || ok != (want != "") {
			t.Errorf("Subnet(%q) = %q %v, want %q", ip, got, ok, want)
		}
	}
}
