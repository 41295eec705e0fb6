package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/installers"
	"github.com/anchorwatch/anchorwatch/policy"
)

// newPackageCmd groups the commands that build deployment artifacts: a
// signed .mobileconfig, a GPO Registry.pol, Intune OMA-URI settings, and
// a deb package of the agent.
func newPackageCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "package",
		Short: "Build deployment artifacts: signed .mobileconfig, GPO Registry.pol, Intune settings, a deb of the agent",
	}
	c.AddCommand(newPackageMobileconfigCmd(), newPackageGPOCmd(), newPackageIntuneCmd(),
		newPackageLinuxCmd("deb"))
	return c
}

// loadCAFlags reads every --ca file; each must hold only CA certificates.
func loadCAFlags(files []string) ([]*x509.Certificate, error) {
	if len(files) == 0 {
		return nil, usageErr(errors.New("--ca FILE is required (PEM, DER or P7B; repeat it for several)"))
	}
	var out []*x509.Certificate
	seen := map[string]bool{}
	for _, f := range files {
		certs, err := policy.LoadCAFile(f)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func requireOut(out, what string) error {
	if out == "" || out == "-" {
		return usageErr(fmt.Errorf("-o FILE is required (%s)", what))
	}
	return nil
}

func newPackageMobileconfigCmd() *cobra.Command {
	var cas, chain []string
	var key, cert, out string
	var p installers.Profile
	c := &cobra.Command{
		Use:   "mobileconfig --ca CA.pem --sign-key KEY --sign-cert CERT -o corp-ca.mobileconfig",
		Short: "Build a signed Apple configuration profile that installs and trusts the CAs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" || cert == "" {
				return usageErr(errors.New("--sign-key and --sign-cert are required: macOS shows an unsigned profile as unverified"))
			}
			if err := requireOut(out, "the signed profile is binary DER"); err != nil {
				return err
			}
			certs, err := loadCAFlags(cas)
			if err != nil {
				return err
			}
			warnCALint(cmd.ErrOrStderr(), certs)
			sc, sk, err := policy.LoadSigner(cert, key)
			if err != nil {
				return err
			}
			var chainCerts []*x509.Certificate
			for _, f := range chain {
				c, err := policy.LoadCertificate(f)
				if err != nil {
					return err
				}
				chainCerts = append(chainCerts, c)
			}
			doc, err := installers.MobileConfig(certs, p)
			if err != nil {
				return err
			}
			signed, err := installers.SignProfile(doc, sc, sk, chainCerts)
			if err != nil {
				return err
			}
			if err := writeOut(cmd, out, signed, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "profile with %d CA(s) signed by %q → %s\n", len(certs), sc.Subject.String(), out)
			return nil
		},
	}
	c.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` (PEM, DER or P7B; repeatable)")
	c.Flags().StringVar(&key, "sign-key", "", "profile signing private key `FILE` (PEM)")
	c.Flags().StringVar(&cert, "sign-cert", "", "profile signing certificate `FILE`")
	c.Flags().StringArrayVar(&chain, "sign-chain", nil, "intermediate `FILE` of the signing certificate to include (repeatable)")
	c.Flags().StringVar(&p.Identifier, "identifier", installers.DefaultProfileIdentifier, "profile PayloadIdentifier (reverse DNS)")
	c.Flags().StringVar(&p.DisplayName, "name", "Organization CA", "profile display name")
	c.Flags().StringVar(&p.Organization, "organization", "", "profile organization")
	c.Flags().StringVar(&p.Description, "description", "", "profile description")
	c.Flags().StringVarP(&out, "output", "o", "", "output `FILE` (.mobileconfig)")
	return c
}

func newPackageGPOCmd() *cobra.Command {
	var cas []string
	var out string
	c := &cobra.Command{
		Use:   "gpo --ca CA.pem -o Registry.pol",
		Short: "Build a Group Policy Registry.pol that deploys the CAs to the machine Root/CA stores",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireOut(out, "Registry.pol is binary"); err != nil {
				return err
			}
			certs, err := loadCAFlags(cas)
			if err != nil {
				return err
			}
			warnCALint(cmd.ErrOrStderr(), certs)
			pol, err := installers.RegistryPol(certs)
			if err != nil {
				return err
			}
			if err := writeOut(cmd, out, pol, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Registry.pol with %d CA(s) → %s\n", len(certs), out)
			return nil
		},
	}
	c.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` (PEM, DER or P7B; repeatable)")
	c.Flags().StringVarP(&out, "output", "o", "", "output `FILE` (Registry.pol)")
	return c
}

func newPackageIntuneCmd() *cobra.Command {
	var cas []string
	var out string
	c := &cobra.Command{
		Use:   "intune --ca CA.pem -o DIR",
		Short: "Write Intune custom-profile OMA-URI settings (JSON and CSV) and .cer files for the CAs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireOut(out, "a directory"); err != nil {
				return err
			}
			certs, err := loadCAFlags(cas)
			if err != nil {
				return err
			}
			warnCALint(cmd.ErrOrStderr(), certs)
			s, err := installers.IntuneSettings(certs)
			if err != nil {
				return err
			}
			js, err := installers.IntuneJSON(s)
			if err != nil {
				return err
			}
			cs, err := installers.IntuneCSV(s)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("intune: %w", err)
			}
			files := map[string][]byte{"intune-oma-uri.json": js, "intune-oma-uri.csv": cs}
			for _, c := range certs {
				files[installers.SHA1Hex(c)+".cer"] = c.Raw
			}
			for name, data := range files {
				if err := writeOut(cmd, filepath.Join(out, name), data, 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d OMA-URI setting(s) → %s\n", len(s), filepath.Join(out, "intune-oma-uri.json"))
			return nil
		},
	}
	c.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` (PEM, DER or P7B; repeatable)")
	c.Flags().StringVarP(&out, "output", "o", "", "output `DIR`")
	return c
}

func newPackageLinuxCmd(format string) *cobra.Command {
	p := installers.LinuxPackage{Format: format}
	var out string
	c := &cobra.Command{
		Use:   format + " --binary BIN --config agent.json --signer policy-signer.pem --version V -o DIR",
		Short: "Build a " + format + " of the agent that installs and starts the service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p.Binary == "" || p.Config == "" || p.Signer == "" || p.Version == "" {
				return usageErr(errors.New("--binary, --config, --signer and --version are required"))
			}
			if err := requireOut(out, "a directory"); err != nil {
				return err
			}
			if err := checkPackagedConfig(p); err != nil {
				return err
			}
			var buf bytes.Buffer
			name, err := installers.BuildLinuxPackage(cmd.Context(), p, &buf)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("%s: %w", format, err)
			}
			dst := filepath.Join(out, name)
			if err := writeOut(cmd, dst, buf.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), dst)
			return nil
		},
	}
	c.Flags().StringVar(&p.Binary, "binary", "", "the linux anchorwatch executable `FILE`")
	c.Flags().StringVar(&p.Config, "config", "", "agent config `FILE`, installed as "+installers.ConfigPath)
	c.Flags().StringVar(&p.Signer, "signer", "", "policy signer certificate `FILE`, installed as "+installers.SignerPath)
	c.Flags().StringVar(&p.Version, "version", "", "package `VERSION` (e.g. 1.4.0)")
	c.Flags().StringVar(&p.EnrollSecret, "enroll-secret", "", "enroll secret `FILE`, installed as "+installers.EnrollSecretPath+" (0600)")
	c.Flags().StringVar(&p.CollectorCA, "collector-ca", "", "collector CA `FILE`, installed as "+installers.CollectorCAPath)
	c.Flags().StringVar(&p.Arch, "arch", "", "expected GOARCH of --binary (default: read from the binary)")
	c.Flags().StringVarP(&out, "output", "o", "", "output `DIR`")
	return c
}

// checkPackagedConfig refuses a config the agent would refuse, or one
// whose file references do not point where the package installs them.
func checkPackagedConfig(p installers.LinuxPackage) error {
	data, err := readLimitedFile(p.Config, 1<<20)
	if err != nil {
		return err
	}
	cfg, err := agent.ParseConfig(data)
	if err != nil {
		return fmt.Errorf("--config %s: %w", p.Config, err)
	}
	if _, err := policy.LoadCertificate(p.Signer); err != nil {
		return fmt.Errorf("--signer: %w", err)
	}
	for _, ref := range []struct{ key, got, flag, file, want string }{
		{"policy_signer_file", cfg.PolicySignerFile, "--signer", p.Signer, installers.SignerPath},
		{"enroll_secret_file", cfg.EnrollSecretFile, "--enroll-secret", p.EnrollSecret, installers.EnrollSecretPath},
		{"collector_ca_file", cfg.CollectorCAFile, "--collector-ca", p.CollectorCA, installers.CollectorCAPath},
	} {
		if ref.file != "" && ref.got != ref.want {
			return usageErr(fmt.Errorf("--config %s: %s is %q but the package installs %s at %s: set %q in the config",
				p.Config, ref.key, ref.got, ref.flag, ref.want, ref.want))
		}
	}
	return nil
}
