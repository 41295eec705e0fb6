package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/policy"
)

// newCACmd groups the commands about the interception CA itself.
func newCACmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ca",
		Short: "Check the interception CA: lint, CRL and OCSP health",
	}
	c.AddCommand(newCACheckCmd())
	return c
}

// caCheckOutput is the JSON of `anchorwatch ca check`.
type caCheckOutput struct {
	Passed  bool          `json:"passed"`
	Reports []*pki.Report `json:"reports"`
}

func newCACheckCmd() *cobra.Command {
	var (
		cas, issuers    []string
		leaf            string
		asJSON, offline bool
		margin, timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "check --ca FILE [--issuer FILE] [--leaf FILE] [--json]",
		Short: "Lint the CA and check its CRLs and OCSP responders",
		Long: `Lint every CA in --ca (zlint's RFC lints plus the interception-CA profile:
an intermediate under an offline root, pathLenConstraint 0, keyUsage keyCertSign and
cRLSign only, extendedKeyUsage serverAuth only, key type and size, validity and days
left, CDP and AIA present and plain http, name constraints), then fetch every CRL
distribution point over http and verify the CRL against the issuer (thisUpdate,
nextUpdate and the margin left, revocation), and query every OCSP responder of the
AIA for the CA and the sample leaf, verifying the answer's signature and freshness.

The issuer is taken from --issuer, from the other certificates in --ca, or fetched
from the CA's caIssuers URL (and proven by the CA's signature). A self-signed CA
that issued another CA in --ca is checked as an offline root.

Exit status: 0 when nothing fails; 1 when any finding is an error or a warning;
2 on a usage error (a file that is missing or holds no CA).`,
		Example: `  anchorwatch ca check --ca inspection-ca.pem --issuer root.pem
  anchorwatch ca check --ca chain.pem --leaf proxy-minted.pem --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cas) == 0 {
				return usageErr(errors.New("ca check: give the CA with --ca FILE"))
			}
			certs, err := loadCAs(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			var iss []*x509.Certificate
			if len(issuers) > 0 {
				if iss, err = loadCAs(cmd.ErrOrStderr(), issuers); err != nil {
					return err
				}
			}
			var leafCert *x509.Certificate
			if leaf != "" {
				if leafCert, err = policy.LoadCertificate(leaf); err != nil {
					return usageErr(fmt.Errorf("--leaf: %w", err))
				}
			}
			opts := pki.Options{Fetcher: &pki.Fetcher{Timeout: timeout, UserAgent: "anchorwatch/" + version}, CRLMargin: margin, Offline: offline}
			out := caCheckOutput{Passed: true}
			for _, t := range pki.Targets(certs, iss) {
				if leafCert != nil && leafCert.CheckSignatureFrom(t.CA) == nil {
					t.Leaf = leafCert
				}
				r := pki.Check(cmd.Context(), t, opts)
				out.Passed = out.Passed && !r.Failed()
				out.Reports = append(out.Reports, r)
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				printCACheck(cmd.OutOrStdout(), termLayout(cmd), out)
			}
			if !out.Passed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` to check (PEM, DER, .p7b; several CAs, e.g. root and intermediate, allowed; repeatable)")
	c.Flags().StringArrayVar(&issuers, "issuer", nil, "issuer certificate `FILE` of the CA (repeatable)")
	c.Flags().StringVar(&leaf, "leaf", "", "a sample leaf `FILE` the CA issued (a certificate the proxy minted): its CRL and OCSP are checked too")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	addWideFlag(c)
	c.Flags().BoolVar(&offline, "offline", false, "lint only: fetch no CRL, OCSP answer or issuer")
	c.Flags().DurationVar(&margin, "crl-margin", 0, "warn when a CRL's nextUpdate is closer than `DURATION` (default: a quarter of the CRL's period)")
	c.Flags().DurationVar(&timeout, "timeout", pki.DefaultTimeout, "bound each fetch by `DURATION`")
	return c
}

func printCACheck(w io.Writer, l layout, out caCheckOutput) {
	for i, r := range out.Reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printWrapped(w, l, 2, fmt.Sprintf("CA %q (%s, %s…), expires %s (%d days left)", r.CA.Subject, r.Role, r.CA.SHA256[:16], r.CA.NotAfter.Format("2006-01-02"), r.CA.DaysLeft))
		if r.Issuer != nil && r.Issuer.SHA256 != r.CA.SHA256 {
			printWrapped(w, l, 2, fmt.Sprintf("issuer %q", r.Issuer.Subject))
		}
		t := newTable(col("SEVERITY"), idCol("CHECK"), idCol("SUBJECT"), textCol("FINDING"))
		for _, f := range r.Findings {
			t.row(string(f.Severity), f.Check, f.Subject, f.Message)
			if f.Fix != "" && f.Severity.Fails() {
				t.row("", "", "", "→ "+f.Fix)
			}
		}
		t.render(w, l)
		errs, warns := r.Count(pki.SevError), r.Count(pki.SevWarn)
		if r.Failed() {
			fmt.Fprintf(w, "FAIL: %s, %s\n", plural(errs, "error", "errors"), plural(warns, "warning", "warnings"))
		} else {
			fmt.Fprintf(w, "PASS: %d CRL(s) and %d OCSP answer(s) checked\n", len(r.CRLs), len(r.OCSP))
		}
	}
}

// warnCALint lints CAs offline (no fetch) and writes what fails to w as
// warnings: `policy init` and `package *` hand the CA to every host, so
// they say what is wrong with it before it is deployed. It never fails.
func warnCALint(w io.Writer, cas []*x509.Certificate) {
	bad := 0
	for _, t := range pki.Targets(cas, nil) {
		for _, f := range pki.Lint(t.CA, t.Role, time.Now()) {
			if !f.Severity.Fails() {
				continue
			}
			bad++
			fmt.Fprintf(w, "warning: CA %q: %s %s: %s\n", t.CA.Subject.CommonName, f.Severity, f.Check, f.Message)
			if f.Fix != "" {
				fmt.Fprintf(w, "         fix: %s\n", f.Fix)
			}
		}
	}
	if bad > 0 {
		fmt.Fprintf(w, "warning: the CA has %s; `anchorwatch ca check --ca FILE` also checks its CRL and OCSP (docs/pki-health.md)\n",
			plural(bad, "problem", "problems"))
	}
}
