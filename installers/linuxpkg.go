package installers

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Where the Linux packages install the agent.
const (
	BinaryPath       = "/usr/bin/anchorwatch"
	ConfigPath       = "/etc/anchorwatch/agent.json"
	SignerPath       = "/etc/anchorwatch/policy-signer.pem"
	EnrollSecretPath = "/etc/anchorwatch/enroll-secret"
	CollectorCAPath  = "/etc/anchorwatch/collector-ca.pem"
)

// LinuxPackage describes a deb or rpm of the agent. Paths are on the
// build machine.
type LinuxPackage struct {
	Format  string // "deb" or "rpm"
	Binary  string // the linux anchorwatch executable
	Config  string // agent.json, installed at ConfigPath (0600, kept on upgrade)
	Signer  string // the pinned policy signer certificate, installed at SignerPath
	Version string // package version, e.g. 1.4.0 or v1.4.0-rc.1
	// Optional files: EnrollSecret at EnrollSecretPath (0600), CollectorCA
	// at CollectorCAPath.
	EnrollSecret string
	CollectorCA  string
	// Arch is a GOARCH (amd64, arm64, 386, arm); empty: taken from the
	// binary's ELF header.
	Arch string
	// MTime stamps the files and the package (reproducible builds); zero
	// means now.
	MTime time.Time
}

var versionRE = regexp.MustCompile(`^v?[0-9][0-9A-Za-z.+~-]*$`)

// postInstall registers the service (replacing the unit an older package
// version left) and starts it; a host without a running service manager
// (an image being built) still gets the service enabled for the next boot.
const postInstall = `#!/bin/sh
# anchorwatch: register the agent service and start it.
set -e
` + BinaryPath + ` agent uninstall --config ` + ConfigPath + ` >/dev/null 2>&1 || true
` + BinaryPath + ` agent install --config ` + ConfigPath + `
` + BinaryPath + ` agent start --config ` + ConfigPath + ` || echo "anchorwatch: the agent service is installed and starts at boot; starting it now failed (see: anchorwatch agent status --config ` + ConfigPath + `)" >&2
exit 0
`

// preRemove stops and unregisters the service on removal (deb "remove",
// rpm erase "0"), and only stops it on upgrade: the new package's
// postinstall registers and starts it again.
const preRemove = `#!/bin/sh
# anchorwatch: stop the agent service; unregister it unless upgrading.
case "$1" in
upgrade|failed-upgrade|1|2)
	` + BinaryPath + ` agent stop --config ` + ConfigPath + ` >/dev/null 2>&1 || true
	;;
*)
	` + BinaryPath + ` agent stop --config ` + ConfigPath + ` >/dev/null 2>&1 || true
	` + BinaryPath + ` agent uninstall --config ` + ConfigPath + ` || true
	;;
esac
exit 0
`

// BuildLinuxPackage writes the package to w and returns its conventional
// file name (anchorwatch_1.4.0_amd64.deb, anchorwatch-1.4.0-1.x86_64.rpm).
func BuildLinuxPackage(ctx context.Context, p LinuxPackage, w io.Writer) (string, error) {
	var packager nfpm.Packager
	switch p.Format {
	case "deb":
		packager = deb.Default
	default:
		return "", fmt.Errorf("package format %q: want deb (rpm is not built yet)", p.Format)
	}
	if !versionRE.MatchString(p.Version) {
		return "", fmt.Errorf("%s: --version %q: give a version such as 1.4.0", p.Format, p.Version)
	}
	for _, f := range []struct{ flag, path string }{{"--binary", p.Binary}, {"--config", p.Config}, {"--signer", p.Signer}} {
		if f.path == "" {
			return "", fmt.Errorf("%s: %s FILE is required", p.Format, f.flag)
		}
	}
	arch, err := elfArch(p.Binary)
	if err != nil {
		return "", fmt.Errorf("%s: --binary %s: %w", p.Format, p.Binary, err)
	}
	if p.Arch != "" && p.Arch != arch {
		return "", fmt.Errorf("%s: --binary %s is built for %s, not %s: build it with GOOS=linux GOARCH=%s", p.Format, p.Binary, arch, p.Arch, p.Arch)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	mtime := p.MTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	tmp, err := os.MkdirTemp("", "anchorwatch-package-")
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	defer os.RemoveAll(tmp)
	postinst, prerm := filepath.Join(tmp, "postinstall.sh"), filepath.Join(tmp, "preremove.sh")
	if err := os.WriteFile(postinst, []byte(postInstall), 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	if err := os.WriteFile(prerm, []byte(preRemove), 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	file := func(src, dst, typ string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime}}
	}
	contents := files.Contents{
		file(p.Binary, BinaryPath, "", 0o755),
		file(p.Config, ConfigPath, files.TypeConfigNoReplace, 0o600),
		file(p.Signer, SignerPath, files.TypeConfigNoReplace, 0o644),
		{Destination: "/etc/anchorwatch", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o755, MTime: mtime}},
	}
	if p.EnrollSecret != "" {
		contents = append(contents, file(p.EnrollSecret, EnrollSecretPath, files.TypeConfigNoReplace, 0o600))
	}
	if p.CollectorCA != "" {
		contents = append(contents, file(p.CollectorCA, CollectorCAPath, files.TypeConfigNoReplace, 0o644))
	}
	for _, c := range contents {
		if c.Source == "" {
			continue
		}
		if fi, err := os.Stat(c.Source); err != nil {
			return "", fmt.Errorf("%s: %w", p.Format, err)
		} else if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s: %s is not a regular file", p.Format, c.Source)
		}
	}
	info := &nfpm.Info{
		Name:            "anchorwatch",
		Arch:            arch,
		Platform:        "linux",
		Version:         p.Version,
		Release:         "1",
		Section:         "admin",
		Priority:        "optional",
		Maintainer:      "Anchorwatch <anchorwatch@localhost>",
		Description:     "Anchorwatch agent: keeps the organization's CA in every trust store and reports to the collector",
		Vendor:          "Anchorwatch",
		License:         "Proprietary",
		DisableGlobbing: true,
		MTime:           mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Scripts:  nfpm.Scripts{PostInstall: postinst, PreRemove: prerm},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, p.Format); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	if err := packager.Package(info, w); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	return packager.ConventionalFileName(info), nil
}

// elfArch returns the GOARCH of a Linux ELF executable.
func elfArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return "", errors.New("not a Linux executable (ELF): build it with GOOS=linux go build ./cmd/anchorwatch")
		}
		return "", err
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("ELF type %v is not an executable", f.Type)
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("ELF machine %v is not supported", f.Machine)
}
