package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/proxy"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// newProxyCmd groups the commands about the interception proxy itself:
// its report card, what its logs show, and its do-not-decrypt list.
func newProxyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "proxy",
		Short: "Grade the interception proxy, read its logs, export its do-not-decrypt list",
	}
	c.AddCommand(newProxyGradeCmd(), newProxyFindingsCmd(), newProxyBypassCmd())
	return c
}

// defaultPKIDir is where the grading PKI is kept between runs.
func defaultPKIDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "anchorwatch", "proxy-grade")
	}
	return ".anchorwatch-proxy-grade"
}

type gradeFlags struct {
	proxyURL, ca, pkiDir, listen, domain, require string
	byName, asJSON                                bool
	timeout                                       time.Duration
}

func newProxyGradeCmd() *cobra.Command {
	var f gradeFlags
	c := &cobra.Command{
		Use:   "grade --proxy http://HOST:PORT [--ca FILE] [--json]",
		Short: "Grade the proxy's upstream certificate validation against self-made bad origins (A/B/C/F)",
		Long: `Starts, on an address the proxy can reach, origins with one flaw each (expired, not yet valid,
self-signed, untrusted root, wrong host name, revoked by CRL and by OCSP, SHA-1, RSA-1024, TLS 1.0 or
1.1 only, RC4/3DES/NULL/non-forward-secret ciphers only) beside a sound baseline and a valid chain from
a recent ECDSA root, connects to each through the proxy and reports whether the proxy blocked it,
passed the error on, or re-signed it as valid — and grades the proxy on the Durumeric et al.
(NDSS 2017) scale: A optimal, B suboptimal, C known attack, F severely broken.

The origins' certificates come from a grading PKI kept in --pki: add its roots.pem to the proxy's
upstream trust once (Squid: tls_outgoing_options cafile=…/roots.pem). Its roots are limited to the
grading domain by name constraints, and their keys are not kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGrade(cmd, f) },
	}
	c.Flags().StringVar(&f.proxyURL, "proxy", "", "the proxy, `http://HOST:PORT`")
	c.Flags().StringVar(&f.ca, "ca", "", "the interception CA certificate `FILE` (default: learned from the chain the proxy sends)")
	c.Flags().StringVar(&f.pkiDir, "pki", defaultPKIDir(), "`DIR` of the grading PKI (created on first use)")
	c.Flags().StringVar(&f.listen, "listen", "", "`IP:PORT` the origins listen on, reachable by the proxy (default: this host's address towards the proxy, port 443)")
	c.Flags().StringVar(&f.domain, "domain", proxy.DefaultDomain, "grading `DOMAIN` (origins are <check>.DOMAIN)")
	c.Flags().BoolVar(&f.byName, "connect-by-name", false, "CONNECT to <check>.DOMAIN (the proxy must resolve it to --listen) instead of the origins' address")
	c.Flags().DurationVar(&f.timeout, "timeout", 20*time.Second, "bound on each check")
	c.Flags().StringVar(&f.require, "require", "", "exit with status 1 when the grade is worse than `GRADE` (A, B, C)")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	addWideFlag(c)
	return c
}

func runGrade(cmd *cobra.Command, f gradeFlags) error {
	u, err := url.Parse(f.proxyURL)
	if f.proxyURL == "" || err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return usageErr(errors.New("--proxy http://HOST:PORT is required (no credentials in the URL)"))
	}
	var need proxy.Grade
	if f.require != "" {
		if need, err = proxy.ParseGrade(f.require); err != nil {
			return usageErr(fmt.Errorf("--require: %w", err))
		}
	}
	cfg := proxy.Config{Proxy: u, Listen: f.listen, ConnectByName: f.byName, Timeout: f.timeout}
	if f.ca != "" {
		certs, err := loadCAFile(cmd.ErrOrStderr(), f.ca)
		if err != nil {
			return err
		}
		if len(certs) != 1 {
			return usageErr(fmt.Errorf("--ca %s holds %d certificates: give the one the proxy signs with", f.ca, len(certs)))
		}
		cfg.CA = certs[0]
	}
	pki, created, err := proxy.OpenPKI(f.pkiDir, f.domain, time.Now())
	if err != nil {
		return err
	}
	cfg.PKI = pki
	if created {
		fmt.Fprintf(cmd.ErrOrStderr(), "created the grading PKI in %s: add %s to the proxy's upstream trust (Squid: tls_outgoing_options cafile=%[2]s)\n",
			f.pkiDir, filepath.Join(f.pkiDir, proxy.RootsFile))
	}
	if !f.asJSON {
		cfg.Progress = func(r proxy.Result) { fmt.Fprintf(cmd.ErrOrStderr(), "  %-26s %s\n", r.ID, r.Outcome) }
	}
	rep, err := proxy.Run(cmd.Context(), cfg)
	if rep == nil {
		return err
	}
	if perr := printGrade(cmd.OutOrStdout(), termLayout(cmd), rep, f.asJSON); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if need != 0 && rep.Grade > need {
		return &exitError{code: 1, err: fmt.Errorf("grade %s is worse than the required %s", rep.Grade, need)}
	}
	return nil
}

func printGrade(w io.Writer, l layout, r *proxy.Report, asJSON bool) error {
	if asJSON {
		return printJSON(w, r)
	}
	fw := newFitWriter(w, l)
	defer fw.Close()
	w = fw
	fmt.Fprintf(w, "Proxy %s: grade %s (Durumeric et al., NDSS 2017: A optimal, B suboptimal, C known attack, F severely broken)\n", r.Proxy, r.Grade)
	if r.InterceptionCA != "" {
		fmt.Fprintf(w, "Interception CA: %s\n", r.InterceptionCA)
	}
	if up := r.Upstream; up != nil {
		fmt.Fprintf(w, "Offers upstream: %s to %s, %d cipher suites, first %s — grade %s", up.MinVersion, up.MaxVersion, len(up.Ciphers), first(up.Ciphers), up.Grade)
		if len(up.Reasons) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(up.Reasons, "; "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	t := newTable(idCol("CHECK"), col("OUTCOME"), textCol("RESULT"), textCol("UPSTREAM"))
	for _, res := range r.Results {
		verdict := "pass"
		switch {
		case res.Outcome == proxy.NotRun:
			verdict = "not run: " + res.Detail
		case !res.Pass:
			verdict = "FAIL (" + res.Grade.String() + ")"
		}
		t.row(res.ID, string(res.Outcome), verdict, res.Upstream)
	}
	t.render(w, l)
	if len(r.Failing) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nWhat to change:")
	for _, id := range r.Failing {
		for _, res := range r.Results {
			if res.ID == id {
				fmt.Fprintf(w, "  %s (%s): %s — %s: %s.\n    Risk: %s.\n    Change: %s.\n", res.ID, res.Grade, res.Title, res.Outcome, res.Detail, res.Risk, res.Advice)
			}
		}
	}
	if up := r.Upstream; up != nil && up.Grade > proxy.GradeA {
		fmt.Fprintf(w, "  upstream offer (%s): %s.\n    Change: offer TLS 1.2+ with ECDHE and AEAD ciphers only (Squid: tls_outgoing_options min-version=1.2 cipher=…).\n",
			up.Grade, strings.Join(up.Reasons, "; "))
	}
	return nil
}

func first(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return list[0]
}

func newProxyFindingsCmd() *cobra.Command {
	var logs []string
	var roots string
	var asJSON bool
	var suggestDays int
	c := &cobra.Command{
		Use:   "findings --access-log FILE... [--roots FILE] [--json]",
		Short: "What the proxy's access.log shows: failed upstream validation, client-certificate sites, pinned apps",
		Long: `Reads Squid access.log files written with the anchorwatch logformat (docs/proxy.md) — the files
the collector ingests — and lists destinations whose certificate the proxy could not validate (naming
the missing root when it is in the reference bundle: an outdated appliance root store), destinations
that ask for a client certificate (interception breaks client-certificate authentication) and
destinations whose tunnels carry no request after the handshake or whose certificate is refused by
clients that trust the CA elsewhere (pinned applications). The last two should be bypassed: the
command prints do_not_decrypt entries to add to the policy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(logs) == 0 {
				return usageErr(errors.New("--access-log FILE is required"))
			}
			var ref []*x509.Certificate
			var err error
			if roots != "" {
				if ref, err = proxy.LoadBundle(roots); err != nil {
					return usageErr(err)
				}
			} else {
				_, ref, err = proxy.SystemBundle()
			}
			if err != nil {
				return err
			}
			f, err := scanLogs(cmd.Context(), logs, ref)
			if err != nil {
				return err
			}
			suggested := suggestBypass(f, time.Now().Add(time.Duration(suggestDays)*24*time.Hour))
			if asJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					*proxy.Findings
					Suggested []policy.Bypass `json:"suggested_do_not_decrypt,omitempty"`
				}{f, suggested})
			}
			fw := newFitWriter(cmd.OutOrStdout(), termLayout(cmd))
			defer fw.Close()
			return printFindings(fw, f, suggested)
		},
	}
	c.Flags().StringArrayVar(&logs, "access-log", nil, "Squid access.log `FILE` (anchorwatch logformat); repeat for rotated files")
	c.Flags().StringVar(&roots, "roots", "", "reference root bundle `FILE` to name missing roots (default: this system's bundle)")
	c.Flags().IntVar(&suggestDays, "bypass-days", 90, "expiry of the suggested do_not_decrypt entries, in `DAYS`")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	addWideFlag(c)
	return c
}

func scanLogs(ctx context.Context, paths []string, ref []*x509.Certificate) (*proxy.Findings, error) {
	var readers []io.Reader
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			return nil, usageErr(err)
		}
		defer fh.Close()
		if fi, err := fh.Stat(); err != nil || !fi.Mode().IsRegular() {
			return nil, usageErr(fmt.Errorf("%s: not a regular file", p))
		}
		readers = append(readers, fh)
	}
	return proxy.ScanAccessLogs(ctx, readers, ref)
}

// suggestBypass proposes do_not_decrypt entries for client-certificate
// sites and pinned applications.
func suggestBypass(f *proxy.Findings, until time.Time) []policy.Bypass {
	var out []policy.Bypass
	add := func(hosts []string, reason string) {
		var dsts []string
		for _, h := range hosts {
			if d, err := policy.NormalizeDestination(h); err == nil {
				dsts = append(dsts, d)
			}
		}
		if len(dsts) > 0 {
			u := until.UTC().Truncate(time.Second)
			out = append(out, policy.Bypass{Destinations: dsts, Reason: reason, Expires: &u})
		}
	}
	var cc, pinned []string
	for _, d := range f.ClientCertificate {
		cc = append(cc, d.Host)
	}
	for _, p := range f.Pinned {
		pinned = append(pinned, p.Host)
	}
	add(cc, "sites that ask for a client certificate (proxy findings)")
	add(pinned, "pinned applications (proxy findings)")
	return out
}

func printFindings(w io.Writer, f *proxy.Findings, suggested []policy.Bypass) error {
	fmt.Fprintf(w, "%d lines, %d in the anchorwatch logformat", f.Lines, f.Extended)
	if f.Skipped > 0 || f.Untracked > 0 {
		fmt.Fprintf(w, " (%d skipped, %d past the tracking bound)", f.Skipped, f.Untracked)
	}
	fmt.Fprintln(w)
	if f.Extended == 0 && f.Parsed > 0 {
		fmt.Fprintln(w, "The log is in Squid's native format, which says nothing about TLS: use the anchorwatch logformat (docs/proxy.md).")
	}
	fmt.Fprintf(w, "\nUpstream validation failures: %d destinations\n", len(f.UpstreamFailures))
	for _, u := range f.UpstreamFailures {
		fmt.Fprintf(w, "  %s  %d×, last %s  %s\n", u.Host, u.Count, u.Last.Format(time.RFC3339), strings.Join(u.Errors, " "))
		switch {
		case u.MissingRoot != "":
			fmt.Fprintf(w, "    missing root: %s (in the current bundle): update the proxy's root store\n", u.MissingRoot)
		case u.OutdatedStore:
			fmt.Fprintf(w, "    issuer %s is unknown to the proxy: an outdated root store, or the site omits its intermediate\n", u.Issuer)
		case u.Issuer != "":
			fmt.Fprintf(w, "    issuer %s\n", u.Issuer)
		}
	}
	fmt.Fprintf(w, "\nSites that ask for a client certificate (interception breaks it: bypass them): %d\n", len(f.ClientCertificate))
	for _, d := range f.ClientCertificate {
		fmt.Fprintf(w, "  %s  %d×: %s\n", d.Host, d.Count, d.Detail)
	}
	fmt.Fprintf(w, "\nPinned applications (bypass them): %d\n", len(f.Pinned))
	for _, p := range f.Pinned {
		fmt.Fprintf(w, "  %s  %d silent tunnel(s), %d refusal(s) by clients that trust the CA elsewhere; clients %s\n",
			p.Host, p.SilentTunnels, p.Refusals, strings.Join(p.Clients, " "))
	}
	if len(suggested) > 0 {
		b, err := json.MarshalIndent(suggested, "  ", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nSuggested do_not_decrypt entries (review, add to the policy, sign, publish):\n  %s\n", b)
	}
	return nil
}

type bypassFlags struct {
	policyFile, signer, format, out, squidDir string
	unsigned                                  bool
}

func newProxyBypassCmd() *cobra.Command {
	var f bypassFlags
	c := &cobra.Command{
		Use:   "bypass --policy policy.p7m --signer CERT [--format squid|plain] -o DIR",
		Short: "Export the policy's signed do-not-decrypt list in the proxy's format",
		Long: `Verifies the signed policy against the pinned signer and writes the do_not_decrypt entries in
force into DIR: for Squid, ACL files and anchorwatch-bypass.conf (acl and "ssl_bump splice" lines) to
include after "ssl_bump peek step1" and before any bump rule; for other proxies, plain lists of
destinations, clients and client-destination pairs. Expired entries are left out; files of an earlier
export that are no longer needed are removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBypass(cmd, f) },
	}
	c.Flags().StringVar(&f.policyFile, "policy", "", "signed policy `FILE` (.p7m)")
	c.Flags().StringVar(&f.signer, "signer", "", "pinned signer certificate `FILE`")
	c.Flags().BoolVar(&f.unsigned, "unsigned", false, "read an unsigned policy.json (a preview: proxies should get the signed list)")
	c.Flags().StringVar(&f.format, "format", proxy.FormatSquid, "squid or plain")
	c.Flags().StringVarP(&f.out, "output", "o", "", "write the files into `DIR`")
	c.Flags().StringVar(&f.squidDir, "squid-dir", "", "`DIR` the files will be in on the proxy, for the include (default: -o)")
	return c
}

func runBypass(cmd *cobra.Command, f bypassFlags) error {
	if f.policyFile == "" || f.out == "" {
		return usageErr(errors.New("--policy FILE and -o DIR are required"))
	}
	if f.format != proxy.FormatSquid && f.format != proxy.FormatPlain {
		return usageErr(fmt.Errorf("--format %q: use squid or plain", f.format))
	}
	doc, err := loadBypassPolicy(f)
	if err != nil {
		return err
	}
	exp := proxy.NewExport(doc, time.Now())
	files := exp.Plain()
	if f.format == proxy.FormatSquid {
		dir := f.squidDir
		if dir == "" {
			if dir, err = filepath.Abs(f.out); err != nil {
				return err
			}
		}
		files = exp.Squid(filepath.ToSlash(dir))
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	for _, file := range files {
		if err := fsroot.WriteFileAtomic(filepath.Join(f.out, file.Name), file.Data, 0o644); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(f.out)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	for _, stale := range proxy.StaleFiles(names, files) {
		if err := os.Remove(filepath.Join(f.out, stale)); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "policy serial %d: %d do-not-decrypt entries in force, %d expired and left out; wrote %d files to %s\n",
		exp.Serial, len(exp.Active), exp.Expired, len(files), f.out)
	return nil
}

// loadBypassPolicy reads the policy: verified against the signer, or an
// unsigned JSON document when --unsigned says so.
func loadBypassPolicy(f bypassFlags) (*policy.Document, error) {
	blob, err := readInputFile(f.policyFile, policy.MaxSigned)
	if err != nil {
		return nil, err
	}
	if f.unsigned {
		if f.signer != "" {
			return nil, usageErr(errors.New("give --signer or --unsigned, not both"))
		}
		if _, _, err := policy.Content(blob); err == nil {
			return nil, usageErr(fmt.Errorf("%s is signed: verify it with --signer", f.policyFile))
		}
		d, err := policy.Parse(blob)
		if err != nil {
			return nil, usageErr(fmt.Errorf("%s: %w", f.policyFile, err))
		}
		return d, nil
	}
	if f.signer == "" {
		return nil, usageErr(errors.New("--signer CERT is required: the list is exported only from a verified policy (--unsigned for a preview of policy.json)"))
	}
	s, err := loadCertInput(f.signer)
	if err != nil {
		return nil, err
	}
	v, err := policy.Verify(blob, policy.VerifyOptions{Signer: s})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.policyFile, err)
	}
	return v.Document, nil
}
