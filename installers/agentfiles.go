package installers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/internal/secretfile"
	"github.com/anchorwatch/anchorwatch/policy"
)

// The names of the files every agent package installs into its config
// directory (Layout.ConfigDir).
const (
	ConfigName       = "agent.json"
	SignerName       = "policy-signer.pem"
	EnrollSecretName = "enroll-secret"
	CollectorCAName  = "collector-ca.pem"
)

// AgentFiles are the inputs of an agent package (deb, rpm, MSI, pkg):
// paths on the build machine.
type AgentFiles struct {
	Binary string // the anchorwatch executable for the package's OS
	Config string // agent.json, installed as ConfigName
	Signer string // the pinned policy signer certificate, installed as SignerName
	// Optional: the enroll secret (installed readable by root/SYSTEM
	// only) and the collector's CA.
	EnrollSecret string
	CollectorCA  string
}

// Layout is where a package installs the agent's config and the files it
// references.
type Layout struct {
	ConfigDir string
	sep       string
}

// Path is the installed path of the file called name in the config
// directory.
func (l Layout) Path(name string) string { return l.ConfigDir + l.sep + name }

// The config directories of the Linux packages, the macOS pkg and the
// MSI (on the system drive, C: as a rule).
const (
	LinuxConfigDir   = "/etc/anchorwatch"
	MacConfigDir     = "/Library/Anchorwatch"
	WindowsConfigDir = `C:\ProgramData\Anchorwatch`
)

// LinuxLayout, MacLayout and WindowsLayout are the layouts of the Linux
// packages, the macOS pkg and the MSI.
func LinuxLayout() Layout   { return Layout{ConfigDir: LinuxConfigDir, sep: "/"} }
func MacLayout() Layout     { return Layout{ConfigDir: MacConfigDir, sep: "/"} }
func WindowsLayout() Layout { return Layout{ConfigDir: WindowsConfigDir, sep: `\`} }

// Input bounds: a config, certificate or secret is small; the binary is
// an executable of a few tens of MB.
const (
	maxSmallInput  = 1 << 20
	maxBinaryInput = 512 << 20
)

// inputs are the contents of AgentFiles.
type inputs struct {
	binary, config, signer, secret, collectorCA []byte
}

// read reads every input (each a regular file, bounded) and checks the
// config the way the agent will, against the layout it is installed in.
func (f AgentFiles) read(l Layout) (*inputs, error) {
	var in inputs
	for _, x := range []struct {
		flag, path string
		max        int64
		dst        *[]byte
		required   bool
		read       func(path string, max int64) ([]byte, error)
	}{
		{"--binary", f.Binary, maxBinaryInput, &in.binary, true, readInput},
		{"--config", f.Config, maxSmallInput, &in.config, true, readInput},
		{"--signer", f.Signer, maxSmallInput, &in.signer, true, readInput},
		{"--enroll-secret", f.EnrollSecret, secretfile.Max, &in.secret, false, readSecret},
		{"--collector-ca", f.CollectorCA, maxSmallInput, &in.collectorCA, false, readInput},
	} {
		if x.path == "" {
			if x.required {
				return nil, inputErr(fmt.Errorf("%s FILE is required", x.flag))
			}
			continue
		}
		b, err := x.read(x.path, x.max)
		if err != nil {
			return nil, inputErr(fmt.Errorf("%s: %w", x.flag, err))
		}
		*x.dst = b
	}
	if err := f.checkConfig(&in, l); err != nil {
		return nil, inputErr(err)
	}
	return &in, nil
}

// readInput reads a regular file of at most max bytes.
func readInput(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", path, max)
	}
	return b, nil
}

// readSecret reads the enroll secret with secretfile's checks (links
// resolved, then a regular file of its own, bounded).
func readSecret(path string, max int64) ([]byte, error) {
	b, _, err := secretfile.ReadResolved(path, max)
	return b, err
}

// InputError is a bad input of a package build: a file that is missing,
// unreadable or not what it should be (a config the agent would refuse,
// a binary for another platform), or a flag value out of range. The
// command line reports it as a usage error.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// inputErr marks err as an InputError (nil stays nil).
func inputErr(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// ErrConfigMismatch: the config names a file somewhere the package does
// not install it.
var ErrConfigMismatch = errors.New("the config does not name the file where the package installs it")

// checkConfig refuses a config the agent would refuse, a signer that is
// not a certificate, an empty secret, and a config whose file references
// do not point where the package installs the files: each must be the
// bare file name (relative to the config) or the installed path.
func (f AgentFiles) checkConfig(in *inputs, l Layout) error {
	cfg, err := agent.ParseConfig(in.config)
	if err != nil {
		return fmt.Errorf("--config %s: %w", f.Config, err)
	}
	if _, err := policy.LoadCertificate(f.Signer); err != nil {
		return fmt.Errorf("--signer: %w", err)
	}
	if f.EnrollSecret != "" && strings.TrimSpace(string(in.secret)) == "" {
		return fmt.Errorf("--enroll-secret %s is empty", f.EnrollSecret)
	}
	for _, ref := range []struct{ key, got, flag, file, name string }{
		{"policy_signer_file", cfg.PolicySignerFile, "--signer", f.Signer, SignerName},
		{"enroll_secret_file", cfg.EnrollSecretFile, "--enroll-secret", f.EnrollSecret, EnrollSecretName},
		{"collector_ca_file", cfg.CollectorCAFile, "--collector-ca", f.CollectorCA, CollectorCAName},
	} {
		if ref.file != "" && ref.got != ref.name && ref.got != l.Path(ref.name) {
			return fmt.Errorf("--config %s: %s is %q but the package installs %s as %s: set %q (or %q) in the config: %w",
				f.Config, ref.key, ref.got, ref.flag, l.Path(ref.name), ref.name, l.Path(ref.name), ErrConfigMismatch)
		}
	}
	return nil
}
