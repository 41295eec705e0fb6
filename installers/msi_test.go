package installers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// msiInputs are the inputs of an MSI build around a real Windows build of
// anchorwatch (exe); the config names its files by their bare names.
func msiInputs(t *testing.T, exe, version string) MSIPackage {
	t.Helper()
	dir := t.TempDir()
	f := agentInputs(t, dir, exe)
	// The Linux test config pins SignerPath; the MSI wants the bare name.
	if err := os.WriteFile(f.Config, []byte(`{"collector_url":"https://collector.example:8443","collector_fingerprint":"`+
		strings.Repeat("ab", 32)+`","enroll_secret_file":"enroll-secret","policy_signer_file":"policy-signer.pem","stores":["windows","java"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return MSIPackage{AgentFiles: f, Version: version}
}

func buildMSI(t *testing.T, p MSIPackage, dir string) string {
	t.Helper()
	name, data, err := BuildMSI(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// msiTable is `msiinfo export` of one table.
func msiTable(t *testing.T, msi, table string) string {
	t.Helper()
	return strings.ReplaceAll(string(run(t, "msiinfo", "export", msi, table)), "\r\n", "\n")
}

// TestMSITables reads the MSI back with msitools (msiinfo, msiextract):
// the tables that register and control the service, the files, the
// public and hidden properties, the custom actions at their explicit
// sequence numbers, and the files themselves byte for byte.
func TestMSITables(t *testing.T) {
	needTool(t, "wixl", "wixl")
	needTool(t, "msiinfo", "msitools")
	needTool(t, "msiextract", "msitools")
	exe := goBuild(t, "windows", "1.4.0", t.TempDir())
	p := msiInputs(t, exe, "1.4.0")
	msi := buildMSI(t, p, t.TempDir())
	if filepath.Base(msi) != "anchorwatch-1.4.0-x64.msi" {
		t.Errorf("file name %q", filepath.Base(msi))
	}
	tables := string(run(t, "msiinfo", "tables", msi))
	for _, want := range []string{"ServiceInstall", "ServiceControl", "File", "Component", "CustomAction", "InstallExecuteSequence", "Property", "Upgrade", "LaunchCondition"} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(tables) {
			t.Errorf("msiinfo tables lacks %s:\n%s", want, tables)
		}
	}
	for table, res := range map[string][]string{
		"ServiceInstall": {`(?m)^AgentService\tanchorwatch-agent\tAnchorwatch agent\t16\t2\t1\t\t\t\t\t"agent" "run" "--config" "\[DATAFOLDER\]agent\.json"\tAgent\t`},
		// 163 = start on install (1) + stop on install (2) and uninstall
		// (32) + delete on uninstall (128).
		"ServiceControl": {`(?m)^AgentServiceControl\tanchorwatch-agent\t163\t\t1\tAgent$`},
		"File":           {`(?m)^anchorwatch\.exe\tAgent\tanchorwatch\.exe\t`, `(?m)\tagent\.package\.json\t`, `(?m)\tpolicy-signer\.pem\t`, `(?m)\tenroll-secret\t`},
		"Component":      {`(?m)^Agent\t\{[0-9A-F-]+\}\tINSTALLFOLDER\t256\t`, `(?m)^Data0\t\{[0-9A-F-]+\}\tDATAFOLDER\t256\t`},
		"Property": {`(?m)^SecureCustomProperties\t.*COLLECTOR_URL;COLLECTOR_FINGERPRINT;ENROLL_SECRET_FILE;START_AGENT$`,
			`(?m)^MsiHiddenProperties\tENROLL_SECRET$`, `(?m)^START_AGENT\t1$`, `(?m)^UpgradeCode\t\{4B5E9C2A-7D1F-4E3A-9B6C-2F8E1A0D5C37\}$`,
			`(?m)^ProductVersion\t1\.4\.0$`, `(?m)^ALLUSERS\t1$`},
		// 3090 = exe from an installed file (18) + deferred (0x400) + no
		// impersonation (0x800); 3154 also ignores the exit code (0x40).
		"CustomAction": {`(?m)^AgentConfigure\t3090\tanchorwatch\.exe\t"agent" "configure" "--config" "\[DATAFOLDER\]agent\.json" "--package-config" "\[DATAFOLDER\]agent\.package\.json" "--collector-url" "\[COLLECTOR_URL\]"`,
			`(?m)^AgentPurge\t3154\tanchorwatch\.exe\t"agent" "configure" "--purge"`},
		"InstallExecuteSequence": {`(?m)^InstallFiles\t\t4000$`, `(?m)^AgentConfigure\tNOT REMOVE~="ALL"\t4010$`, `(?m)^InstallServices\tVersionNT\t5800$`,
			`(?m)^StartServices\tVersionNT AND START_AGENT<>"0"\t5900$`, `(?m)^AgentPurge\tREMOVE~="ALL" AND NOT UPGRADINGPRODUCTCODE\t3400$`,
			`(?m)^DeleteServices\tVersionNT\t2000$`, `(?m)^RemoveFiles\t\t3500$`, `(?m)^RemoveExistingProducts\t\t1401$`},
		"LaunchCondition": {`(?m)^NOT ENROLL_SECRET\tENROLL_SECRET is not accepted`},
		"Upgrade":         {`(?m)^\{4B5E9C2A-7D1F-4E3A-9B6C-2F8E1A0D5C37\}\t\t1\.4\.0\t\t1\t\tWIX_UPGRADE_DETECTED$`},
	} {
		got := msiTable(t, msi, table)
		for _, re := range res {
			if !regexp.MustCompile(re).MatchString(got) {
				t.Errorf("msiinfo export %s does not match %s:\n%s", table, re, got)
			}
		}
	}
	// The Intune LOB app body takes its identity from the Property table.
	props, err := MSIProperties(context.Background(), msi)
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewIntuneLOBApp(filepath.Base(msi), props, "")
	if err != nil || app.ProductCode != productCode("1.4.0") || app.ProductVersion != "1.4.0" || app.Publisher != "Anchorwatch" || !app.UseDeviceContext {
		t.Errorf("LOB app %+v (%v)", app, err)
	}
	// The files inside are the inputs.
	out := t.TempDir()
	run(t, "msiextract", "-C", out, msi)
	for src, dst := range map[string]string{p.Binary: "Program Files/Anchorwatch/anchorwatch.exe", p.Config: "ProgramData/Anchorwatch/agent.package.json",
		p.Signer: "ProgramData/Anchorwatch/policy-signer.pem", p.EnrollSecret: "ProgramData/Anchorwatch/enroll-secret"} {
		a, _ := os.ReadFile(src)
		got, err := findExtracted(out, dst)
		if err != nil || string(got) != string(a) {
			t.Errorf("%s in the MSI differs from %s (%v)", dst, src, err)
		}
	}
}

// findExtracted reads a file msiextract wrote: it drops the Program Files
// and ProgramData roots and keeps the directories below them.
func findExtracted(root, rel string) ([]byte, error) {
	base := filepath.Base(rel)
	var found string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == base && strings.Contains(filepath.ToSlash(p), filepath.Base(filepath.Dir(rel))+"/") {
			found = p
		}
		return err
	})
	if err != nil || found == "" {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(found)
}

func TestMSIRefuses(t *testing.T) {
	needTool(t, "wixl", "wixl")
	lin := linuxInputs(t, "deb") // a Linux ELF binary
	for _, tc := range []struct {
		name string
		edit func(*MSIPackage)
		want string
	}{
		{"prerelease version", func(p *MSIPackage) { p.Version = "1.4.0-rc.1" }, "major.minor.build"},
		{"version too big", func(p *MSIPackage) { p.Version = "256.0.0" }, "255.255.65535"},
		{"linux binary", func(p *MSIPackage) { p.Binary = lin.Binary }, "not a Windows executable"},
		{"cert without key", func(p *MSIPackage) { p.SignCert = p.Signer }, "--sign-cert and --sign-key together"},
		{"absolute linux path in config", func(p *MSIPackage) {
			os.WriteFile(p.Config, []byte(`{"collector_url":"https://c.example","collector_fingerprint":"`+strings.Repeat("ab", 32)+
				`","enroll_secret_file":"/etc/anchorwatch/enroll-secret","policy_signer_file":"policy-signer.pem"}`), 0o644)
		}, `C:\ProgramData\Anchorwatch\enroll-secret`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A PE file is all the checks before wixl look at: a tiny one
			// built from the test's own bytes would not do, so take the
			// Go toolchain's: any amd64 Windows executable.
			p := msiInputs(t, windowsStub(t), "1.4.0")
			tc.edit(&p)
			_, data, err := BuildMSI(context.Background(), p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if data != nil {
				t.Error("an MSI came back from a refused build")
			}
		})
	}
}

// windowsStub builds a minimal Windows amd64 executable (a Go program
// that exits), once per test.
func windowsStub(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "stub.exe")
	cmd := goCmd(dir, "build", "-o", exe, src)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build a Windows stub: %v\n%s", err, out)
	}
	return exe
}

// codeSigner is a CA and a code-signing leaf it issued (key in a PEM
// file), for osslsigncode.
func codeSigner(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	ca := testpki.NewCA(t, "Anchorwatch Test Code Signing CA")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "Anchorwatch Test Code Signer", Organization: []string{testpki.Org}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = testpki.WritePEM(t, filepath.Join(dir, "codesign-ca.pem"), ca.Cert)
	certFile = filepath.Join(dir, "codesign.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "codesign.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, certFile, keyFile
}

// TestMSISigned: with --sign-cert/--sign-key the MSI and the
// anchorwatch.exe inside it carry Authenticode signatures that
// osslsigncode verifies against the signer's CA; the MSI changed after
// signing (one property, with msibuild), or checked against another CA,
// fails verification.
func TestMSISigned(t *testing.T) {
	needTool(t, "wixl", "wixl")
	oss := needTool(t, "osslsigncode", "osslsigncode")
	needTool(t, "msibuild", "msitools")
	dir := t.TempDir()
	caFile, certFile, keyFile := codeSigner(t, dir)
	p := msiInputs(t, goBuild(t, "windows", "1.4.0", t.TempDir()), "1.4.0")
	p.SignCert, p.SignKey = certFile, keyFile
	msi := buildMSI(t, p, dir)
	if out, err := runErr(oss, "verify", "-CAfile", caFile, "-in", msi); err != nil || !strings.Contains(string(out), "Signature verification: ok") {
		t.Fatalf("osslsigncode verify of the signed MSI: %v\n%s", err, out)
	}
	out := t.TempDir()
	run(t, "msiextract", "-C", out, msi)
	exe := filepath.Join(out, "Anchorwatch", "anchorwatch.exe") // msiextract drops the Program Files root
	if o, err := runErr(oss, "verify", "-CAfile", caFile, "-in", exe); err != nil || !strings.Contains(string(o), "Signature verification: ok") {
		t.Errorf("osslsigncode verify of anchorwatch.exe inside the MSI: %v\n%s", err, o)
	}
	otherCA, _, _ := codeSigner(t, t.TempDir())
	if o, err := runErr(oss, "verify", "-CAfile", otherCA, "-in", msi); err == nil {
		t.Errorf("osslsigncode accepted the MSI against another CA:\n%s", o)
	}
	tampered := filepath.Join(dir, "tampered.msi")
	if err := copyFile(msi, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "msibuild", tampered, "-q", "UPDATE `Property` SET `Value` = '0' WHERE `Property` = 'START_AGENT'")
	if o, err := runErr(oss, "verify", "-CAfile", caFile, "-in", tampered); err == nil || !strings.Contains(string(o), "MISMATCH") {
		t.Errorf("osslsigncode accepted the MSI changed after signing (err %v):\n%s", err, o)
	}
}
