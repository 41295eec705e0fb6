package installers

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
	"time"

	"github.com/anchorwatch/anchorwatch/agent"
)

// The macOS package of the agent: a flat product archive (xar) holding
// Distribution and one component package, anchorwatch-agent.pkg, with
// PackageInfo, Bom, Payload (gzip'd odc cpio) and Scripts (the same). It
// installs, root:wheel:
//
//	/Library/Anchorwatch/anchorwatch          the agent (0755)
//	/Library/Anchorwatch/agent.json, ...      config (0600), signer, secret (0600), collector CA
//	/Library/Anchorwatch/uninstall.sh         removes it all again
//	/Library/LaunchDaemons/anchorwatch-agent.plist
//
// The binary lives in /Library/Anchorwatch and not /usr/local/bin, which
// Homebrew makes writable by a user on Intel Macs: a user who can replace
// the program a LaunchDaemon runs is root. preinstall stops a running
// agent (an upgrade), postinstall loads the LaunchDaemon, which starts
// it. The archive is unsigned: sign it with productsign (or rcodesign)
// before distribution. No macOS Installer ran these packages here; the
// tests read them back with bsdtar, cpio, plistutil and Python's plistlib,
// and the Bom against its documented layout.

// MacPackage describes the pkg of the agent.
type MacPackage struct {
	AgentFiles
	// MoreBinaries are further thin macOS executables of other
	// architectures: with them the package carries one universal binary.
	MoreBinaries []string
	Version      string
	// Identifier is the package identifier (receipt name); default
	// DefaultPkgIdentifier.
	Identifier string
	// MTime stamps every file; zero means now.
	MTime time.Time
}

// Facts of the macOS package.
const (
	DefaultPkgIdentifier = "com.anchorwatch.agent"
	MacBinaryPath        = MacConfigDir + "/anchorwatch"
	macComponentName     = "anchorwatch-agent.pkg"
)

// BuildPkg builds the pkg and returns it with its file name
// (anchorwatch-1.4.0.pkg).
func BuildPkg(p MacPackage) (name string, pkg []byte, err error) {
	if !versionRE.MatchString(p.Version) || strings.ContainsAny(p.Version, "-+~") {
		return "", nil, fmt.Errorf("pkg: --version %q: give a version such as 1.4.0", p.Version)
	}
	version := strings.TrimPrefix(p.Version, "v")
	id := p.Identifier
	if id == "" {
		id = DefaultPkgIdentifier
	}
	if !validIdentifier(id) {
		return "", nil, fmt.Errorf("pkg: identifier %q: want reverse DNS (com.example.agent)", id)
	}
	in, err := p.read(MacLayout())
	if err != nil {
		return "", nil, fmt.Errorf("pkg: %w", err)
	}
	bin, archs, err := p.binary(in.binary)
	if err != nil {
		return "", nil, fmt.Errorf("pkg: %w", err)
	}
	mtime := p.MTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	files, err := p.archive(in, bin, archs, id, version, mtime)
	if err != nil {
		return "", nil, fmt.Errorf("pkg: %w", err)
	}
	pkg, err = xarArchive(files, mtime)
	if err != nil {
		return "", nil, fmt.Errorf("pkg: %w", err)
	}
	return "anchorwatch-" + version + ".pkg", pkg, nil
}

// binary is the executable the package carries (universal when more than
// one is given) and its architectures.
func (p MacPackage) binary(first []byte) ([]byte, []string, error) {
	bins := [][]byte{first}
	for _, f := range p.MoreBinaries {
		b, err := readInput(f, maxBinaryInput)
		if err != nil {
			return nil, nil, inputErr(fmt.Errorf("--binary: %w", err))
		}
		bins = append(bins, b)
	}
	bin := first
	if len(bins) > 1 {
		var err error
		if bin, err = universal(bins); err != nil {
			return nil, nil, err
		}
	}
	archs, err := machoArchs(bin)
	if err != nil {
		return nil, nil, inputErr(fmt.Errorf("--binary %s: %w", p.Binary, err))
	}
	return bin, archs, nil
}

// payloadEntries are the files the package installs.
func payloadEntries(in *inputs, bin []byte, id string) []pkgEntry {
	dir := func(name string) pkgEntry { return pkgEntry{name: name, mode: fs.ModeDir | 0o755} }
	file := func(name string, mode fs.FileMode, data []byte) pkgEntry {
		return pkgEntry{name: "." + MacConfigDir + "/" + name, mode: mode, data: data}
	}
	es := []pkgEntry{
		dir("."), dir("./Library"), dir("." + MacConfigDir), dir("./Library/LaunchDaemons"),
		file("anchorwatch", 0o755, bin),
		file(ConfigName, 0o600, in.config),
		file(SignerName, 0o644, in.signer),
		file("uninstall.sh", 0o755, []byte(macUninstall(id))),
		{name: "." + agent.LaunchdPlistPath, mode: 0o644,
			data: []byte(agent.LaunchdPlist(MacBinaryPath, agent.RunArgs(MacConfigDir+"/"+ConfigName)))},
	}
	if in.secret != nil {
		es = append(es, file(EnrollSecretName, 0o600, in.secret))
	}
	if in.collectorCA != nil {
		es = append(es, file(CollectorCAName, 0o644, in.collectorCA))
	}
	sortEntries(es)
	return es
}

// archive is the content of the product archive.
func (p MacPackage) archive(in *inputs, bin []byte, archs []string, id, version string, mtime time.Time) ([]xarFile, error) {
	es := payloadEntries(in, bin, id)
	payload, err := cpioODC(es, mtime)
	if err != nil {
		return nil, err
	}
	bomData, err := bom(es, uint32(mtime.Unix()))
	if err != nil {
		return nil, err
	}
	scripts, err := cpioODC([]pkgEntry{
		{name: ".", mode: fs.ModeDir | 0o755},
		{name: "./postinstall", mode: 0o755, data: []byte(macPostinstall)},
		{name: "./preinstall", mode: 0o755, data: []byte(macPreinstall)},
	}, mtime)
	if err != nil {
		return nil, err
	}
	var kbytes int
	for _, e := range es {
		kbytes += (len(e.data) + 1023) / 1024
	}
	d := macData{ID: id, Version: version, Files: len(es), KBytes: kbytes,
		Archs: strings.Join(archs, ","), Component: macComponentName}
	var info, dist bytes.Buffer
	if err := packageInfoTemplate.Execute(&info, d); err != nil {
		return nil, err
	}
	if err := distributionTemplate.Execute(&dist, d); err != nil {
		return nil, err
	}
	c := macComponentName + "/"
	return []xarFile{
		{name: "Distribution", mode: 0o644, data: dist.Bytes()},
		{name: macComponentName, mode: fs.ModeDir | 0o755},
		{name: c + "Bom", mode: 0o644, data: bomData},
		{name: c + "PackageInfo", mode: 0o644, data: info.Bytes()},
		{name: c + "Payload", mode: 0o644, data: payload},
		{name: c + "Scripts", mode: 0o644, data: scripts},
	}, nil
}

type macData struct {
	ID, Version, Archs, Component string
	Files, KBytes                 int
}

var xmlFuncs = template.FuncMap{"x": func(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return strings.ReplaceAll(b.String(), `"`, "&#34;"), nil
}}

// PackageInfo: the component's identity, where it installs, its scripts.
// overwrite-permissions="false" leaves the modes of directories that
// already exist (/, /Library) alone.
var packageInfoTemplate = template.Must(template.New("PackageInfo").Funcs(xmlFuncs).Parse(`<?xml version="1.0" encoding="utf-8"?>
<pkg-info format-version="2" identifier="{{x .ID}}" version="{{x .Version}}" install-location="/" auth="root" overwrite-permissions="false" relocatable="false" postinstall-action="none" generator-version="anchorwatch">
    <payload numberOfFiles="{{.Files}}" installKBytes="{{.KBytes}}"/>
    <bundle-version/>
    <upgrade-bundle/>
    <update-bundle/>
    <atomic-update-bundle/>
    <strict-identifier/>
    <relocate/>
    <scripts>
        <preinstall file="./preinstall"/>
        <postinstall file="./postinstall"/>
    </scripts>
</pkg-info>
`))

// Distribution: a product with one hidden choice, on the boot volume only,
// for the architectures the binary has, macOS 11 or later.
var distributionTemplate = template.Must(template.New("Distribution").Funcs(xmlFuncs).Parse(`<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
    <title>Anchorwatch agent {{x .Version}}</title>
    <options customize="never" require-scripts="false" rootVolumeOnly="true" hostArchitectures="{{x .Archs}}"/>
    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>
    <volume-check>
        <allowed-os-versions>
            <os-version min="11.0"/>
        </allowed-os-versions>
    </volume-check>
    <choices-outline>
        <line choice="default">
            <line choice="{{x .ID}}"/>
        </line>
    </choices-outline>
    <choice id="default"/>
    <choice id="{{x .ID}}" visible="false">
        <pkg-ref id="{{x .ID}}"/>
    </choice>
    <pkg-ref id="{{x .ID}}" version="{{x .Version}}" onConclusion="none" installKBytes="{{.KBytes}}">#{{x .Component}}</pkg-ref>
</installer-gui-script>
`))

// The scripts Installer runs as root ($3: the target volume).
const macPreinstall = `#!/bin/sh
# anchorwatch: stop a running agent before its files are replaced.
if launchctl print system/` + agent.LaunchdLabel + ` >/dev/null 2>&1; then
	launchctl bootout system/` + agent.LaunchdLabel + ` 2>/dev/null || launchctl unload "` + agent.LaunchdPlistPath + `" 2>/dev/null || true
fi
exit 0
`

const macPostinstall = `#!/bin/sh
# anchorwatch: load the LaunchDaemon (RunAtLoad starts the agent) when
# installing onto the running system.
[ "$3" = "/" ] || exit 0
plist="` + agent.LaunchdPlistPath + `"
chown root:wheel "$plist" && chmod 644 "$plist"
launchctl enable system/` + agent.LaunchdLabel + ` 2>/dev/null || true
launchctl bootstrap system "$plist" 2>/dev/null || launchctl load -w "$plist" || echo "anchorwatch: loading $plist failed; see /Library/Logs/` + agent.ServiceName + `.log" >&2
exit 0
`

func macUninstall(id string) string {
	return `#!/bin/sh
# anchorwatch: remove the agent, its config and state, and the receipt.
# Run as root: sudo ` + MacConfigDir + `/uninstall.sh
set -e
launchctl bootout system/` + agent.LaunchdLabel + ` 2>/dev/null || launchctl unload "` + agent.LaunchdPlistPath + `" 2>/dev/null || true
rm -f "` + agent.LaunchdPlistPath + `"
rm -rf "` + MacConfigDir + `" "` + agent.DefaultStateDir + `"
pkgutil --forget ` + id + ` >/dev/null 2>&1 || true
echo "anchorwatch: removed"
`
}
