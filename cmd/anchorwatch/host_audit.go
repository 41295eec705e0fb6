package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/stores"
)

// caInfo names a CA in JSON output.
type caInfo struct {
	SHA256   string    `json:"sha256"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// auditOutput is the JSON of `anchorwatch audit`.
type auditOutput struct {
	Compliant bool            `json:"compliant"`
	Root      string          `json:"root"`
	CAs       []caInfo        `json:"cas"`
	Stores    []stores.Result `json:"stores"`
	Probe     *probeOutput    `json:"probe,omitempty"` // --probe URL
}

// newAuditCmd is the `audit` command.
// Long: the command's flags, help text and RunE are declared together,
// as cobra commands are; the work is in the functions RunE calls.
func newAuditCmd(d hostDeps) *cobra.Command {
	var (
		f        hostFlags
		cas      []string
		probeURL string
		allow    string
	)
	cmd := &cobra.Command{
		Use:   "audit --ca FILE [--ca FILE…]",
		Short: "Check that every trust store holds the CAs, trusted for TLS server auth",
		Long: `For every store of the selected kinds (default: all), check that each CA is present
and trusted for TLS server authentication. Read-only.

Each store gets one status: compliant, missing (a CA is absent), untrusted (present
but not trusted for TLS server auth), overtrusted (trusted for more than TLS server
auth, e.g. S/MIME or code signing: install again to narrow it) or error (the store
could not be read; the reason is given). PURPOSES (JSON: purposes) is what each
store trusts the CA for; stores that cannot restrict it (Java keystores, Debian's
bundle, Firefox's Certificates.Install) say so in the detail and are not
overtrusted. --allow-purposes accepts more than TLS for admins who want it.

With --probe https://HOST, each TLS client found on this host (every Python
environment, Node, git, curl, wget) is run against the URL with the environment a
login session gets, honouring HTTPS_PROXY, and the ones that reject the certificate
are reported; --probe alone (no --ca) runs only that.

Exit status: 0 when every store is compliant (and every probed runtime trusts the
URL); 1 when any is not; 2 on a usage error or when nothing could be checked (no
store found, or none could be read).`,
		Example: `  anchorwatch audit --ca corp-ca.pem
  anchorwatch audit --ca corp-ca.pem --stores nss --json | jq '.stores[] | select(.status != "compliant")'
  HTTPS_PROXY=http://proxy.corp:3128 anchorwatch audit --probe https://pypi.org`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cas) == 0 && probeURL == "" {
				return usageErr(errors.New("audit: give the CA to check for with --ca FILE (or a URL to test this host's TLS clients with --probe)"))
			}
			if len(cas) == 0 {
				return probeOnly(cmd, f, probeURL)
			}
			allowed, err := stores.ParsePurposes(allow)
			if err != nil {
				return usageErr(fmt.Errorf("--allow-purposes: %w", err))
			}
			certs, err := loadCAs(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			env, kinds, err := f.env(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if probeURL != "" {
				if err := checkProbeURL(probeURL, env); err != nil {
					return err
				}
			}
			found := d.find(ctx, env, kinds)
			results := make([]stores.Result, len(found.stores))
			parallel(ctx, found.stores, func(ctx context.Context, i int, s stores.Store) {
				results[i] = stores.AllowPurposes(stores.Audit(ctx, s, certs), allowed)
			})
			results = append(results, found.failed...)
			out := auditOutput{Compliant: true, Root: env.Root, Stores: results}
			checked := 0
			for _, c := range certs {
				out.CAs = append(out.CAs, caInfo{SHA256: stores.SHA256(c), Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC()})
			}
			for _, r := range results {
				if r.Status != stores.StatusCompliant {
					out.Compliant = false
				}
				if r.Status != stores.StatusError {
					checked++
				}
			}
			if checked == 0 {
				out.Compliant = false
			}
			if probeURL != "" {
				out.Probe = runProbe(ctx, env, probeURL)
				out.Compliant = out.Compliant && out.Probe.OK
			}
			w := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(w, out); err != nil {
					return err
				}
			} else {
				printAudit(w, termLayout(cmd), out, cas)
			}
			switch {
			case len(results) == 0:
				return &exitError{code: 2, err: fmt.Errorf("audit: no trust store found under %s%s: nothing was checked", env.Root, kindsHint(f.kinds))}
			case checked == 0:
				return &exitError{code: 2, err: errors.New("audit: no store could be read: nothing was checked")}
			case !out.Compliant:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` to check for (PEM, DER, .p7b/.p7c; repeatable)")
	cmd.Flags().StringVar(&allow, "allow-purposes", "", "also accept the CA trusted for these `PURPOSES` (comma-separated: clientAuth,codeSigning,emailProtection,timeStamping,any)")
	cmd.Flags().StringVar(&probeURL, "probe", "", "run this host's TLS clients (Python, Node, git, curl, wget) against `URL` and report which reject it")
	return cmd
}

func printAudit(w io.Writer, l layout, out auditOutput, caFiles []string) {
	if out.Probe != nil {
		defer printProbe(w, l, out.Probe)
	}
	t := newTable(idCol("STORE"), col("STATUS"), col("PURPOSES"), textCol("DETAIL"))
	bad := 0
	for _, r := range out.Stores {
		if r.Status != stores.StatusCompliant {
			bad++
		}
		t.row(r.ID, string(r.Status), resultPurposes(r), r.Detail)
	}
	t.render(w, l)
	switch {
	case len(out.Stores) == 0:
		fmt.Fprintln(w, "no trust store found: nothing was checked")
	case out.Compliant:
		printWrapped(w, l, 2, fmt.Sprintf("compliant: %s checked, every one holds the CA, trusted", plural(len(out.Stores), "store", "stores")))
	default:
		fix := []string{"anchorwatch", "install"}
		for _, f := range caFiles {
			fix = append(fix, "--ca", f)
		}
		if out.Root != "/" {
			fix = append(fix, "--root", out.Root)
		}
		printWrapped(w, l, 2, fmt.Sprintf("NOT compliant: %d of %s need attention; to fix:", bad, plural(len(out.Stores), "store", "stores")))
		printCommand(w, l, fix)
	}
}

// resultPurposes renders what a store trusts the CAs for ("-" when the
// store does not say): every CA's purposes, merged.
func resultPurposes(r stores.Result) string {
	var all []stores.Purpose
	for _, ps := range r.Purposes {
		all = append(all, ps...)
	}
	if len(all) == 0 {
		return "-"
	}
	return strings.ReplaceAll(stores.JoinPurposes(stores.SortPurposes(all)), " ", "")
}
