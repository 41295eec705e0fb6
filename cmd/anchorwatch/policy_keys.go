package main

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/policy/pkcs11"
	"github.com/anchorwatch/anchorwatch/stores"
)

// pinEnv is the environment variable the token PIN may come from.
const pinEnv = "ANCHORWATCH_PKCS11_PIN"

// keyFlags say where the signing key is: a PEM file, or a PKCS#11 token.
type keyFlags struct {
	key, cert                        string
	module, token, keyLabel, pinFile string
}

func (k *keyFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&k.cert, "cert", "", "signer certificate `FILE` (the one agents pin, or a next signer)")
	c.Flags().StringVar(&k.key, "key", "", "signer private key `FILE` (PEM); or the --pkcs11-* flags")
	c.Flags().StringVar(&k.module, "pkcs11-module", "", "sign on a token: PKCS#11 module `PATH` (e.g. /usr/lib/softhsm/libsofthsm2.so)")
	c.Flags().StringVar(&k.token, "pkcs11-token", "", "token `LABEL`")
	c.Flags().StringVar(&k.keyLabel, "pkcs11-key-label", "", "label of the private key on the token")
	c.Flags().StringVar(&k.pinFile, "pkcs11-pin-file", "", "`FILE` holding the user PIN (mode 600); else $"+pinEnv)
}

// load returns the signer certificate and key; close releases a token.
func (k *keyFlags) load() (cert *x509.Certificate, key crypto.Signer, close func(), err error) {
	noop := func() {}
	token := k.module != "" || k.token != "" || k.keyLabel != "" || k.pinFile != ""
	switch {
	case k.cert == "":
		return nil, nil, noop, usageErr(errors.New("--cert is required"))
	case k.key != "" && token:
		return nil, nil, noop, usageErr(errors.New("give --key or the --pkcs11-* flags, not both"))
	case k.key == "" && !token:
		return nil, nil, noop, usageErr(errors.New("give --key FILE, or --pkcs11-module, --pkcs11-token and --pkcs11-key-label"))
	case k.key != "":
		c, s, err := loadSignerInput(k.cert, k.key)
		return c, s, noop, err
	case k.module == "" || k.token == "" || k.keyLabel == "":
		return nil, nil, noop, usageErr(errors.New("--pkcs11-module, --pkcs11-token and --pkcs11-key-label go together"))
	}
	c, err := loadCertInput(k.cert)
	if err != nil {
		return nil, nil, noop, err
	}
	pin, err := pkcs11.ReadPIN(k.pinFile, pinEnv)
	if err != nil {
		return nil, nil, noop, usageErr(err)
	}
	s, err := pkcs11.Open(pkcs11.Config{Module: k.module, Token: k.token, KeyLabel: k.keyLabel, PIN: pin}, c)
	if err != nil {
		return nil, nil, noop, err
	}
	return c, s, func() { _ = s.Close() }, nil
}

func warnPolicy(w io.Writer, d *policy.Document) {
	for _, line := range d.Warnings() {
		fmt.Fprintln(w, "warning:", line)
	}
}

func newPolicyCosignCmd() *cobra.Command {
	var keys keyFlags
	var out string
	c := &cobra.Command{
		Use:   "cosign --cert CERT (--key KEY | --pkcs11-...) policy.p7m -o policy.p7m",
		Short: "Add a signature to a signed policy (m-of-n signing)",
		Long: "Adds this signer's signature to a policy signed already, leaving the content and the other signatures as\n" +
			"they are. Agents that require m signatures (policy_signatures_required) accept a policy that changes\n" +
			"anchors, distrust or signers only with m signatures by distinct pinned signers.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErr(errors.New("-o FILE is required"))
			}
			blob, err := readInputFile(args[0], policy.MaxSigned)
			if err != nil {
				return err
			}
			if _, _, err := policy.Content(blob); err != nil {
				return usageErr(fmt.Errorf("%s: %w", args[0], err))
			}
			cert, key, done, err := keys.load()
			if err != nil {
				return err
			}
			defer done()
			signed, err := policy.Cosign(blob, cert, key, time.Time{})
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := writeOut(cmd, out, signed, 0o600); err != nil {
				return err
			}
			content, _, _ := policy.Content(signed)
			d, err := policy.Parse(content)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "cosigned policy serial %d by %q (%d signatures) → %s\n", d.Serial, cert.Subject.String(),
				len(policy.Signatures(signed)), out)
			return nil
		},
	}
	keys.register(c)
	c.Flags().StringVarP(&out, "output", "o", "", "signed policy `FILE` to write (may be the input)")
	return c
}

func newPolicyRotateCmd() *cobra.Command {
	var from, to, current, overlap, reason, out string
	var serial int64
	c := &cobra.Command{
		Use:   "rotate --from OLD.pem --to NEW.pem [--policy current.json|.p7m] [--overlap TIME|DURATION] -o policy.json",
		Short: "Write a policy that trusts NEW and distrusts OLD, ready to sign",
		Long: "Without --overlap (the emergency: OLD's key leaked) OLD is distrusted at once, by certificate and by key,\n" +
			"and NEW takes its place in the anchors. With --overlap (a planned rotation) OLD stays trusted until then\n" +
			"and is distrusted from then on. The serial is the current policy's + 1; comments are not carried over.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" || out == "" {
				return usageErr(errors.New("--from, --to and -o are required"))
			}
			oldCA, err := loadCertInput(from)
			if err != nil {
				return err
			}
			newCA, err := loadCertInput(to)
			if err != nil {
				return err
			}
			opt := policy.RotateOptions{From: oldCA, To: newCA, Reason: reason, Serial: serial}
			if overlap != "" {
				if opt.Overlap, err = parseWhen(overlap, time.Now()); err != nil {
					return usageErr(fmt.Errorf("--overlap: %w", err))
				}
			}
			var cur *policy.Document
			if current != "" {
				if cur, err = readPolicyFile(cmd.ErrOrStderr(), current); err != nil {
					return err
				}
			}
			doc, err := policy.Rotate(cur, opt)
			if err != nil {
				return usageErr(err)
			}
			if err := writeOut(cmd, out, doc, 0o600); err != nil { // it may carry java_passwords
				return err
			}
			d, _ := policy.Parse(doc)
			mode := "emergency: OLD distrusted at once, by certificate and key"
			if overlap != "" {
				mode = "planned: OLD trusted until " + opt.Overlap.UTC().Format(time.RFC3339) + ", distrusted from then on"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "policy serial %d: trusts %q, distrusts %q (%s) → %s\nnext: anchorwatch policy sign, then anchorwatch collector policy upload\n",
				d.Serial, newCA.Subject.CommonName, oldCA.Subject.CommonName, mode, out)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "the CA being replaced (PEM/DER `FILE`)")
	c.Flags().StringVar(&to, "to", "", "its successor (PEM/DER `FILE`)")
	c.Flags().StringVar(&current, "policy", "", "the current policy (`FILE`: JSON, or the signed .p7m); without it a fresh policy holding NEW")
	c.Flags().StringVar(&overlap, "overlap", "", "planned rotation: keep OLD trusted until `WHEN` (RFC 3339 time, or a duration such as 14d)")
	c.Flags().StringVar(&reason, "reason", "", "reason recorded in the distrust entry")
	c.Flags().Int64Var(&serial, "serial", 0, "serial of the new policy (default: the current one + 1; required without --policy)")
	c.Flags().StringVarP(&out, "output", "o", "", "policy `FILE` to write (JSON)")
	return c
}

// parseWhen reads an RFC 3339 time, or a duration (90d, 36h) from now.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := parseDays(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: give an RFC 3339 time (2030-01-31T00:00:00Z) or a duration (14d, 36h)", v)
	}
	return now.Add(d), nil
}

// readPolicyFile reads a policy as JSON or as a signed blob (its content,
// not verified: it is only the starting point of a new policy).
func readPolicyFile(warn io.Writer, file string) (*policy.Document, error) {
	data, err := readInputFile(file, policy.MaxSigned)
	if err != nil {
		return nil, err
	}
	if t := strings.TrimSpace(string(data)); !strings.HasPrefix(t, "{") {
		content, _, err := policy.Content(data)
		if err != nil {
			return nil, usageErr(fmt.Errorf("%s: neither JSON nor a signed policy: %w", file, err))
		}
		fmt.Fprintf(warn, "note: %s: using the content of the signed policy (its signature is not checked here)\n", file)
		data = content
	}
	d, err := policy.Parse(data)
	if err != nil {
		return nil, usageErr(fmt.Errorf("%s: %w", file, err))
	}
	return d, nil
}

// fillKeysView adds the distrust section, the next signers and the
// signatures (claimed; verified only with --signer) to a policy view.
func fillKeysView(v *policyView, d *policy.Document, blob []byte) {
	for _, e := range d.Distrust {
		dv := distrustView{SHA256: e.SHA256, SPKI: e.SPKISHA256, After: e.After, Reason: e.Reason}
		if e.Cert != nil {
			dv.Subject, dv.SHA256 = e.Cert.Subject.String(), stores.SHA256(e.Cert)
		}
		v.Distrust = append(v.Distrust, dv)
	}
	v.EnforceBlocklist = d.EnforceBlocklist
	for _, c := range d.NextSignerCerts() {
		v.NextSigners = append(v.NextSigners, fmt.Sprintf("%s (sha256 %s)", c.Subject.String(), stores.SHA256(c)))
	}
	for _, c := range policy.Signatures(blob) {
		who := "a certificate the message does not carry"
		if c != nil {
			who = fmt.Sprintf("%s (sha256 %s)", c.Subject.String(), stores.SHA256(c))
		}
		v.Signatures = append(v.Signatures, who)
	}
}

func printKeysView(w io.Writer, v policyView) {
	for _, d := range v.Distrust {
		name := d.Subject
		if name == "" {
			name = "by hash"
		}
		when := "now"
		if d.After != nil {
			when = "from " + d.After.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "Distrust: %s sha256=%s spki=%s %s: %s\n", name, d.SHA256, d.SPKI, when, d.Reason)
	}
	if v.EnforceBlocklist {
		fmt.Fprintln(w, "Blocklist enforced: blocklisted roots are distrusted, not only reported")
	}
	for _, n := range v.NextSigners {
		fmt.Fprintf(w, "Next signer: %s\n", n)
	}
	for i, s := range v.Signatures {
		fmt.Fprintf(w, "Signature %d: %s\n", i+1, s)
	}
}
