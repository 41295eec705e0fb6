package pki_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
)

// failing returns the checks of findings that fail (error or warn), as
// "check@subject" strings.
func failing(r *pki.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity.Fails() {
			out = append(out, f.Check+"@"+f.Subject)
		}
	}
	return out
}

// has reports whether r holds a finding check of severity sev about subject.
func has(r *pki.Report, check string, sev pki.Severity, subject string) bool {
	for _, f := range r.Findings {
		if f.Check == check && f.Severity == sev && (subject == "" || f.Subject == subject) {
			return true
		}
	}
	return false
}

func dump(r *pki.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", f.Severity, f.Check, f.Subject, f.Message)
	}
	return b.String()
}

func check(t *testing.T, target pki.Target) *pki.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pki.Check(ctx, target, pki.Options{Fetcher: &pki.Fetcher{Timeout: 5 * time.Second}})
}

// TestCheckFresh: a well-made intermediate whose CRL is fresh and whose
// responders (openssl ocsp) answer good passes, with and without the
// issuer given (then fetched from caIssuers), with a sample leaf.
func TestCheckFresh(t *testing.T) {
	p := pkitest.New(t)
	p.StartResponder(t, p.Root)
	p.StartResponder(t, p.Inter)
	for _, tc := range []struct {
		name   string
		target pki.Target
	}{
		{"issuer given", pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert, Leaf: p.Leaf}},
		{"issuer from caIssuers", pki.Target{CA: p.Inter.Cert, Leaf: p.Leaf}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, tc.target)
			if r.Failed() {
				t.Fatalf("fresh PKI fails: %v\n%s", failing(r), dump(r))
			}
			if r.Issuer == nil || r.Issuer.SHA256 != pki.Info(p.Root.Cert, time.Now()).SHA256 {
				t.Errorf("issuer = %+v, want the root", r.Issuer)
			}
			if len(r.CRLs) != 2 || !r.CRLs[0].OK || !r.CRLs[1].OK {
				t.Errorf("CRLs = %+v, want the root's and the intermediate's, both OK", r.CRLs)
			}
			for _, c := range r.CRLs {
				if left := time.Until(c.NextUpdate); left < 6*24*time.Hour || left > 8*24*time.Hour || c.SecondsLeft < 6*86400 {
					t.Errorf("CRL %s: nextUpdate %v (%.0f s left), want 7 days ahead", c.URL, c.NextUpdate, c.SecondsLeft)
				}
			}
			if len(r.OCSP) != 2 || r.OCSP[0].Status != pki.OCSPGood || r.OCSP[1].Status != pki.OCSPGood {
				t.Errorf("OCSP = %+v, want two good answers", r.OCSP)
			}
			if !has(r, "crl", pki.SevInfo, p.URL("root.crl")) || !has(r, "ocsp", pki.SevInfo, "") {
				t.Errorf("no pass recorded for the CRL and OCSP:\n%s", dump(r))
			}
		})
	}
}

// TestCheckFindings: each failure of the PKI gives its finding.
func TestCheckFindings(t *testing.T) {
	t.Run("expired nextUpdate", func(t *testing.T) {
		p := pkitest.New(t)
		p.StartResponder(t, p.Root)
		past := time.Now().UTC().Add(-48 * time.Hour)
		p.GenCRL(t, p.Root, "-crl_lastupdate", past.Format("20060102150405Z"), "-crl_nextupdate", past.Add(24*time.Hour).Format("20060102150405Z"))
		r := check(t, pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert})
		if !has(r, "crl-expired", pki.SevError, p.URL("root.crl")) || r.CRLs[0].OK || r.CRLs[0].SecondsLeft > -86000 {
			t.Errorf("want crl-expired, %.0f s left:\n%s", r.CRLs[0].SecondsLeft, dump(r))
		}
	})
	t.Run("nextUpdate near", func(t *testing.T) {
		p := pkitest.New(t)
		p.StartResponder(t, p.Root)
		start := time.Now().UTC().Add(-20 * time.Hour)
		p.GenCRL(t, p.Root, "-crl_lastupdate", start.Format("20060102150405Z"), "-crl_nextupdate", start.Add(24*time.Hour).Format("20060102150405Z"))
		r := check(t, pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert})
		if !has(r, "crl-expiring", pki.SevWarn, p.URL("root.crl")) || !r.CRLs[0].OK {
			t.Errorf("want crl-expiring (4 h of 24 left):\n%s", dump(r))
		}
	})
	t.Run("CRL signed by the wrong key", func(t *testing.T) {
		p := pkitest.New(t)
		p.StartResponder(t, p.Root)
		// Same name as the root, another key: what a CA rebuilt from
		// scratch, or an attacker, would sign.
		impostor := p.NewRoot(t, "impostor", "/CN=Anchorwatch Test Root/O=Anchorwatch test")
		impostor.Name = "root" // publish as root.crl
		p.GenCRL(t, impostor, "-crldays", "7")
		r := check(t, pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert})
		if !has(r, "crl-signature", pki.SevError, p.URL("root.crl")) || r.CRLs[0].OK {
			t.Errorf("want crl-signature:\n%s", dump(r))
		}
	})
	t.Run("https CDP", func(t *testing.T) {
		p := pkitest.New(t)
		p.StartResponder(t, p.Root)
		u := "https://127.0.0.1:1/root.crl"
		ca := p.Issue(t, p.Root, "inter-https", "/CN=Inspection CA with an https CDP", p.InterExt(u, ""))
		r := check(t, pki.Target{CA: ca.Cert, Issuer: p.Root.Cert})
		if !has(r, "cdp-https", pki.SevError, u) || len(r.CRLs) != 0 {
			t.Errorf("want cdp-https and no fetch:\n%s", dump(r))
		}
	})
	t.Run("responder down", func(t *testing.T) {
		p := pkitest.New(t) // no responder started on the root's port
		r := check(t, pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert})
		u := fmt.Sprintf("http://127.0.0.1:%d", p.Root.OCSPPort)
		if !has(r, "ocsp-unreachable", pki.SevError, u) || r.OCSP[0].Status != pki.OCSPUnreachable || r.OCSP[0].Error != "connection refused" {
			t.Errorf("want ocsp-unreachable (connection refused): %+v\n%s", r.OCSP, dump(r))
		}
	})
	t.Run("revoked", func(t *testing.T) {
		p := pkitest.New(t)
		p.Revoke(t, p.Root, p.Inter.CertFile)
		p.GenCRL(t, p.Root, "-crldays", "7")
		p.Revoke(t, p.Inter, filepath.Join(p.Dir, "leaf.pem"))
		p.GenCRL(t, p.Inter, "-crldays", "7")
		p.StartResponder(t, p.Root)
		p.StartResponder(t, p.Inter)
		r := check(t, pki.Target{CA: p.Inter.Cert, Issuer: p.Root.Cert, Leaf: p.Leaf})
		rootOCSP, interOCSP := fmt.Sprintf("http://127.0.0.1:%d", p.Root.OCSPPort), fmt.Sprintf("http://127.0.0.1:%d", p.Inter.OCSPPort)
		for _, want := range []struct{ check, subject string }{
			{"ocsp-revoked", rootOCSP}, {"ocsp-revoked", interOCSP},
			{"crl-revoked", p.URL("root.crl")}, {"crl-revoked", p.URL("inter.crl")},
		} {
			if !has(r, want.check, pki.SevError, want.subject) {
				t.Errorf("want %s about %s:\n%s", want.check, want.subject, dump(r))
			}
		}
		if r.OCSP[0].Status != pki.OCSPRevoked || !r.CRLs[0].Revoked {
			t.Errorf("results: %+v %+v", r.OCSP, r.CRLs)
		}
	})
	t.Run("unknown to the responder", func(t *testing.T) {
		// The root's responder runs on an old copy of its database, from
		// before the intermediate was issued.
		p := pkitest.New(t)
		index := filepath.Join(p.Root.Dir, "index.txt")
		old, err := os.ReadFile(index)
		if err != nil {
			t.Fatal(err)
		}
		ca := p.Issue(t, p.Root, "inter2", "/CN=Inspection CA missing from the responder", p.InterExt("", ""))
		if err := os.WriteFile(index, old, 0o644); err != nil {
			t.Fatal(err)
		}
		p.StartResponder(t, p.Root)
		r := check(t, pki.Target{CA: ca.Cert, Issuer: p.Root.Cert})
		if !has(r, "ocsp-unknown", pki.SevError, "") || r.OCSP[0].Status != pki.OCSPUnknown {
			t.Errorf("want ocsp-unknown:\n%s", dump(r))
		}
	})
	t.Run("answer signed by another CA", func(t *testing.T) {
		// The intermediate's responder (signing with the intermediate's
		// key) is asked about the intermediate itself: the root did not
		// authorize it, whatever it says.
		p := pkitest.New(t)
		p.StartResponder(t, p.Inter)
		ca := p.Issue(t, p.Root, "inter2", "/CN=Inspection CA asked of the wrong responder", p.InterExt("", fmt.Sprintf("http://127.0.0.1:%d", p.Inter.OCSPPort)))
		r := check(t, pki.Target{CA: ca.Cert, Issuer: p.Root.Cert})
		if !has(r, "ocsp-signature", pki.SevError, "") || r.OCSP[0].Status != pki.OCSPInvalid {
			t.Errorf("want ocsp-signature:\n%s", dump(r))
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		// openssl ocsp never answers "unauthorized" (it says "unknown" for
		// an issuer it does not serve); responders that refuse to answer
		// for a CA send the fixed RFC 6960 answer, served here.
		p := pkitest.New(t)
		refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/ocsp-response")
			w.Write(ocsp.UnauthorizedErrorResponse)
		}))
		defer refuse.Close()
		ca := p.Issue(t, p.Root, "inter-unauth", "/CN=Inspection CA with an unauthorized responder", p.InterExt("", refuse.URL))
		p.GenCRL(t, p.Root, "-crldays", "7")
		r := check(t, pki.Target{CA: ca.Cert, Issuer: p.Root.Cert})
		if !has(r, "ocsp-unauthorized", pki.SevError, refuse.URL) || r.OCSP[0].Status != "unauthorized" {
			t.Errorf("want ocsp-unauthorized:\n%s", dump(r))
		}
		if !r.CRLs[0].OK {
			t.Errorf("the CRL should still pass: %+v", r.CRLs)
		}
	})
}
