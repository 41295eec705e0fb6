package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/installers"
)

// newPackageCmd groups the commands that build deployment artifacts: a
// signed .mobileconfig, the GPO and Intune kits, and the agent's deb,
// rpm, MSI and macOS pkg.
func newPackageCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "package",
		Short: "Build deployment artifacts: signed .mobileconfig, GPO and Intune kits, the agent as deb, rpm, MSI and pkg",
	}
	c.AddCommand(newPackageMobileconfigCmd(), newPackageGPOCmd(), newPackageIntuneCmd(),
		newPackageLinuxCmd("deb"), newPackageLinuxCmd("rpm"), newPackageMSICmd(), newPackagePkgCmd())
	return c
}

// loadCAFlags reads every --ca file (at least one); each must hold only
// CA certificates.
func loadCAFlags(warn io.Writer, files []string) ([]*x509.Certificate, error) {
	if len(files) == 0 {
		return nil, usageErr(errors.New("--ca FILE is required (PEM, DER or P7B; repeat it for several)"))
	}
	return loadCAs(warn, files)
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
			certs, err := loadCAFlags(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			warnCALint(cmd.ErrOrStderr(), certs)
			sc, sk, err := loadSignerInput(cert, key)
			if err != nil {
				return err
			}
			var chainCerts []*x509.Certificate
			for _, f := range chain {
				c, err := loadCertInput(f)
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
		Use:   "gpo --ca CA.pem -o DIR",
		Short: "Build a GPO kit that deploys the CAs to the machine Root/CA stores (script, Registry.pol, GPT.INI, README)",
		Long: `Build a GPO kit in DIR: Install-AnchorwatchGPO.ps1 (creates or updates a GPO with the
GroupPolicy module; -RemoveOthers rotates a CA out), Machine/Registry.pol, GPT.INI,
gPCMachineExtensionNames.txt, README.txt (where each piece goes) and the certificates.
With -o FILE.pol only Registry.pol is written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireOut(out, "a directory, or FILE.pol for Registry.pol alone"); err != nil {
				return err
			}
			certs, err := loadCAFlags(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			warnCALint(cmd.ErrOrStderr(), certs)
			if strings.EqualFold(filepath.Ext(out), ".pol") {
				pol, err := installers.RegistryPol(certs)
				if err != nil {
					return err
				}
				if err := writeOut(cmd, out, pol, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Registry.pol with %d CA(s) → %s\n", len(certs), out)
				return nil
			}
			files, err := installers.GPOKit(certs)
			if err != nil {
				return err
			}
			if err := writeKit(cmd, out, files); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "GPO kit with %d CA(s) → %s (see %s)\n", len(certs), out, filepath.Join(out, "README.txt"))
			return nil
		},
	}
	c.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` (PEM, DER or P7B; repeatable)")
	c.Flags().StringVarP(&out, "output", "o", "", "output `DIR` (or FILE.pol)")
	return c
}

// writeKit writes files (paths "/"-separated) under dir.
func writeKit(cmd *cobra.Command, dir string, files map[string][]byte) error {
	for name, data := range files {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := writeOut(cmd, dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func newPackageIntuneCmd() *cobra.Command {
	var cas []string
	var out, msi, msiArgs string
	c := &cobra.Command{
		Use:   "intune --ca CA.pem [--msi anchorwatch.msi] -o DIR",
		Short: "Build an Intune kit: trusted certificate profiles for Graph, OMA-URI settings, the agent MSI as a LOB app",
		Long: `Build an Intune kit in DIR: graph/<platform>-trusted-certificate-<SHA1>.json (Graph bodies of
Trusted certificate profiles for Windows, macOS and iOS), Import-AnchorwatchIntune.ps1 (creates them
with the Microsoft Graph PowerShell SDK), intune-oma-uri.json/.csv (custom OMA-URI settings) and the
.cer files. With --msi, graph/lob-app.json describes the MSI as a line-of-business app.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireOut(out, "a directory"); err != nil {
				return err
			}
			certs, err := loadCAFlags(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			warnCALint(cmd.ErrOrStderr(), certs)
			files, err := intuneKit(cmd, certs, msi, msiArgs)
			if err != nil {
				return err
			}
			if err := writeKit(cmd, out, files); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Intune kit with %d CA(s) → %s\n", len(certs), out)
			return nil
		},
	}
	c.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` (PEM, DER or P7B; repeatable)")
	c.Flags().StringVar(&msi, "msi", "", "the agent `MSI` to describe as a line-of-business app")
	c.Flags().StringVar(&msiArgs, "msi-command-line", "", "msiexec `ARGS` Intune passes (public properties, e.g. COLLECTOR_URL=…)")
	c.Flags().StringVarP(&out, "output", "o", "", "output `DIR`")
	return c
}

// intuneKit is the content of the Intune kit.
func intuneKit(cmd *cobra.Command, certs []*x509.Certificate, msi, msiArgs string) (map[string][]byte, error) {
	s, err := installers.IntuneSettings(certs)
	if err != nil {
		return nil, err
	}
	js, err := installers.IntuneJSON(s)
	if err != nil {
		return nil, err
	}
	cs, err := installers.IntuneCSV(s)
	if err != nil {
		return nil, err
	}
	profiles, err := installers.IntuneGraphProfiles(certs)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"intune-oma-uri.json": js, "intune-oma-uri.csv": cs,
		"Import-AnchorwatchIntune.ps1": []byte(strings.ReplaceAll(installers.IntuneImportScript, "\n", "\r\n"))}
	for _, c := range certs {
		files[installers.SHA1Hex(c)+".cer"] = c.Raw
	}
	for name, b := range profiles {
		files["graph/"+name] = b
	}
	if msi != "" {
		props, err := installers.MSIProperties(cmd.Context(), msi)
		if err != nil {
			return nil, err
		}
		app, err := installers.NewIntuneLOBApp(filepath.Base(msi), props, msiArgs)
		if err != nil {
			return nil, err
		}
		b, err := json.MarshalIndent(app, "", "  ")
		if err != nil {
			return nil, err
		}
		files["graph/lob-app.json"] = append(b, '\n')
	}
	return files, nil
}

// agentPackageFlags are the flags every agent package shares.
type agentPackageFlags struct {
	files   installers.AgentFiles
	version string
	out     string
}

func (f *agentPackageFlags) register(c *cobra.Command, l installers.Layout, binaryHelp string) {
	fl := c.Flags()
	if binaryHelp != "" { // the pkg takes several
		fl.StringVar(&f.files.Binary, "binary", "", binaryHelp)
	}
	fl.StringVar(&f.files.Config, "config", "", "agent config `FILE`, installed as "+l.Path(installers.ConfigName))
	fl.StringVar(&f.files.Signer, "signer", "", "policy signer certificate `FILE`, installed as "+l.Path(installers.SignerName))
	fl.StringVar(&f.version, "version", "", "package `VERSION` (e.g. 1.4.0)")
	fl.StringVar(&f.files.EnrollSecret, "enroll-secret", "", "enroll secret `FILE`, installed as "+l.Path(installers.EnrollSecretName)+" (root/SYSTEM only)")
	fl.StringVar(&f.files.CollectorCA, "collector-ca", "", "collector CA `FILE`, installed as "+l.Path(installers.CollectorCAName))
	fl.StringVarP(&f.out, "output", "o", "", "output `DIR`")
}

// check refuses missing required flags (usage errors).
func (f *agentPackageFlags) check() error {
	if f.files.Binary == "" || f.files.Config == "" || f.files.Signer == "" || f.version == "" {
		return usageErr(errors.New("--binary, --config, --signer and --version are required"))
	}
	return requireOut(f.out, "a directory")
}

// write writes a built package into the output directory and prints its
// path. A bad input (a missing file, a config that names its files
// elsewhere, a binary for another platform) is a usage error.
func (f *agentPackageFlags) write(cmd *cobra.Command, name string, data []byte, err error) error {
	var ie *installers.InputError
	if errors.As(err, &ie) {
		return usageErr(err)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(f.out, name)
	if err := writeOut(cmd, dst, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), dst)
	return nil
}

func newPackageLinuxCmd(format string) *cobra.Command {
	var f agentPackageFlags
	p := installers.LinuxPackage{Format: format}
	c := &cobra.Command{
		Use:   format + " --binary BIN --config agent.json --signer policy-signer.pem --version V --maintainer 'Name <email>' -o DIR",
		Short: "Build a " + format + " of the agent: a systemd service enabled at install, started where systemd runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if p.Maintainer == "" {
				return usageErr(errors.New("--maintainer 'Name <email>' is required: dpkg and rpm show who answers for the package"))
			}
			p.AgentFiles, p.Version = f.files, f.version
			var buf bytes.Buffer
			name, err := installers.BuildLinuxPackage(cmd.Context(), p, &buf)
			return f.write(cmd, name, buf.Bytes(), err)
		},
	}
	f.register(c, installers.LinuxLayout(), "the linux anchorwatch executable `FILE` (build it with make build: static)")
	c.Flags().StringVar(&p.Maintainer, "maintainer", "", "who answers for the package: `'Name <email>'`")
	c.Flags().StringVar(&p.Arch, "arch", "", "expected GOARCH of --binary (default: read from the binary)")
	return c
}

func newPackageMSICmd() *cobra.Command {
	var f agentPackageFlags
	var p installers.MSIPackage
	c := &cobra.Command{
		Use:   "msi --binary anchorwatch.exe --config agent.json --signer policy-signer.pem --version V -o DIR",
		Short: "Build an MSI of the agent (wixl): a Windows service, public properties for GPO, Intune and SCCM, optional Authenticode signing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if (p.SignCert == "") != (p.SignKey == "") {
				return usageErr(errors.New("give --sign-cert and --sign-key together (the key is read from its file)"))
			}
			p.AgentFiles, p.Version = f.files, f.version
			name, msi, err := installers.BuildMSI(cmd.Context(), p)
			return f.write(cmd, name, msi, err)
		},
	}
	f.register(c, installers.WindowsLayout(), "the windows anchorwatch.exe `FILE` (GOOS=windows)")
	c.Flags().StringVar(&p.Manufacturer, "manufacturer", "Anchorwatch", "publisher `NAME` shown in Programs and Features")
	c.Flags().StringVar(&p.SignCert, "sign-cert", "", "Authenticode code-signing certificate `FILE` (PEM): signs anchorwatch.exe and the MSI with osslsigncode")
	c.Flags().StringVar(&p.SignKey, "sign-key", "", "its private key `FILE` (PEM, unencrypted; never on a command line)")
	c.Flags().StringVar(&p.SignChain, "sign-chain", "", "intermediate certificates `FILE` (PEM) to include in the signature")
	return c
}

func newPackagePkgCmd() *cobra.Command {
	var f agentPackageFlags
	var p installers.MacPackage
	var bins []string
	c := &cobra.Command{
		Use:   "pkg --binary anchorwatch-darwin-arm64 [--binary anchorwatch-darwin-amd64] --config agent.json --signer policy-signer.pem --version V -o DIR",
		Short: "Build a macOS flat package of the agent with a LaunchDaemon (unsigned: sign it with productsign)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(bins) > 0 {
				f.files.Binary, p.MoreBinaries = bins[0], bins[1:]
			}
			if err := f.check(); err != nil {
				return err
			}
			p.AgentFiles, p.Version = f.files, f.version
			name, pkg, err := installers.BuildPkg(p)
			return f.write(cmd, name, pkg, err)
		},
	}
	f.register(c, installers.MacLayout(), "")
	c.Flags().StringArrayVar(&bins, "binary", nil, "macOS anchorwatch executable `FILE` (GOOS=darwin); one per GOARCH makes a universal binary")
	c.Flags().StringVar(&p.Identifier, "identifier", installers.DefaultPkgIdentifier, "package `ID` (reverse DNS; pkgutil --pkgs shows it)")
	return c
}
