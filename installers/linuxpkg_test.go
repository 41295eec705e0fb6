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

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// linuxInputs writes the inputs of a package build: a real ELF
// executable stands in for the anchorwatch binary.
func linuxInputs(t *testing.T, format string) LinuxPackage {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := testpki.SelfSigned(t, "Policy Signer")
	p := LinuxPackage{
		Format:       format,
		Binary:       filepath.Join(dir, "anchorwatch"),
		Config:       filepath.Join(dir, "agent.json"),
		Signer:       testpki.WritePEM(t, filepath.Join(dir, "policy-signer.pem"), signer),
		EnrollSecret: filepath.Join(dir, "secret"),
		Version:      "v1.4.0",
		MTime:        time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for path, data := range map[string][]byte{
		p.Binary:       bin,
		p.Config:       []byte(`{"collector_url":"https://c.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) + `","enroll_secret_file":"` + EnrollSecretPath + `","policy_signer_file":"` + SignerPath + `"}`),
		p.EnrollSecret: []byte("s3cret\n"),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestDebWithDpkgDeb(t *testing.T) {
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	p := linuxInputs(t, "deb")
	var buf bytes.Buffer
	name, err := BuildLinuxPackage(context.Background(), p, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if name != "anchorwatch_1.4.0-1_amd64.deb" {
		t.Errorf("file name %q", name)
	}
	deb := tempFile(t, name, buf.Bytes())

	info := string(run(t, dpkgDeb, "--info", deb))
	for _, want := range []string{"Package: anchorwatch", "Version: 1.4.0-1", "Architecture: amd64", " postinst", " prerm", " conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := string(run(t, dpkgDeb, "--contents", deb))
	for _, re := range []string{
		`(?m)^-rwxr-xr-x root/root .* \./usr/bin/anchorwatch$`,
		`(?m)^-rw------- root/root .* \./etc/anchorwatch/agent\.json$`,
		`(?m)^-rw-r--r-- root/root .* \./etc/anchorwatch/policy-signer\.pem$`,
		`(?m)^-rw------- root/root .* \./etc/anchorwatch/enroll-secret$`,
		`(?m)^drwxr-xr-x root/root .* \./etc/anchorwatch/$`,
	} {
		if !regexp.MustCompile(re).MatchString(contents) {
			t.Errorf("dpkg-deb --contents does not match %s:\n%s", re, contents)
		}
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
	for script, wants := range map[string][]string{
		"postinst": {"/usr/bin/anchorwatch agent install --config /etc/anchorwatch/agent.json", "/usr/bin/anchorwatch agent start"},
		"prerm":    {"/usr/bin/anchorwatch agent uninstall", "upgrade|failed-upgrade"},
	} {
		b, err := os.ReadFile(filepath.Join(ctrl, script))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q:\n%s", script, w, b)
			}
		}
		// The scripts must at least be valid sh.
		run(t, "sh", "-n", filepath.Join(ctrl, script))
	}
	// The installed files are the inputs, byte for byte.
	root := t.TempDir()
	run(t, dpkgDeb, "--extract", deb, root)
	for src, dst := range map[string]string{p.Binary: BinaryPath, p.Config: ConfigPath, p.Signer: SignerPath} {
		a, _ := os.ReadFile(src)
		b, err := os.ReadFile(filepath.Join(root, dst))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s in the package differs from %s (%v)", dst, src, err)
		}
	}
}

func TestLinuxPackageRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*LinuxPackage)
		want string
	}{
		{"format", func(p *LinuxPackage) { p.Format = "apk" }, "want deb"},
		{"version", func(p *LinuxPackage) { p.Version = "latest; rm -rf" }, "--version"},
		{"no config", func(p *LinuxPackage) { p.Config = "" }, "--config FILE is required"},
		{"not ELF", func(p *LinuxPackage) { p.Binary = p.Signer }, "not a Linux executable"},
		{"arch", func(p *LinuxPackage) { p.Arch = "arm64" }, "GOARCH=arm64"},
		{"missing signer", func(p *LinuxPackage) { p.Signer += ".missing" }, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := linuxInputs(t, "deb")
			tc.edit(&p)
			var buf bytes.Buffer
			_, err := BuildLinuxPackage(context.Background(), p, &buf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
