package installers

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The macOS package is checked here with every independent reader this
// machine has; no macOS Installer ran it (there is none here): bsdtar
// (libarchive) lists and extracts the xar, verifying its checksums;
// GNU cpio lists and extracts Payload and Scripts; plistutil (libplist)
// and Python's plistlib parse the LaunchDaemon; Python's ElementTree
// parses Distribution and PackageInfo; file(1) and Go's debug/macho read
// the universal binary; coreutils cksum computes the checksums the Bom
// must hold; and the Bom is read by bomRead below, written from the
// documented layout (bomutils' bom.h, stuckliste's format reference)
// apart from the writer.

func macInputs(t *testing.T) (MacPackage, string, string) {
	t.Helper()
	bins := t.TempDir()
	arm := goBuildArch(t, "darwin", "arm64", "1.4.0", filepath.Join(bins, "arm64"))
	amd := goBuildArch(t, "darwin", "amd64", "1.4.0", filepath.Join(bins, "amd64"))
	f := agentInputs(t, t.TempDir(), arm)
	f.CollectorCA = f.Signer // any certificate file
	if err := os.WriteFile(f.Config, []byte(`{"collector_url":"https://collector.example:8443","collector_ca_file":"collector-ca.pem",`+
		`"enroll_secret_file":"`+MacConfigDir+`/enroll-secret","policy_signer_file":"policy-signer.pem"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return MacPackage{AgentFiles: f, MoreBinaries: []string{amd}, Version: "1.4.0",
		MTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, arm, amd
}

func TestPkgReadBack(t *testing.T) {
	bsdtar := needTool(t, "bsdtar", "libarchive-tools")
	needTool(t, "cpio", "cpio")
	needTool(t, "plistutil", "libplist-utils")
	needTool(t, "cksum", "coreutils")
	fileTool := needTool(t, "file", "file")
	p, arm, amd := macInputs(t)
	name, pkg, err := BuildPkg(p)
	if err != nil {
		t.Fatal(err)
	}
	if name != "anchorwatch-1.4.0.pkg" {
		t.Errorf("file name %q", name)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	list := string(run(t, bsdtar, "-tf", path))
	want := "Distribution\nanchorwatch-agent.pkg\nanchorwatch-agent.pkg/Bom\nanchorwatch-agent.pkg/PackageInfo\nanchorwatch-agent.pkg/Payload\nanchorwatch-agent.pkg/Scripts\n"
	if list != want {
		t.Errorf("bsdtar -tf:\n%s\nwant:\n%s", list, want)
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	run(t, bsdtar, "-xf", path, "-C", x)
	comp := filepath.Join(x, "anchorwatch-agent.pkg")

	checkPkgXML(t, filepath.Join(x, "Distribution"), filepath.Join(comp, "PackageInfo"))
	payload := extractCpio(t, filepath.Join(comp, "Payload"))
	checkPayload(t, payload, p)
	checkUniversal(t, fileTool, filepath.Join(payload.dir, "Library/Anchorwatch/anchorwatch"), arm, amd)
	checkLaunchDaemon(t, filepath.Join(payload.dir, "Library/LaunchDaemons/anchorwatch-agent.plist"))
	scripts := extractCpio(t, filepath.Join(comp, "Scripts"))
	for _, s := range []string{"preinstall", "postinstall"} {
		if !strings.Contains(scripts.list, "-rwxr-xr-x   1 root     root") || !strings.Contains(scripts.list, " ./"+s+"\n") {
			t.Errorf("Scripts lacks an executable %s:\n%s", s, scripts.list)
		}
		run(t, "sh", "-n", filepath.Join(scripts.dir, s))
	}
	run(t, "sh", "-n", filepath.Join(payload.dir, "Library/Anchorwatch/uninstall.sh"))
	bomData, err := os.ReadFile(filepath.Join(comp, "Bom"))
	if err != nil {
		t.Fatal(err)
	}
	checkBom(t, bomData, payload)
}

// checkPkgXML parses Distribution and PackageInfo with Python's
// ElementTree and checks what Installer reads from them.
func checkPkgXML(t *testing.T, dist, info string) {
	t.Helper()
	script := `
import sys, xml.etree.ElementTree as ET
d = ET.parse(sys.argv[1]).getroot()
i = ET.parse(sys.argv[2]).getroot()
o = d.find("options")
ref = [r for r in d.findall("pkg-ref") if r.text][0]
print(d.tag, o.get("hostArchitectures"), o.get("rootVolumeOnly"), d.find("domains").get("enable_localSystem"),
      d.find("volume-check/allowed-os-versions/os-version").get("min"), ref.get("id"), ref.get("version"), ref.text)
print(i.tag, i.get("identifier"), i.get("version"), i.get("install-location"), i.get("auth"), i.get("overwrite-permissions"),
      i.find("payload").get("numberOfFiles"), i.find("scripts/preinstall").get("file"), i.find("scripts/postinstall").get("file"))
`
	out := string(run(t, "/usr/bin/python3", "-c", script, dist, info))
	want := "installer-gui-script x86_64,arm64 true true 11.0 com.anchorwatch.agent 1.4.0 #anchorwatch-agent.pkg\n" +
		"pkg-info com.anchorwatch.agent 1.4.0 / root false 11 ./preinstall ./postinstall\n"
	if out != want {
		t.Errorf("Distribution / PackageInfo as ElementTree reads them:\n%s\nwant:\n%s", out, want)
	}
}

type cpioOut struct {
	dir, list string
}

// extractCpio lists (cpio -tv) and extracts (cpio -idm, owners kept as
// root) a gzip'd cpio archive.
func extractCpio(t *testing.T, archive string) cpioOut {
	t.Helper()
	dir := t.TempDir()
	sh := func(cmd string) string {
		c := exec.Command("sh", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	list := sh(fmt.Sprintf("gunzip -c %q | cpio -tv --quiet", archive))
	sh(fmt.Sprintf("gunzip -c %q | cpio -idm --quiet", archive))
	return cpioOut{dir: dir, list: list}
}

func checkPayload(t *testing.T, payload cpioOut, p MacPackage) {
	t.Helper()
	for _, re := range []string{
		`(?m)^drwxr-xr-x   1 root     root +0 .* \.$`,
		`(?m)^drwxr-xr-x   1 root     root +0 .* \./Library/Anchorwatch$`,
		`(?m)^-rwxr-xr-x   1 root     root +\d+ .* \./Library/Anchorwatch/anchorwatch$`,
		`(?m)^-rw-------   1 root     root +\d+ .* \./Library/Anchorwatch/agent\.json$`,
		`(?m)^-rw-------   1 root     root +\d+ .* \./Library/Anchorwatch/enroll-secret$`,
		`(?m)^-rw-r--r--   1 root     root +\d+ .* \./Library/Anchorwatch/policy-signer\.pem$`,
		`(?m)^-rw-r--r--   1 root     root +\d+ .* \./Library/Anchorwatch/collector-ca\.pem$`,
		`(?m)^-rwxr-xr-x   1 root     root +\d+ .* \./Library/Anchorwatch/uninstall\.sh$`,
		`(?m)^-rw-r--r--   1 root     root +\d+ .* \./Library/LaunchDaemons/anchorwatch-agent\.plist$`,
	} {
		if !regexp.MustCompile(re).MatchString(payload.list) {
			t.Errorf("cpio -tv of the Payload does not match %s:\n%s", re, payload.list)
		}
	}
	if n := strings.Count(payload.list, "\n"); n != 11 {
		t.Errorf("the Payload has %d entries, want 11:\n%s", n, payload.list)
	}
	for src, dst := range map[string]string{p.Config: ConfigName, p.Signer: SignerName, p.EnrollSecret: EnrollSecretName} {
		a, _ := os.ReadFile(src)
		b, err := os.ReadFile(filepath.Join(payload.dir, "Library/Anchorwatch", dst))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s in the Payload differs from %s (%v)", dst, src, err)
		}
	}
}

// checkUniversal: file(1) sees a universal binary of both architectures,
// and each slice Go's debug/macho finds in it is the thin input.
func checkUniversal(t *testing.T, fileTool, bin, arm, amd string) {
	t.Helper()
	out := string(run(t, fileTool, bin))
	if !strings.Contains(out, "Mach-O universal binary with 2 architectures") || !strings.Contains(out, "x86_64") || !strings.Contains(out, "arm64") {
		t.Errorf("file(1): %s", out)
	}
	fat, err := macho.OpenFat(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer fat.Close()
	data, _ := os.ReadFile(bin)
	for _, a := range fat.Arches {
		want := amd
		if a.Cpu == macho.CpuArm64 {
			want = arm
		}
		thin, _ := os.ReadFile(want)
		if a.Offset%(1<<14) != 0 || !bytes.Equal(data[a.Offset:a.Offset+a.Size], thin) {
			t.Errorf("%v slice at %d (%d bytes) is not the %s input", a.Cpu, a.Offset, a.Size, filepath.Base(filepath.Dir(want)))
		}
	}
}

// checkLaunchDaemon parses the job with libplist (converting it to binary
// and back) and with Python's plistlib, and checks the keys launchd needs.
func checkLaunchDaemon(t *testing.T, plist string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "job.bplist")
	run(t, "plistutil", "-i", plist, "-o", bin, "-f", "bin")
	script := `
import plistlib, sys
a = plistlib.load(open(sys.argv[1], "rb"))
b = plistlib.load(open(sys.argv[2], "rb"))
assert a == b, "libplist's binary form differs"
print(a["Label"], a["ProgramArguments"], a["RunAtLoad"], a["KeepAlive"], a["StandardErrorPath"])
`
	out := string(run(t, "/usr/bin/python3", "-c", script, plist, bin))
	want := "anchorwatch-agent ['/Library/Anchorwatch/anchorwatch', 'agent', 'run', '--config', '/Library/Anchorwatch/agent.json'] True True /Library/Logs/anchorwatch-agent.log\n"
	if out != want {
		t.Errorf("LaunchDaemon as plistlib reads it:\n%s\nwant:\n%s", out, want)
	}
}

// bomPath is one path of a Bom as bomRead finds it.
type bomPath struct {
	typ                   byte
	mode                  uint16
	uid, gid, size, cksum uint32
}

// bomRead reads the paths of a Bom receipt, following the documented
// layout: header, variables, block index, the Paths tree's leaf, the key
// and value blocks and the metadata.
func bomRead(data []byte) (map[string]bomPath, []string, error) {
	u32 := func(off uint32) (uint32, error) {
		if uint64(off)+4 > uint64(len(data)) {
			return 0, fmt.Errorf("read at %d past the end (%d)", off, len(data))
		}
		return binary.BigEndian.Uint32(data[off:]), nil
	}
	if len(data) < 512 || string(data[:8]) != "BOMStore" {
		return nil, nil, errors.New("no BOMStore header")
	}
	indexOff, _ := u32(16)
	varsOff, _ := u32(24)
	nblocks, err := u32(indexOff)
	if err != nil {
		return nil, nil, err
	}
	block := func(i uint32) ([]byte, error) {
		if i == 0 || i >= nblocks {
			return nil, fmt.Errorf("block %d out of range", i)
		}
		off, err1 := u32(indexOff + 4 + 8*i)
		n, err2 := u32(indexOff + 8 + 8*i)
		if err := errors.Join(err1, err2); err != nil || uint64(off)+uint64(n) > uint64(len(data)) {
			return nil, fmt.Errorf("block %d: bad pointer", i)
		}
		return data[off : off+n], nil
	}
	nvars, _ := u32(varsOff)
	vars := map[string]uint32{}
	var names []string
	p := varsOff + 4
	for i := uint32(0); i < nvars; i++ {
		idx, err := u32(p)
		if err != nil {
			return nil, nil, err
		}
		l := uint32(data[p+4])
		name := string(data[p+5 : p+5+l])
		vars[name], names = idx, append(names, name)
		p += 5 + l
	}
	tree, err := block(vars["Paths"])
	if err != nil || string(tree[:4]) != "tree" {
		return nil, nil, fmt.Errorf("Paths: not a tree (%v)", err)
	}
	leaf, err := block(binary.BigEndian.Uint32(tree[8:]))
	if err != nil || binary.BigEndian.Uint16(leaf) != 1 {
		return nil, nil, fmt.Errorf("Paths: root is not a leaf (%v)", err)
	}
	count := int(binary.BigEndian.Uint16(leaf[2:]))
	byID := map[uint32]string{0: ""}
	out := map[string]bomPath{}
	for i := 0; i < count; i++ {
		key, err1 := block(binary.BigEndian.Uint32(leaf[12+8*i:]))
		val, err2 := block(binary.BigEndian.Uint32(leaf[16+8*i:]))
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, err
		}
		id := binary.BigEndian.Uint32(key)
		meta, err := block(binary.BigEndian.Uint32(key[4:]))
		if err != nil {
			return nil, nil, err
		}
		parent, ok := byID[binary.BigEndian.Uint32(val)]
		if !ok {
			return nil, nil, fmt.Errorf("path %d: parent listed after it", id)
		}
		name := string(bytes.TrimRight(val[4:], "\x00"))
		if parent != "" {
			name = parent + "/" + name
		}
		byID[id] = name
		bp := bomPath{typ: meta[0], mode: binary.BigEndian.Uint16(meta[4:]), uid: binary.BigEndian.Uint32(meta[6:]),
			gid: binary.BigEndian.Uint32(meta[10:]), size: binary.BigEndian.Uint32(meta[18:])}
		if bp.typ == 1 {
			bp.cksum = binary.BigEndian.Uint32(meta[23:])
		}
		out[name] = bp
	}
	return out, names, nil
}

// checkBom reads the Bom and compares it with the Payload as cpio
// extracted it: the same paths, modes, owners and sizes, and each file's
// checksum as coreutils cksum computes it.
func checkBom(t *testing.T, data []byte, payload cpioOut) {
	t.Helper()
	paths, names, err := bomRead(data)
	if err != nil {
		t.Fatalf("Bom: %v", err)
	}
	if got := strings.Join(names, ","); got != "BomInfo,Paths,HLIndex,VIndex,Size64" {
		t.Errorf("Bom variables %s", got)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(payload.list), "\n") {
		f := strings.Fields(line)
		name := f[len(f)-1] // as stored: "." and "./..."
		listed = append(listed, name)
		bp, ok := paths[name]
		if !ok {
			t.Errorf("Bom lacks %s", name)
			continue
		}
		fi, err := os.Lstat(filepath.Join(payload.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		wantType := byte(1)
		if fi.IsDir() {
			wantType = 2
		}
		if bp.typ != wantType || bp.mode&0o7777 != uint16(fi.Mode().Perm()) || bp.uid != 0 || bp.gid != 0 {
			t.Errorf("Bom %s: type %d mode %o uid %d gid %d; cpio extracted %v", name, bp.typ, bp.mode, bp.uid, bp.gid, fi.Mode())
		}
		if fi.IsDir() {
			continue
		}
		if bp.size != uint32(fi.Size()) {
			t.Errorf("Bom %s: size %d, cpio extracted %d bytes", name, bp.size, fi.Size())
		}
		out := strings.Fields(string(run(t, "cksum", filepath.Join(payload.dir, name))))
		if sum, _ := strconv.ParseUint(out[0], 10, 32); uint32(sum) != bp.cksum {
			t.Errorf("Bom %s: checksum %d, cksum says %s", name, bp.cksum, out[0])
		}
	}
	if len(paths) != len(listed) {
		t.Errorf("Bom has %d paths, the Payload %d", len(paths), len(listed))
	}
}

func TestPkgRefuses(t *testing.T) {
	p, _, _ := macInputs(t)
	lin := linuxInputs(t, "deb")
	for _, tc := range []struct {
		name string
		edit func(*MacPackage)
		want string
	}{
		{"linux binary", func(p *MacPackage) { p.Binary, p.MoreBinaries = lin.Binary, nil }, "not a macOS executable"},
		{"same arch twice", func(p *MacPackage) { p.MoreBinaries = []string{p.Binary} }, "two"},
		{"prerelease version", func(p *MacPackage) { p.Version = "1.4.0-rc.1" }, "--version"},
		{"identifier", func(p *MacPackage) { p.Identifier = "com example" }, "reverse DNS"},
		{"linux path in config", func(p *MacPackage) {
			os.WriteFile(p.Config, []byte(`{"collector_url":"https://c.example:8443","collector_fingerprint":"`+strings.Repeat("ab", 32)+
				`","enroll_secret_file":"/etc/anchorwatch/enroll-secret","policy_signer_file":"policy-signer.pem"}`), 0o644)
		}, MacConfigDir + "/enroll-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			q.AgentFiles = agentInputs(t, t.TempDir(), p.Binary)
			q.Config = filepath.Join(filepath.Dir(q.Signer), "agent.json")
			os.WriteFile(q.Config, []byte(`{"collector_url":"https://c.example:8443","collector_fingerprint":"`+strings.Repeat("ab", 32)+
				`","enroll_secret_file":"enroll-secret","policy_signer_file":"policy-signer.pem"}`), 0o644)
			tc.edit(&q)
			_, pkg, err := BuildPkg(q)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if pkg != nil {
				t.Error("a package came back from a refused build")
			}
		})
	}
}

// TestPosixCksum compares the Bom's checksum with coreutils cksum on
// inputs around the length-encoding boundaries.
func TestPosixCksum(t *testing.T) {
	needTool(t, "cksum", "coreutils")
	dir := t.TempDir()
	for _, n := range []int{0, 1, 5, 255, 256, 65535, 65536, 1 << 20} {
		data := bytes.Repeat([]byte{byte(n), 0xa5, 0x3c}, n)[:n]
		f := filepath.Join(dir, strconv.Itoa(n))
		os.WriteFile(f, data, 0o644)
		out := strings.Fields(string(run(t, "cksum", f)))
		if want, _ := strconv.ParseUint(out[0], 10, 32); posixCksum(data) != uint32(want) {
			t.Errorf("%d bytes: posixCksum %d, cksum %s", n, posixCksum(data), out[0])
		}
	}
}

// FuzzBomRoundTrip: any set of paths the payload can hold gives a Bom that
// the layout reader (bomRead) reads back with the same paths, types,
// sizes and checksums, parents before children.
func FuzzBomRoundTrip(f *testing.F) {
	f.Add([]byte("a\nb/c\nb/d/e\n"))
	f.Add([]byte("Library/Anchorwatch/anchorwatch\nLibrary/LaunchDaemons/x.plist\n"))
	f.Add([]byte("z\ny\nx-\nx/\nx.a/b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		es := []pkgEntry{{name: ".", mode: os.ModeDir | 0o755}}
		seen := map[string]bool{".": true}
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.FieldsFunc(line, func(r rune) bool { return r == '/' })
			name := "."
			for i, p := range parts {
				if p == "." || p == ".." || strings.ContainsAny(p, "\x00") || len(p) > 64 {
					break
				}
				name += "/" + p
				if seen[name] {
					continue
				}
				seen[name] = true
				if i < len(parts)-1 {
					es = append(es, pkgEntry{name: name, mode: os.ModeDir | 0o755})
				} else {
					es = append(es, pkgEntry{name: name, mode: 0o644, data: []byte(line)})
				}
			}
		}
		if len(es) > maxBomPaths {
			return
		}
		// A name used as a file and then as a directory is not a tree.
		if err := checkEntries(es); err != nil {
			return
		}
		b, err := bom(es, 1)
		if err != nil {
			t.Fatalf("bom: %v", err)
		}
		got, _, err := bomRead(b)
		if err != nil {
			t.Fatalf("bomRead: %v", err)
		}
		if len(got) != len(es) {
			t.Fatalf("%d paths read back, %d written", len(got), len(es))
		}
		for _, e := range es {
			p, ok := got[e.name]
			if !ok || p.size != uint32(len(e.data)) || (!e.mode.IsDir() && p.cksum != posixCksum(e.data)) {
				t.Fatalf("%s: read back %+v", e.name, p)
			}
		}
	})
}
