//go:build linux

package installers

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/windows/winebed"
)

const servicesKey = `HKLM\System\CurrentControlSet\Services\anchorwatch-agent`

// TestMSIUnderWine installs the MSI with Wine's msiexec (/qn, as GPO,
// Intune and SCCM run it) and checks the result with Wine's own tools:
// the files, the service registered in the registry, agent.json written
// from the public properties, the enroll secret copied from
// ENROLL_SECRET_FILE (and absent from the installer log). An upgrade to
// N+1 leaves one service and one registered product; /x removes the
// files, the service, the product and what the configure custom action
// wrote, state included. A secret given as a property, and an unreadable
// secret file, fail the install and leave nothing behind.
//
// What Wine 8 cannot show, and how it is covered instead:
//   - the service start: Wine's service manager starts anchorwatch.exe
//     but `net start` times out ("Service request timeout"), so
//     START_AGENT=0 registers the service without starting it, and
//     agent/winetest runs the installed agent in the foreground;
//   - the ACL of ProgramData\Anchorwatch: Wine's SetNamedSecurityInfo
//     returns success and changes nothing (GetNamedSecurityInfo reads
//     back Wine's default), so the DACL is checked by TestConfigDirACL in
//     cmd/anchorwatch, run under Wine by agent/winetest;
//   - settings kept across an upgrade without passing them again: Wine's
//     RemoveExistingProducts removes the old product with REMOVE=ALL but
//     without UPGRADINGPRODUCTCODE (WINEDEBUG=+msi shows it), so the old
//     product's purge runs as on a real uninstall; the upgrade here
//     passes the properties again, and the keeping is tested on Linux
//     (TestAgentConfigureKeepsSettings in cmd/anchorwatch);
//   - the service path's quotes: Wine writes ImagePath unquoted.
func TestMSIUnderWine(t *testing.T) {
	needTool(t, "wixl", "wixl")
	ctx := context.Background()
	bed, err := winebed.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Error(err)
		}
	})
	bins, pkgs := t.TempDir(), t.TempDir()
	p := msiInputs(t, goBuild(t, "windows", "1.4.0", filepath.Join(bins, "v1")), "1.4.0")
	msi1 := buildMSI(t, p, pkgs)
	p.Binary, p.Version = goBuild(t, "windows", "1.5.0", filepath.Join(bins, "v2")), "1.5.0"
	msi2 := buildMSI(t, p, pkgs)
	secret := filepath.Join(t.TempDir(), "enroll-secret")
	if err := os.WriteFile(secret, []byte("awe_property_secret_0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	progDir := filepath.Join(bed.DriveC(), "Program Files", "Anchorwatch")
	dataDir := filepath.Join(bed.DriveC(), "ProgramData", "Anchorwatch")
	msiexec := func(args ...string) error {
		_, err := bed.Run(ctx, append([]string{"msiexec"}, args...)...)
		return err
	}

	// Refused installs leave nothing.
	for _, bad := range [][]string{
		{"ENROLL_SECRET=awe_on_the_command_line"},
		{"ENROLL_SECRET_FILE=" + winebed.WinPath(secret+".missing")},
	} {
		if err := msiexec(append([]string{"/i", winebed.WinPath(msi1), "/qn"}, bad...)...); err == nil {
			t.Errorf("msiexec /i with %s succeeded", bad)
		}
		if _, err := os.Stat(filepath.Join(progDir, "anchorwatch.exe")); err == nil {
			t.Errorf("after the refused install with %s, anchorwatch.exe is installed", bad)
		}
		if _, ok := bed.RegString(ctx, servicesKey, "ImagePath"); ok {
			t.Errorf("after the refused install with %s, the service is registered", bad)
		}
	}

	fp := strings.Repeat("cd", 32)
	if err := msiexec("/i", winebed.WinPath(msi1), "/qn", `/l*v`, `C:\install.log`, "START_AGENT=0",
		"COLLECTOR_URL=https://collector.test:9443", "COLLECTOR_FINGERPRINT="+fp, "ENROLL_SECRET_FILE="+winebed.WinPath(secret)); err != nil {
		log, _ := os.ReadFile(filepath.Join(bed.DriveC(), "install.log"))
		t.Fatalf("msiexec /i: %v\n%s", err, tail(log, 3000))
	}
	checkMSIInstall(t, bed, "1.4.0", fp)
	if log, _ := os.ReadFile(filepath.Join(bed.DriveC(), "install.log")); strings.Contains(string(log), "awe_property_secret") {
		t.Error("the installer log holds the enroll secret")
	}
	if got, _ := os.ReadFile(filepath.Join(dataDir, MSIPropertySecretName)); string(got) != "awe_property_secret_0123456789\n" {
		t.Errorf("%s: %q, want the secret file's content", MSIPropertySecretName, got)
	}
	// The upgrade passes the properties again: under Wine it must (see
	// the test's comment); on Windows they are kept without.
	state := filepath.Join(dataDir, "agent")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(state, "node-key"), []byte("awn_x"), 0o600)
	if err := msiexec("/i", winebed.WinPath(msi2), "/qn", "START_AGENT=0",
		"COLLECTOR_URL=https://collector.test:9443", "COLLECTOR_FINGERPRINT="+fp, "ENROLL_SECRET_FILE="+winebed.WinPath(secret)); err != nil {
		t.Fatalf("msiexec /i (upgrade to 1.5.0): %v", err)
	}
	checkMSIInstall(t, bed, "1.5.0", fp)
	uninstallKey := `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\`
	if _, ok := bed.RegString(ctx, uninstallKey+productCode("1.4.0"), "DisplayVersion"); ok {
		t.Error("after the upgrade, 1.4.0 is still registered as installed")
	}
	if v, ok := bed.RegString(ctx, uninstallKey+productCode("1.5.0"), "DisplayVersion"); !ok || v != "1.5.0" {
		t.Errorf("after the upgrade, 1.5.0's DisplayVersion is %q (%v)", v, ok)
	}
	out, _ := bed.Run(ctx, "reg", "query", `HKLM\System\CurrentControlSet\Services`)
	if n := strings.Count(strings.ToLower(out), `\anchorwatch`); n != 1 {
		t.Errorf("after the upgrade %d services named anchorwatch*, want 1:\n%s", n, out)
	}

	if err := msiexec("/x", winebed.WinPath(msi2), "/qn"); err != nil {
		t.Fatalf("msiexec /x: %v", err)
	}
	for _, p := range []string{filepath.Join(progDir, "anchorwatch.exe"), dataDir} {
		if _, err := os.Stat(p); err == nil {
			entries, _ := os.ReadDir(p)
			t.Errorf("%s is still there after /x (%d entries)", p, len(entries))
		}
	}
	if _, ok := bed.RegString(ctx, servicesKey, "ImagePath"); ok {
		t.Error("the service is still registered after /x")
	}
	if _, ok := bed.RegString(ctx, uninstallKey+productCode("1.5.0"), "DisplayVersion"); ok {
		t.Error("the product is still registered after /x")
	}
}

// checkMSIInstall checks an installed version: the binary, the service
// registration, and agent.json from the package's config and the
// install-time properties.
func checkMSIInstall(t *testing.T, bed *winebed.Bed, version, fp string) {
	t.Helper()
	ctx := context.Background()
	exe := `C:\Program Files\Anchorwatch\anchorwatch.exe`
	if out, err := bed.Run(ctx, exe, "--version"); err != nil || !strings.Contains(out, version) {
		t.Errorf("%s --version: %q (%v), want %s", exe, out, err, version)
	}
	// Wine writes the program path unquoted (see the test's comment).
	img, _ := bed.RegString(ctx, servicesKey, "ImagePath")
	args := ` "agent" "run" "--config" "C:\ProgramData\Anchorwatch\agent.json"`
	if img != `"`+exe+`"`+args && img != exe+args {
		t.Errorf("service ImagePath %q, want %s followed by%s", img, exe, args)
	}
	if out, _ := bed.Run(ctx, "reg", "query", servicesKey, "/v", "Start"); !strings.Contains(out, "0x2") {
		t.Errorf("service start type (want 2, automatic):\n%s", out)
	}
	data, err := os.ReadFile(filepath.Join(bed.DriveC(), "ProgramData", "Anchorwatch", ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"collector_url":         "https://collector.test:9443",
		"collector_fingerprint": fp,
		"enroll_secret_file":    `C:\ProgramData\Anchorwatch\` + MSIPropertySecretName,
		"policy_signer_file":    SignerName,
	} {
		if cfg[k] != v {
			t.Errorf("agent.json %s = %v, want %v\n%s", k, cfg[k], v, data)
		}
	}
	if s, _ := cfg["stores"].([]any); len(s) != 2 {
		t.Errorf("agent.json lost the package config's stores: %s", data)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
