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
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/anchorwatch/anchorwatch/agent"
)

// Where the Linux packages install the agent.
const (
	BinaryPath       = "/usr/bin/anchorwatch"
	ConfigPath       = LinuxConfigDir + "/" + ConfigName
	SignerPath       = LinuxConfigDir + "/" + SignerName
	EnrollSecretPath = LinuxConfigDir + "/" + EnrollSecretName
	CollectorCAPath  = LinuxConfigDir + "/" + CollectorCAName
)

// UnitName is the systemd unit of the agent service the packages ship.
const UnitName = agent.ServiceName + ".service"

// StateDir is the agent's default state directory, which a deb purge
// removes.
const StateDir = agent.DefaultStateDir

// LinuxPackage describes a deb or rpm of the agent.
type LinuxPackage struct {
	Format string // "deb" or "rpm"
	AgentFiles
	Version string // package version, e.g. 1.4.0 or v1.4.0-rc.1
	// Maintainer is who answers for the package: "Name <email>".
	Maintainer string
	// Arch is a GOARCH (amd64, arm64, 386, arm, riscv64); empty: taken
	// from the binary's ELF header.
	Arch string
	// MTime stamps the files and the package (reproducible builds); zero
	// means now.
	MTime time.Time
}

var (
	versionRE    = regexp.MustCompile(`^v?[0-9][0-9A-Za-z.+~-]*$`)
	maintainerRE = regexp.MustCompile(`^[^<>\n]+ <[^<>@\s]+@[^<>\s]+>$`)
)

// linuxFormat is what differs between deb and rpm.
type linuxFormat struct {
	packager nfpm.Packager
	unitDir  string
	depends  []string // what the agent runs: certutil (NSS), the CA refresh tool
	scripts  map[string]string
}

var linuxFormats = map[string]linuxFormat{
	"deb": {
		packager: deb.Default,
		unitDir:  "/lib/systemd/system",
		depends:  []string{"libnss3-tools", "ca-certificates"},
		scripts:  map[string]string{"postinstall": debPostinst, "preremove": debPrerm, "postremove": debPostrm},
	},
	"rpm": {
		packager: rpm.DefaultRPM,
		unitDir:  "/usr/lib/systemd/system",
		depends:  []string{"nss-tools", "ca-certificates"},
		scripts:  map[string]string{"postinstall": rpmPost, "preremove": rpmPreun, "postremove": rpmPostun},
	},
}

// BuildLinuxPackage writes the package to w and returns its conventional
// file name (anchorwatch_1.4.0-1_amd64.deb, anchorwatch-1.4.0-1.x86_64.rpm).
func BuildLinuxPackage(ctx context.Context, p LinuxPackage, w io.Writer) (string, error) {
	lf, ok := linuxFormats[p.Format]
	if !ok {
		return "", fmt.Errorf("package format %q: want deb or rpm", p.Format)
	}
	if err := p.check(); err != nil {
		return "", inputErr(fmt.Errorf("%s: %w", p.Format, err))
	}
	arch, err := elfArch(p.Binary)
	if err != nil {
		return "", inputErr(fmt.Errorf("%s: --binary %s: %w", p.Format, p.Binary, err))
	}
	if p.Arch != "" && p.Arch != arch {
		return "", inputErr(fmt.Errorf("%s: --binary %s is built for %s, not %s: build it with GOOS=linux GOARCH=%s", p.Format, p.Binary, arch, p.Arch, p.Arch))
	}
	if _, err := p.read(LinuxLayout()); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "anchorwatch-package-")
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	defer os.RemoveAll(tmp)
	info, err := p.info(lf, arch, tmp)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	if err := nfpm.PrepareForPackager(info, p.Format); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	if err := lf.packager.Package(info, w); err != nil {
		return "", fmt.Errorf("%s: %w", p.Format, err)
	}
	return lf.packager.ConventionalFileName(info), nil
}

func (p LinuxPackage) check() error {
	if !versionRE.MatchString(p.Version) {
		return fmt.Errorf("--version %q: give a version such as 1.4.0", p.Version)
	}
	if !maintainerRE.MatchString(p.Maintainer) {
		return fmt.Errorf("--maintainer %q: give who answers for the package as \"Name <email>\" (dpkg and rpm show it)", p.Maintainer)
	}
	for _, f := range []struct{ flag, path string }{{"--binary", p.Binary}, {"--config", p.Config}, {"--signer", p.Signer}} {
		if f.path == "" {
			return fmt.Errorf("%s FILE is required", f.flag)
		}
	}
	return nil
}

// info is the nfpm description of the package; the unit and the scripts
// are written into tmp.
func (p LinuxPackage) info(lf linuxFormat, arch, tmp string) (*nfpm.Info, error) {
	mtime := p.MTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	unit := filepath.Join(tmp, UnitName)
	if err := os.WriteFile(unit, []byte(agent.SystemdUnit(BinaryPath, agent.RunArgs(ConfigPath))), 0o644); err != nil {
		return nil, err
	}
	scripts := map[string]string{}
	for name, body := range lf.scripts {
		scripts[name] = filepath.Join(tmp, name+".sh")
		if err := os.WriteFile(scripts[name], []byte(expandScript(body, lf.unitDir)), 0o755); err != nil {
			return nil, err
		}
	}
	owned := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime}
	}
	file := func(src, dst, typ string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: typ, FileInfo: owned(mode)}
	}
	contents := files.Contents{
		file(p.Binary, BinaryPath, "", 0o755),
		file(unit, lf.unitDir+"/"+UnitName, "", 0o644),
		{Destination: LinuxConfigDir, Type: files.TypeDir, FileInfo: owned(0o755)},
		file(p.Config, ConfigPath, files.TypeConfigNoReplace, 0o600),
		file(p.Signer, SignerPath, files.TypeConfigNoReplace, 0o644),
	}
	if p.EnrollSecret != "" {
		contents = append(contents, file(p.EnrollSecret, EnrollSecretPath, files.TypeConfigNoReplace, 0o600))
	}
	if p.CollectorCA != "" {
		contents = append(contents, file(p.CollectorCA, CollectorCAPath, files.TypeConfigNoReplace, 0o644))
	}
	info := &nfpm.Info{
		Name:            "anchorwatch",
		Arch:            arch,
		Platform:        "linux",
		Version:         p.Version,
		Release:         "1",
		Section:         "admin",
		Priority:        "optional",
		Maintainer:      p.Maintainer,
		Description:     "Anchorwatch agent: keeps the organization's CA in every trust store and reports to the collector",
		Vendor:          "Anchorwatch",
		License:         "Proprietary",
		DisableGlobbing: true,
		MTime:           mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Depends:  lf.depends,
			Umask:    0o022,
			Scripts: nfpm.Scripts{PostInstall: scripts["postinstall"], PreRemove: scripts["preremove"],
				PostRemove: scripts["postremove"]},
		},
	}
	return nfpm.WithDefaults(info), nil
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
