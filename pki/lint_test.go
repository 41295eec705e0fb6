package pki_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
)

// TestLintBadRoot: a 10-year self-signed root made with openssl, with no
// key usage, no pathLen and no EKU, used as the proxy's CA, is flagged on
// each count.
func TestLintBadRoot(t *testing.T) {
	dir := t.TempDir()
	cnf := filepath.Join(dir, "bad.cnf")
	if err := os.WriteFile(cnf, []byte("[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=Careless Inspection Root\n[v3]\nbasicConstraints=CA:true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkitest.Openssl(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "bad.key", "-out", "bad.pem", "-days", "3650", "-config", cnf)
	c := pkitest.ReadCert(t, filepath.Join(dir, "bad.pem"))
	fs := pki.Lint(c, pki.RoleIssuing, time.Now())
	r := &pki.Report{Findings: fs}
	for _, want := range []struct {
		check string
		sev   pki.Severity
	}{
		{"key-usage-missing", pki.SevError},
		{"pathlen-missing", pki.SevError},
		{"eku-missing", pki.SevWarn},
		{"validity-long", pki.SevWarn},
		{"root-signs", pki.SevWarn},
		{"zlint:e_basic_constraints_not_critical", pki.SevError},
	} {
		if !has(r, want.check, want.sev, "CA") {
			t.Errorf("want %s %s:\n%s", want.sev, want.check, dump(r))
		}
	}
	if !r.Failed() {
		t.Error("the bad root passes")
	}
	// As an offline root above an intermediate, the same certificate is
	// held to the root's rules: no pathLen and no EKU are advice only.
	rr := &pki.Report{Findings: pki.Lint(c, pki.RoleRoot, time.Now())}
	if !has(rr, "pathlen-missing", pki.SevInfo, "CA") || !has(rr, "eku-missing", pki.SevInfo, "CA") || has(rr, "root-signs", pki.SevWarn, "") {
		t.Errorf("as a root:\n%s", dump(rr))
	}
	if !has(rr, "key-usage-missing", pki.SevError, "CA") {
		t.Errorf("a root without keyUsage must still be flagged:\n%s", dump(rr))
	}
}

// TestLintWellMade: the intermediate pkitest issues (pathlen 0,
// keyCertSign+cRLSign, serverAuth, P-256, 3 years, http CDP and AIA)
// passes, with its name-constraint advice as info only.
func TestLintWellMade(t *testing.T) {
	p := pkitest.New(t)
	r := &pki.Report{Findings: pki.Lint(p.Inter.Cert, pki.RoleIssuing, time.Now())}
	if r.Failed() {
		t.Fatalf("a well-made intermediate fails: %v\n%s", failing(r), dump(r))
	}
	if !has(r, "name-constraints", pki.SevInfo, "CA") || !has(r, "pathlen", pki.SevInfo, "CA") {
		t.Errorf("want the passes recorded:\n%s", dump(r))
	}
	// The root above it passes as a root.
	rr := &pki.Report{Findings: pki.Lint(p.Root.Cert, pki.RoleRoot, time.Now())}
	if rr.Failed() {
		t.Errorf("the offline root fails: %v\n%s", failing(rr), dump(rr))
	}
}

// TestLintExpiry: days left decide between pass, warning and error.
func TestLintExpiry(t *testing.T) {
	p := pkitest.New(t)
	na := p.Inter.Cert.NotAfter
	for _, tc := range []struct {
		at    time.Time
		check string
		sev   pki.Severity
	}{
		{na.Add(-100 * 24 * time.Hour), "validity", pki.SevInfo},
		{na.Add(-60 * 24 * time.Hour), "expires-soon", pki.SevWarn},
		{na.Add(-10 * 24 * time.Hour), "expires-soon", pki.SevError},
		{na.Add(time.Hour), "expired", pki.SevError},
		{p.Inter.Cert.NotBefore.Add(-time.Hour), "not-yet-valid", pki.SevError},
	} {
		r := &pki.Report{Findings: pki.Lint(p.Inter.Cert, pki.RoleIssuing, tc.at)}
		if !has(r, tc.check, tc.sev, "CA") {
			t.Errorf("at %v: want %s %s:\n%s", tc.at, tc.sev, tc.check, dump(r))
		}
	}
}
