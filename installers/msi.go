package installers

import (
	"bytes"
	"context"
	"crypto/sha1"
	"debug/pe"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/anchorwatch/anchorwatch/agent"
)

// The MSI of the agent (built with wixl, Debian package wixl).
//
// It installs anchorwatch.exe under Program Files\Anchorwatch and the
// package's config and files under ProgramData\Anchorwatch, registers the
// agent service (ServiceInstall, LocalSystem, automatic start) and starts
// it (ServiceControl), stops and removes it on uninstall, and upgrades in
// place (MajorUpgrade: same UpgradeCode, a newer version removes the
// older product first).
//
// Between copying the files and registering the service a deferred custom
// action runs, as LocalSystem, `anchorwatch.exe agent configure`: it
// restricts ProgramData\Anchorwatch to SYSTEM and Administrators (wixl
// cannot write a LockPermissions table), and writes agent.json from the
// package's config and the public properties COLLECTOR_URL,
// COLLECTOR_FINGERPRINT and ENROLL_SECRET_FILE (whose file it copies, so
// the secret itself never is a property). Properties given once are kept
// for later upgrades. On uninstall (not on upgrade) a second custom
// action removes what the first wrote and the agent's state.
//
// wixl 0.101's limits, and how this package avoids them: it writes
// binary, expandable and multi-string registry values as plain strings
// (the package writes no registry values; the service is a
// ServiceInstall row); it sequences an After= custom action after
// InstallFinalize (both custom actions carry explicit Sequence numbers:
// configure at 4010, after InstallFiles 4000 and before InstallServices
// 5800; purge at 3400, after DeleteServices 2000 and before RemoveFiles
// 3500); it has no Secure= on properties (SecureCustomProperties is
// rewritten with msibuild after wixl) and no LockPermissions or
// RemoveFile (done by the custom actions).

// MSIPackage describes the MSI of the agent.
type MSIPackage struct {
	AgentFiles
	Version      string // 1.4.0: MSI versions are major.minor.build (255.255.65535)
	Manufacturer string // default "Anchorwatch"
	// SignCert and SignKey (PEM files; the key never on a command line)
	// sign anchorwatch.exe and the MSI with osslsigncode (Authenticode,
	// SHA-256). SignChain adds intermediates.
	SignCert, SignKey, SignChain string
	// Tools: default from PATH.
	Wixl, Msibuild, Osslsigncode string
}

// MSI facts other code and the docs refer to.
const (
	// MSIUpgradeCode identifies the product line: every version of the
	// Anchorwatch agent MSI carries it, so a newer one replaces an older.
	MSIUpgradeCode = "{4B5E9C2A-7D1F-4E3A-9B6C-2F8E1A0D5C37}"
	// MSIPackageConfigName is the package's own config; agent configure
	// writes ConfigName from it.
	MSIPackageConfigName = "agent.package.json"
	// Files agent configure writes beside the config.
	MSIPropertiesName         = "msi-properties.json"
	MSIPropertySecretName     = "enroll-secret.property"
	msiConfigureSequence      = 4010
	msiPurgeSequence          = 3400
	msiSecureCustomProperties = "WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;COLLECTOR_URL;COLLECTOR_FINGERPRINT;ENROLL_SECRET_FILE;START_AGENT"
)

var msiVersionRE = regexp.MustCompile(`^v?([0-9]+)\.([0-9]+)\.([0-9]+)$`)

// msiVersion checks an MSI ProductVersion: three numbers within MSI's
// limits (a fourth is ignored by Windows Installer when it compares).
func msiVersion(v string) (string, error) {
	m := msiVersionRE.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("--version %q: an MSI version is major.minor.build (e.g. 1.4.0), without a pre-release suffix", v)
	}
	for i, max := range []int{255, 255, 65535} {
		if n, err := strconv.Atoi(m[i+1]); err != nil || n > max {
			return "", fmt.Errorf("--version %q: MSI versions go up to 255.255.65535", v)
		}
	}
	return m[1] + "." + m[2] + "." + m[3], nil
}

// BuildMSI builds the MSI and returns it with its file name
// (anchorwatch-1.4.0-x64.msi).
func BuildMSI(ctx context.Context, p MSIPackage) (name string, msi []byte, err error) {
	version, err := msiVersion(p.Version)
	if err != nil {
		return "", nil, inputErr(fmt.Errorf("msi: %w", err))
	}
	arch, err := peArch(p.Binary)
	if err != nil {
		return "", nil, inputErr(fmt.Errorf("msi: --binary %s: %w", p.Binary, err))
	}
	if (p.SignCert == "") != (p.SignKey == "") {
		return "", nil, errors.New("msi: give --sign-cert and --sign-key together")
	}
	// The tools run in a temp dir: name the signing files absolutely.
	for _, f := range []*string{&p.SignCert, &p.SignKey, &p.SignChain} {
		if *f != "" {
			if *f, err = filepath.Abs(*f); err != nil {
				return "", nil, fmt.Errorf("msi: %w", err)
			}
		}
	}
	in, err := p.read(WindowsLayout())
	if err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	tools, err := p.tools()
	if err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	dir, err := os.MkdirTemp("", "anchorwatch-msi-")
	if err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := p.stage(ctx, dir, in, tools); err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	wxs, err := msiSource(p, version, arch, in)
	if err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "anchorwatch.wxs"), wxs, 0o644); err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	out := filepath.Join(dir, "anchorwatch.msi")
	if err := runTool(ctx, dir, tools["wixl"], "-a", arch, "-o", out, "anchorwatch.wxs"); err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	if err := runTool(ctx, dir, tools["msibuild"], out, "-q",
		"UPDATE `Property` SET `Value` = '"+msiSecureCustomProperties+"' WHERE `Property` = 'SecureCustomProperties'"); err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	if p.SignCert != "" {
		if out, err = sign(ctx, dir, tools["osslsigncode"], p, out); err != nil {
			return "", nil, fmt.Errorf("msi: %w", err)
		}
	}
	msi, err = os.ReadFile(out)
	if err != nil {
		return "", nil, fmt.Errorf("msi: %w", err)
	}
	return fmt.Sprintf("anchorwatch-%s-%s.msi", version, arch), msi, nil
}

// tools finds wixl and msibuild, and osslsigncode when signing.
func (p MSIPackage) tools() (map[string]string, error) {
	want := []struct{ name, given, pkg string }{{"wixl", p.Wixl, "wixl"}, {"msibuild", p.Msibuild, "msitools"}}
	if p.SignCert != "" {
		want = append(want, struct{ name, given, pkg string }{"osslsigncode", p.Osslsigncode, "osslsigncode"})
	}
	found := map[string]string{}
	for _, w := range want {
		name := w.given
		if name == "" {
			name = w.name
		}
		path, err := exec.LookPath(name)
		if err != nil {
			return nil, fmt.Errorf("%s not found: install the Debian package %s", name, w.pkg)
		}
		found[w.name] = path
	}
	return found, nil
}

// stage writes the files the MSI carries into dir; anchorwatch.exe is
// signed first when signing.
func (p MSIPackage) stage(ctx context.Context, dir string, in *inputs, tools map[string]string) error {
	files := map[string][]byte{
		"anchorwatch.exe":    in.binary,
		MSIPackageConfigName: in.config,
		SignerName:           in.signer,
	}
	if in.secret != nil {
		files[EnrollSecretName] = in.secret
	}
	if in.collectorCA != nil {
		files[CollectorCAName] = in.collectorCA
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	if p.SignCert == "" {
		return nil
	}
	signed, err := sign(ctx, dir, tools["osslsigncode"], p, filepath.Join(dir, "anchorwatch.exe"))
	if err != nil {
		return err
	}
	return os.Rename(signed, filepath.Join(dir, "anchorwatch.exe"))
}

// sign signs the PE or MSI file at path with osslsigncode and returns the
// signed file's path. The key is read from its file by osslsigncode.
func sign(ctx context.Context, dir, tool string, p MSIPackage, path string) (string, error) {
	out := path + ".signed"
	args := []string{"sign", "-h", "sha256", "-certs", p.SignCert, "-key", p.SignKey,
		"-n", "Anchorwatch agent", "-in", path, "-out", out}
	if p.SignChain != "" {
		args = append(args, "-ac", p.SignChain)
	}
	if err := runTool(ctx, dir, tool, args...); err != nil {
		return "", fmt.Errorf("sign %s: %w", filepath.Base(path), err)
	}
	return out, nil
}

// runTool runs a build tool in dir, bounded by a deadline; its output
// becomes the error.
func runTool(ctx context.Context, dir, tool string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(tool), err, bytes.TrimSpace(out))
	}
	return nil
}

// peArch returns the wixl architecture of a Windows executable.
func peArch(path string) (string, error) {
	f, err := pe.Open(path)
	if err != nil {
		return "", errors.New("not a Windows executable (PE): build it with GOOS=windows go build ./cmd/anchorwatch")
	}
	defer f.Close()
	switch f.Machine {
	case pe.IMAGE_FILE_MACHINE_AMD64:
		return "x64", nil
	case pe.IMAGE_FILE_MACHINE_ARM64:
		return "arm64", nil
	}
	return "", fmt.Errorf("PE machine %#x: want amd64 or arm64 (GOARCH)", f.Machine)
}

// productCode derives the ProductCode from the UpgradeCode and the
// version (a name-based UUID), so rebuilding one version gives one
// product.
func productCode(version string) string {
	h := sha1.Sum([]byte(MSIUpgradeCode + "/" + version))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// msiData fills the WiX source template.
type msiData struct {
	Version, Manufacturer, ProductCode, UpgradeCode, Arch string
	DataFiles                                             []string
	ServiceName, ServiceArgs, ServiceDescription          string
	Configure, Purge                                      string
	ConfigureSeq, PurgeSeq                                int
}

func msiSource(p MSIPackage, version, arch string, in *inputs) ([]byte, error) {
	d := msiData{
		Version:            version,
		Manufacturer:       p.Manufacturer,
		ProductCode:        productCode(version),
		UpgradeCode:        MSIUpgradeCode,
		Arch:               arch,
		DataFiles:          []string{MSIPackageConfigName, SignerName},
		ServiceName:        agent.ServiceName,
		ServiceArgs:        msiArgs(agent.RunArgs("[DATAFOLDER]" + ConfigName)),
		ServiceDescription: agent.ServiceDescription,
		ConfigureSeq:       msiConfigureSequence,
		PurgeSeq:           msiPurgeSequence,
	}
	if d.Manufacturer == "" {
		d.Manufacturer = "Anchorwatch"
	}
	if in.secret != nil {
		d.DataFiles = append(d.DataFiles, EnrollSecretName)
	}
	if in.collectorCA != nil {
		d.DataFiles = append(d.DataFiles, CollectorCAName)
	}
	d.Configure = msiArgs([]string{"agent", "configure", "--config", "[DATAFOLDER]" + ConfigName,
		"--package-config", "[DATAFOLDER]" + MSIPackageConfigName,
		"--collector-url", "[COLLECTOR_URL]", "--collector-fingerprint", "[COLLECTOR_FINGERPRINT]",
		"--enroll-secret-file", "[ENROLL_SECRET_FILE]"})
	d.Purge = msiArgs([]string{"agent", "configure", "--purge", "--config", "[DATAFOLDER]" + ConfigName})
	var b bytes.Buffer
	if err := wxsTemplate.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// msiArgs joins arguments into a Windows command line, each quoted (none
// ends in a backslash, which would escape the closing quote).
func msiArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = `"` + a + `"`
	}
	return strings.Join(q, " ")
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), `"`, "&#34;")
}

var wxsTemplate = template.Must(template.New("wxs").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{{x .ProductCode}}" Name="Anchorwatch agent" Language="1033" Version="{{x .Version}}" Manufacturer="{{x .Manufacturer}}" UpgradeCode="{{x .UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="Anchorwatch agent {{x .Version}}" Comments="Keeps the organization's CA in every trust store and reports to the Anchorwatch collector."/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of the Anchorwatch agent is already installed."/>
    <Media Id="1" Cabinet="anchorwatch.cab" EmbedCab="yes"/>
    <Property Id="START_AGENT" Value="1"/>
    <Property Id="MsiHiddenProperties" Value="ENROLL_SECRET"/>
    <Property Id="ARPNOMODIFY" Value="1"/>
    <Condition Message="ENROLL_SECRET is not accepted: a secret on a command line shows in the process list and the installer log. Put it in a file only SYSTEM and Administrators can read and pass ENROLL_SECRET_FILE=path.">NOT ENROLL_SECRET</Condition>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLFOLDER" Name="Anchorwatch">
          <Component Id="Agent" Guid="*" Win64="yes">
            <File Id="anchorwatch.exe" Source="anchorwatch.exe" KeyPath="yes"/>
            <ServiceInstall Id="AgentService" Name="{{x .ServiceName}}" DisplayName="Anchorwatch agent" Description="{{x .ServiceDescription}}" Type="ownProcess" Start="auto" ErrorControl="normal" Arguments="{{x .ServiceArgs}}"/>
            <ServiceControl Id="AgentServiceControl" Name="{{x .ServiceName}}" Start="install" Stop="both" Remove="uninstall" Wait="yes"/>
          </Component>
        </Directory>
      </Directory>
      <Directory Id="CommonAppDataFolder">
        <Directory Id="DATAFOLDER" Name="Anchorwatch">
{{- range $i, $f := .DataFiles}}
          <Component Id="Data{{$i}}" Guid="*" Win64="yes">
            <File Id="data{{$i}}" Name="{{x $f}}" Source="{{x $f}}" KeyPath="yes"/>
          </Component>
{{- end}}
        </Directory>
      </Directory>
    </Directory>
    <CustomAction Id="AgentConfigure" FileKey="anchorwatch.exe" ExeCommand="{{x .Configure}}" Execute="deferred" Impersonate="no" Return="check"/>
    <CustomAction Id="AgentPurge" FileKey="anchorwatch.exe" ExeCommand="{{x .Purge}}" Execute="deferred" Impersonate="no" Return="ignore"/>
    <InstallExecuteSequence>
      <Custom Action="AgentPurge" Sequence="{{.PurgeSeq}}">REMOVE~="ALL" AND NOT UPGRADINGPRODUCTCODE</Custom>
      <Custom Action="AgentConfigure" Sequence="{{.ConfigureSeq}}">NOT REMOVE~="ALL"</Custom>
      <RemoveExistingProducts Sequence="1401"/>
      <StartServices Sequence="5900">VersionNT AND START_AGENT&lt;&gt;"0"</StartServices>
    </InstallExecuteSequence>
    <Feature Id="Agent" Title="Anchorwatch agent" Level="1">
      <ComponentRef Id="Agent"/>
{{- range $i, $f := .DataFiles}}
      <ComponentRef Id="Data{{$i}}"/>
{{- end}}
    </Feature>
  </Product>
</Wix>
`))

// MSIProperties reads the Property table of an MSI with msiinfo.
func MSIProperties(ctx context.Context, msiPath string) (map[string]string, error) {
	tool, err := exec.LookPath("msiinfo")
	if err != nil {
		return nil, errors.New("msiinfo not found: install the Debian package msitools")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "export", msiPath, "Property").Output()
	if err != nil {
		return nil, fmt.Errorf("msiinfo export %s Property: %w", msiPath, err)
	}
	props := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok && i >= 3 {
			props[k] = v
		}
	}
	return props, nil
}
