package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// newPolicyCmd groups the commands that write, sign, verify and show the
// signed policy.
func newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Write, sign, verify and show the signed policy agents enforce",
	}
	c.AddCommand(newPolicyInitCmd(), newPolicySignCmd(), newPolicyVerifyCmd(), newPolicyShowCmd())
	c.AddCommand(newPolicyCosignCmd(), newPolicyRotateCmd()) // policy_keys.go
	return c
}

func writeOut(cmd *cobra.Command, path string, data []byte, mode os.FileMode) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	return fsroot.WriteFileAtomic(path, data, mode)
}

func newPolicyInitCmd() *cobra.Command {
	var ca, out string
	var force bool
	c := &cobra.Command{
		Use:   "init [--ca CA.pem] [-o policy.json]",
		Short: "Write an example policy with every field documented",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cert *x509.Certificate
			if ca != "" {
				certs, err := loadCAFile(cmd.ErrOrStderr(), ca)
				if err != nil {
					return err
				}
				if len(certs) != 1 {
					return usageErr(fmt.Errorf("--ca %s holds %d certificates; give one CA (add more anchors by hand)", ca, len(certs)))
				}
				cert = certs[0]
				warnCALint(cmd.ErrOrStderr(), certs) // docs/pki-health.md
			}
			if out != "" && out != "-" && !force {
				if _, err := os.Stat(out); err == nil {
					return usageErr(fmt.Errorf("%s exists: give --force to overwrite it", out))
				}
			}
			return writeOut(cmd, out, policy.Example(cert), 0o644)
		},
	}
	c.Flags().StringVar(&ca, "ca", "", "CA certificate `FILE` to put in the example (otherwise a placeholder)")
	c.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of standard output")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing output file")
	return c
}

func newPolicySignCmd() *cobra.Command {
	var keys keyFlags
	var out, validFor string
	c := &cobra.Command{
		Use:   "sign --cert CERT (--key KEY | --pkcs11-module M --pkcs11-token T --pkcs11-key-label L) policy.json -o policy.p7m",
		Short: "Check a policy and sign it as PKCS#7 SignedData (content attached)",
		Long: "Signs with a PEM key file, or with a key that stays on a PKCS#11 token or HSM (the signing build:\n" +
			"make signer). The token PIN comes from --pkcs11-pin-file or $" + pinEnv + ", never the command line.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErr(errors.New("-o FILE is required (the signed policy is binary DER)"))
			}
			doc, err := readInputFile(args[0], policy.MaxDocument)
			if err != nil {
				return err
			}
			var opt policy.SignOptions
			if cmd.Flags().Changed("valid-for") {
				if opt.ValidFor, err = parseDays(validFor); err != nil {
					return usageErr(fmt.Errorf("--valid-for: %w", err))
				}
			}
			c, k, done, err := keys.load()
			if err != nil {
				return err
			}
			defer done()
			blob, err := policy.SignWith(doc, c, k, opt)
			if err != nil {
				return usageErr(fmt.Errorf("%s: %w", args[0], err))
			}
			if err := writeOut(cmd, out, blob, 0o600); err != nil { // it may carry java_passwords
				return err
			}
			content, _, _ := policy.Content(blob)
			d, err := policy.Parse(content)
			if err != nil {
				return err
			}
			warnPolicy(cmd.ErrOrStderr(), d)
			fmt.Fprintf(cmd.ErrOrStderr(), "signed policy serial %d (%d anchors, %d distrusted) by %q, valid until %s → %s\n", d.Serial, len(d.Anchors),
				len(d.Distrust), c.Subject.String(), d.NotAfter.UTC().Format(time.RFC3339), out)
			return nil
		},
	}
	keys.register(c)
	c.Flags().StringVarP(&out, "output", "o", "", "signed policy `FILE` (.p7m, DER)")
	c.Flags().StringVar(&validFor, "valid-for", "90d", "set not_after this `DURATION` after now (e.g. 30d, 720h); agents refuse the policy after it")
	return c
}

// parseDays reads a duration with an optional "d" (days) suffix.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 && days < 100000 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q: use a duration such as 90d or 720h", v)
}

func newPolicyVerifyCmd() *cobra.Command {
	var signer, held string
	var heldSerial int64
	var required int
	c := &cobra.Command{
		Use:   "verify --signer CERTS policy.p7m",
		Short: "Verify a signed policy as an agent would",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if signer == "" {
				return usageErr(errors.New("--signer is required: the certificate(s) agents pin"))
			}
			pins, err := policy.LoadCertificates(signer)
			if err != nil {
				return usageErr(err)
			}
			opt := policy.VerifyOptions{Signers: pins, HeldSerial: heldSerial, Required: required}
			if held != "" {
				if opt.Held, err = readPolicyFile(cmd.ErrOrStderr(), held); err != nil {
					return err
				}
				opt.NextSigners = opt.Held.NextSignerCerts()
				opt.HeldSerial = max(opt.HeldSerial, opt.Held.Serial)
			}
			blob, err := readInputFile(args[0], policy.MaxSigned)
			if err != nil {
				return err
			}
			v, err := policy.Verify(blob, opt)
			if err != nil {
				err = fmt.Errorf("%s: %w", args[0], err)
				if jsonFlag(cmd) {
					if perr := printJSON(cmd.OutOrStdout(), verifyView{Error: err.Error()}); perr != nil {
						return perr
					}
				}
				return err
			}
			if jsonFlag(cmd) {
				warnPolicy(cmd.ErrOrStderr(), v.Document)
				return printJSON(cmd.OutOrStdout(), newVerifyView(v))
			}
			var who []string
			for _, s := range v.Signers {
				who = append(who, fmt.Sprintf("%q", s.Subject.String()))
			}
			printWrapped(cmd.OutOrStdout(), termLayout(cmd), 2, fmt.Sprintf("OK: serial %d, %d anchor(s), %d distrusted, signed by %s at %s (%s), valid until %s", v.Document.Serial,
				len(v.Document.Anchors), len(v.Document.Distrust), strings.Join(who, " and "), v.SignedAt.UTC().Format(time.RFC3339), v.Digest,
				v.Document.NotAfter.UTC().Format(time.RFC3339)))
			warnPolicy(cmd.ErrOrStderr(), v.Document)
			return nil
		},
	}
	c.Flags().StringVar(&signer, "signer", "", "pinned signer certificate(s) `FILE` (a PEM bundle for m of n)")
	c.Flags().Int64Var(&heldSerial, "held-serial", 0, "refuse a serial not greater than `N` (as an agent holding N would)")
	c.Flags().IntVar(&required, "signatures-required", 1, "`M`: signatures a policy needs unless it changes only serial, validity and intervals")
	c.Flags().StringVar(&held, "held", "", "the policy an agent holds (`FILE`): the m-of-n rule compares with it, and its next_signers count")
	c.Flags().Bool("json", false, "print JSON (also when the policy is refused: ok false and the error)")
	addWideFlag(c)
	return c
}

// verifyView is what `policy verify --json` prints.
type verifyView struct {
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	Serial     int64     `json:"serial,omitempty"`
	Anchors    int       `json:"anchors"`
	Distrusted int       `json:"distrusted"`
	Signers    []string  `json:"signers,omitempty"`
	SignedAt   time.Time `json:"signed_at,omitzero"`
	Digest     string    `json:"digest,omitempty"`
	NotAfter   time.Time `json:"not_after,omitzero"`
}

func newVerifyView(v *policy.Verified) verifyView {
	out := verifyView{OK: true, Serial: v.Document.Serial, Anchors: len(v.Document.Anchors), Distrusted: len(v.Document.Distrust),
		SignedAt: v.SignedAt.UTC(), Digest: v.Digest, NotAfter: v.Document.NotAfter.UTC()}
	for _, s := range v.Signers {
		out.Signers = append(out.Signers, s.Subject.String())
	}
	return out
}

// policyView is what `policy show` prints.
type policyView struct {
	Signed        bool                `json:"signed"`
	Verified      bool                `json:"verified"`
	Signer        string              `json:"signer,omitempty"`
	Serial        int64               `json:"serial"`
	NotBefore     *time.Time          `json:"not_before,omitempty"`
	NotAfter      *time.Time          `json:"not_after,omitempty"`
	Anchors       []anchorView        `json:"anchors"`
	Remove        []policy.Removal    `json:"remove,omitempty"`
	Blocklist     []policy.BlockEntry `json:"blocklist,omitempty"`
	ReportUnknown bool                `json:"report_unknown_roots"`
	Exemptions    []policy.Exemption  `json:"exemptions,omitempty"`
	Heartbeat     string              `json:"heartbeat_interval"`
	Rescan        string              `json:"rescan_interval"`
	JavaKeystores []string            `json:"java_password_paths,omitempty"`
	// The distrust section, the next signers and who signed.
	Distrust         []distrustView `json:"distrust,omitempty"`
	EnforceBlocklist bool           `json:"enforce_blocklist,omitempty"`
	NextSigners      []string       `json:"next_signers,omitempty"`
	Signatures       []string       `json:"signatures,omitempty"`
}

type distrustView struct {
	Subject string     `json:"subject,omitempty"`
	SHA256  string     `json:"sha256,omitempty"`
	SPKI    string     `json:"spki_sha256,omitempty"`
	After   *time.Time `json:"after,omitempty"`
	Reason  string     `json:"reason"`
}

type anchorView struct {
	Subject     string        `json:"subject"`
	SHA256      string        `json:"sha256"`
	NotAfter    time.Time     `json:"not_after"`
	Role        string        `json:"role"`
	Stores      []stores.Kind `json:"stores,omitempty"`
	RemoveAfter *time.Time    `json:"remove_after,omitempty"`
}

func newPolicyShowCmd() *cobra.Command {
	var signer string
	var asJSON bool
	c := &cobra.Command{
		Use:   "show [--signer CERT] policy.p7m|policy.json",
		Short: "Show what a policy does (verifying it when --signer is given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			blob, err := readInputFile(args[0], policy.MaxSigned)
			if err != nil {
				return err
			}
			view := policyView{}
			content := blob
			if signer != "" {
				pins, err := policy.LoadCertificates(signer)
				if err != nil {
					return usageErr(err)
				}
				// Show an expired policy too (what an agent holding it
				// enforces), with one valid signature.
				v, err := policy.Verify(blob, policy.VerifyOptions{Signers: pins, AllowExpired: true})
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				content, view.Signed, view.Verified, view.Signer = v.Content, true, true, v.Signer.Subject.String()
			} else if c, who, err := policy.Content(blob); err == nil {
				content, view.Signed = c, true
				if who != nil {
					view.Signer = who.Subject.String() + " (not verified: give --signer)"
				}
			}
			d, err := policy.Parse(content)
			if err != nil {
				return usageErr(fmt.Errorf("%s: %w", args[0], err))
			}
			view.NotBefore, view.NotAfter = d.NotBefore, d.NotAfter
			view.Serial, view.Remove, view.Blocklist, view.ReportUnknown, view.Exemptions = d.Serial, d.Remove, d.Blocklist, d.ReportUnknownRoots, d.Exemptions
			view.Heartbeat, view.Rescan = d.Heartbeat().String(), d.Rescan().String()
			for p := range d.JavaPasswords {
				view.JavaKeystores = append(view.JavaKeystores, p) // never the passwords
			}
			fillKeysView(&view, d, blob)
			for _, a := range d.Anchors {
				view.Anchors = append(view.Anchors, anchorView{Subject: a.Cert.Subject.String(), SHA256: stores.SHA256(a.Cert),
					NotAfter: a.Cert.NotAfter.UTC(), Role: a.Role, Stores: a.Stores, RemoveAfter: a.RemoveAfter})
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), view)
			}
			fw := newFitWriter(cmd.OutOrStdout(), termLayout(cmd))
			defer fw.Close()
			return printPolicy(fw, view)
		},
	}
	c.Flags().StringVar(&signer, "signer", "", "verify against the pinned signer certificate(s) in `FILE`")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	addWideFlag(c)
	return c
}

func printPolicy(w io.Writer, v policyView) error {
	state := "unsigned"
	switch {
	case v.Verified:
		state = "signed and verified, signer " + v.Signer
	case v.Signed:
		state = "signed, signer " + v.Signer
	}
	fmt.Fprintf(w, "Policy serial %d (%s)\n", v.Serial, state)
	switch {
	case v.NotAfter == nil:
		fmt.Fprintf(w, "Valid: no not_after: agents refuse it (sign it with this version)\n")
	case time.Now().After(*v.NotAfter):
		fmt.Fprintf(w, "Valid until %s: EXPIRED (agents refuse it; one holding it keeps enforcing it)\n", v.NotAfter.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(w, "Valid until %s\n", v.NotAfter.UTC().Format(time.RFC3339))
	}
	if v.NotBefore != nil {
		fmt.Fprintf(w, "Not valid before %s\n", v.NotBefore.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Anchors:\n")
	for _, a := range v.Anchors {
		scope := "all stores"
		if len(a.Stores) > 0 {
			scope = fmt.Sprint(a.Stores)
		}
		fmt.Fprintf(w, "  %s  %s  %s, %s, expires %s", a.SHA256[:16], a.Subject, a.Role, scope, a.NotAfter.Format("2006-01-02"))
		if a.RemoveAfter != nil {
			fmt.Fprintf(w, ", removed after %s", a.RemoveAfter.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	for _, r := range v.Remove {
		when := "now"
		if r.After != nil {
			when = "after " + r.After.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "Remove: %s %s %s\n", r.SHA256[:16], when, r.Reason)
	}
	for _, b := range v.Blocklist {
		fmt.Fprintf(w, "Blocked: sha256=%s spki=%s %s\n", b.SHA256, b.SPKISHA256, b.Reason)
	}
	fmt.Fprintf(w, "Report unknown roots: %v\n", v.ReportUnknown)
	for _, e := range v.Exemptions {
		fmt.Fprintf(w, "Exempt: hosts=%v subnets=%v macs=%v groups=%v (%s)\n", e.Hosts, e.Subnets, e.MACs, e.Groups, e.Reason)
	}
	printKeysView(w, v)
	fmt.Fprintf(w, "Heartbeat %s, rescan %s\n", v.Heartbeat, v.Rescan)
	if len(v.JavaKeystores) > 0 {
		fmt.Fprintf(w, "Java keystore passwords for: %v\n", v.JavaKeystores)
	}
	return nil
}

// readLimitedFile reads a file an administrator named, at most limit
// bytes (fsroot.ErrTooLarge beyond). A pipe (/dev/stdin, a process
// substitution) is read too: this is the administrator's own input.
func readLimitedFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return fsroot.ReadAll(f, fi.Size(), limit)
}
