package installers

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// agentInputs writes the config, signer and secret of an agent package
// into dir; the config names the files by their bare names.
func agentInputs(t *testing.T, dir, binary string) AgentFiles {
	t.Helper()
	signer, _ := testpki.SelfSigned(t, "Policy Signer")
	f := AgentFiles{
		Binary:       binary,
		Config:       filepath.Join(dir, "agent.json"),
		Signer:       testpki.WritePEM(t, filepath.Join(dir, "policy-signer.pem"), signer),
		EnrollSecret: filepath.Join(dir, "secret"),
	}
	for path, data := range map[string]string{
		f.Config:       `{"collector_url":"https://c.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) + `","enroll_secret_file":"` + EnrollSecretName + `","policy_signer_file":"` + SignerPath + `"}`,
		f.EnrollSecret: "s3cret\n",
	} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// linuxInputs are the inputs of a package build: a real ELF executable
// (/bin/true) stands in for the anchorwatch binary.
func linuxInputs(t *testing.T, format string) LinuxPackage {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "anchorwatch"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return LinuxPackage{
		Format:     format,
		AgentFiles: agentInputs(t, dir, filepath.Join(dir, "anchorwatch")),
		Version:    "v1.4.0",
		Maintainer: "Example Corp IT <it@example.com>",
		MTime:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func buildLinux(t *testing.T, p LinuxPackage, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	name, err := BuildLinuxPackage(context.Background(), p, &buf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDebWithDpkgDeb(t *testing.T) {
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	p := linuxInputs(t, "deb")
	deb := buildLinux(t, p, t.TempDir())
	if filepath.Base(deb) != "anchorwatch_1.4.0-1_amd64.deb" {
		t.Errorf("file name %q", filepath.Base(deb))
	}
	info := string(run(t, dpkgDeb, "--info", deb))
	for _, want := range []string{"Package: anchorwatch", "Version: 1.4.0-1", "Architecture: amd64",
		"Maintainer: Example Corp IT <it@example.com>", "Depends: libnss3-tools, ca-certificates",
		" postinst", " prerm", " postrm", " conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := string(run(t, dpkgDeb, "--contents", deb))
	for _, re := range []string{
		`(?m)^-rwxr-xr-x root/root .* \./usr/bin/anchorwatch$`,
		`(?m)^-rw-r--r-- root/root .* \./lib/systemd/system/anchorwatch-agent\.service$`,
		`(?m)^-rw------- root/root .* \./etc/anchorwatch/agent\.json$`,
		`(?m)^-rw-r--r-- root/root .* \./etc/anchorwatch/policy-signer\.pem$`,
		`(?m)^-rw------- root/root .* \./etc/anchorwatch/enroll-secret$`,
		`(?m)^drwxr-xr-x root/root .* \./etc/anchorwatch/$`,
	} {
		if !regexp.MustCompile(re).MatchString(contents) {
			t.Errorf("dpkg-deb --contents does not match %s:\n%s", re, contents)
		}
	}
	if strings.Contains(contents, "init.d") {
		t.Errorf("the deb ships a SysV script:\n%s", contents)
	}
	ctrl := t.TempDir()
	run(t, dpkgDeb, "--control", deb, ctrl)
	conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigPath, SignerPath, EnrollSecretPath} {
		if !strings.Contains(string(conffiles), f+"\n") {
			t.Errorf("conffiles lacks %s:\n%s", f, conffiles)
		}
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		run(t, "sh", "-n", filepath.Join(ctrl, script)) // valid sh
	}
	// The installed files are the inputs, byte for byte; the unit is the
	// agent's own.
	root := t.TempDir()
	run(t, dpkgDeb, "--extract", deb, root)
	for src, dst := range map[string]string{p.Binary: BinaryPath, p.Config: ConfigPath, p.Signer: SignerPath, p.EnrollSecret: EnrollSecretPath} {
		a, _ := os.ReadFile(src)
		b, err := os.ReadFile(filepath.Join(root, dst))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s in the package differs from %s (%v)", dst, src, err)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system", UnitName))
	if want := agent.SystemdUnit(BinaryPath, agent.RunArgs(ConfigPath)); string(unit) != want {
		t.Errorf("packaged unit:\n%s\nwant:\n%s", unit, want)
	}
}

func TestRpmWithRpm(t *testing.T) {
	rpmTool := needTool(t, "rpm", "rpm")
	p := linuxInputs(t, "rpm")
	pkg := buildLinux(t, p, t.TempDir())
	if filepath.Base(pkg) != "anchorwatch-1.4.0-1.x86_64.rpm" {
		t.Errorf("file name %q", filepath.Base(pkg))
	}
	info := string(run(t, rpmTool, "-qpi", pkg))
	for _, re := range []string{`(?m)^Name\s*: anchorwatch$`, `(?m)^Version\s*: 1\.4\.0$`, `(?m)^Release\s*: 1$`,
		`(?m)^Architecture: x86_64$`, `(?m)^Packager\s*: Example Corp IT <it@example\.com>$`} {
		if !regexp.MustCompile(re).MatchString(info) {
			t.Errorf("rpm -qpi does not match %s:\n%s", re, info)
		}
	}
	requires := string(run(t, rpmTool, "-qpR", pkg))
	for _, want := range []string{"nss-tools\n", "ca-certificates\n"} {
		if !strings.Contains(requires, want) {
			t.Errorf("rpm -qpR lacks %q:\n%s", want, requires)
		}
	}
	scripts := string(run(t, rpmTool, "-qp", "--scripts", pkg))
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet",
		"if [ \"$1\" = 0 ]; then\n\tunit=anchorwatch-agent.service", "systemctl restart \"$unit\""} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm --scripts lacks %q:\n%s", want, scripts)
		}
	}
	list := string(run(t, rpmTool, "-qplv", pkg))
	for _, re := range []string{
		`(?m)^-rwxr-xr-x\s+1 root\s+root .* /usr/bin/anchorwatch$`,
		`(?m)^-rw-r--r--\s+1 root\s+root .* /usr/lib/systemd/system/anchorwatch-agent\.service$`,
		`(?m)^-rw-------\s+1 root\s+root .* /etc/anchorwatch/agent\.json$`,
		`(?m)^-rw-------\s+1 root\s+root .* /etc/anchorwatch/enroll-secret$`,
	} {
		if !regexp.MustCompile(re).MatchString(list) {
			t.Errorf("rpm -qplv does not match %s:\n%s", re, list)
		}
	}
	if conf := string(run(t, rpmTool, "-qpc", pkg)); conf != ConfigPath+"\n"+EnrollSecretPath+"\n"+SignerPath+"\n" {
		t.Errorf("rpm -qpc (config files):\n%s", conf)
	}
}

func TestLinuxPackageRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*LinuxPackage)
		want string
	}{
		{"format", func(p *LinuxPackage) { p.Format = "apk" }, "want deb or rpm"},
		{"version", func(p *LinuxPackage) { p.Version = "latest; rm -rf" }, "--version"},
		{"maintainer", func(p *LinuxPackage) { p.Maintainer = "root" }, "--maintainer"},
		{"no config", func(p *LinuxPackage) { p.Config = "" }, "--config FILE is required"},
		{"not ELF", func(p *LinuxPackage) { p.Binary = p.Signer }, "not a Linux executable"},
		{"arch", func(p *LinuxPackage) { p.Arch = "arm64" }, "GOARCH=arm64"},
		{"missing signer", func(p *LinuxPackage) { p.Signer += ".missing" }, "no such file"},
		{"signer not a certificate", func(p *LinuxPackage) { p.Signer = p.EnrollSecret }, "--signer"},
		{"secret elsewhere", func(p *LinuxPackage) {
			os.WriteFile(p.Config, []byte(`{"collector_url":"https://c.example","collector_fingerprint":"`+strings.Repeat("ab", 32)+
				`","enroll_secret_file":"/root/secret","policy_signer_file":"policy-signer.pem"}`), 0o644)
		}, `enroll_secret_file is "/root/secret"`},
		{"bad config", func(p *LinuxPackage) { os.WriteFile(p.Config, []byte(`{"collector_url":"ftp://x"}`), 0o644) }, "collector_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := linuxInputs(t, "deb")
			tc.edit(&p)
			var buf bytes.Buffer
			_, err := BuildLinuxPackage(context.Background(), p, &buf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for a refused build", buf.Len())
			}
		})
	}
}
