//go:build linux

package winetest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/installers"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
	winstore "github.com/anchorwatch/anchorwatch/stores/windows"
	"github.com/anchorwatch/anchorwatch/stores/windows/winebed"
)

// temurinCacerts is a JDK >= 18 cacerts (password-less PKCS12) on this
// machine, copied into the prefix as a JDK under Program Files.
const temurinCacerts = "/usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts"

// TestWineMSIAgentEndToEnd: the MSI installs with Wine's msiexec (the
// collector's URL and the enroll secret file as public properties); the
// installed agent, run in the foreground from the configured
// C:\ProgramData\Anchorwatch\agent.json (Wine's service manager starts
// the service's process but times out waiting for it: "Service request
// timeout"), enrolls with a real collector, puts the policy's root into
// LocalMachine ROOT and into a JDK's cacerts under C:\Program Files, and
// puts both back after they are removed (reg delete; keytool -delete).
// The agent runs from a Linux directory (Z:\...): its default root must
// be C:\, not the current drive, which would be the Linux host itself.
func TestWineMSIAgentEndToEnd(t *testing.T) {
	keytool := "/usr/lib/jvm/temurin-25-jdk-amd64/bin/keytool"
	for _, f := range []string{keytool, temurinCacerts} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s: %v (Temurin 25 JDK)", f, err)
		}
	}
	for _, tool := range []string{"wixl", "msibuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install the Debian packages wixl and msitools", tool)
		}
	}
	ctx := context.Background()
	bed := newBed(t)
	exe, err := bed.Build(ctx, "./cmd/anchorwatch", "anchorwatch.exe")
	if err != nil {
		t.Fatal(err)
	}

	signer, signerKey := newCert(t, "Anchorwatch MSI e2e policy signer", false)
	ca, _ := newCert(t, "Anchorwatch MSI e2e Root", true)
	fp := stores.SHA256(ca)
	coll := servertest.StartCollector(t, servertest.Options{})
	putPolicy(t, coll, signer, signerKey, ca, "windows", "java")

	// A JDK under Program Files, with Temurin 25's own cacerts.
	jdk := filepath.Join(bed.DriveC(), "Program Files", "Eclipse Adoptium", "jdk-25.0.1-hotspot", "lib", "security")
	if err := os.MkdirAll(jdk, 0o755); err != nil {
		t.Fatal(err)
	}
	cacerts := filepath.Join(jdk, "cacerts")
	if err := copyFile(temurinCacerts, cacerts); err != nil {
		t.Fatal(err)
	}
	javaID := "java:/Program Files/Eclipse Adoptium/jdk-25.0.1-hotspot/lib/security/cacerts"

	msi := buildAgentMSI(t, exe, signer, coll)
	secret := filepath.Join(t.TempDir(), "enroll-secret")
	if err := os.WriteFile(secret, []byte(coll.EnrollSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bed.Run(ctx, "msiexec", "/i", winebed.WinPath(msi), "/qn", "START_AGENT=0",
		"COLLECTOR_URL="+coll.URL, "ENROLL_SECRET_FILE="+winebed.WinPath(secret)); err != nil {
		t.Fatalf("msiexec /i: %v", err)
	}
	installed := `C:\Program Files\Anchorwatch\anchorwatch.exe`
	config := `C:\ProgramData\Anchorwatch\agent.json`

	// Read-only first: from a Linux working directory the stores found
	// are the prefix's, under C:\ (were the root the current drive, the
	// agent would go on to write the Linux host's keystores).
	work := t.TempDir()
	checkDefaultRoot(t, bed, installed, work, javaID)

	ag := startInstalledAgent(t, bed, installed, config, work)
	rootID := winstore.ID(winstore.StoreRoot)
	waitCompliant(t, coll, rootID)
	host := waitCompliant(t, coll, javaID)
	t.Logf("host %d (%s) enrolled through the MSI's config; %s and %s compliant", host.ID, host.Hostname, rootID, javaID)
	if !strings.Contains(ag.log(), `root=C:\`) {
		t.Errorf("the agent did not start with root C:\\:\n%s", ag.log())
	}
	regKey := winebed.MachineKey(winstore.StoreRoot, stores.SHA1(ca))
	alias := "anchorwatch-" + fp[:16]
	checkBothHold(t, bed, keytool, cacerts, regKey, alias, "after the first reconcile")

	// Remove it from both, with Windows' reg.exe and the JDK's keytool.
	if _, err := bed.Run(ctx, "reg", "delete", regKey, "/f"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(keytool, "-delete", "-keystore", cacerts, "-storepass", "changeit", "-noprompt", "-alias", alias).CombinedOutput(); err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, out)
	}
	waitHealEvents(t, coll, host.ID, rootID, fp, 1)
	waitHealEvents(t, coll, host.ID, javaID, fp, 1)
	deadline := time.Now().Add(60 * time.Second)
	for !holdsBoth(bed, keytool, cacerts, regKey, alias) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	checkBothHold(t, bed, keytool, cacerts, regKey, alias, "after removal")
}

// buildAgentMSI builds the MSI around exe: the package's config pins the
// collector's CA (packaged) and the policy signer; the collector's URL and
// the enroll secret come as properties at install.
func buildAgentMSI(t *testing.T, exe string, signer *x509.Certificate, coll *servertest.Collector) string {
	t.Helper()
	dir := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{
		"collector_url":      "https://placeholder.invalid:1",
		"collector_ca_file":  installers.CollectorCAName,
		"enroll_secret_file": installers.EnrollSecretName,
		"policy_signer_file": installers.SignerName,
		"stores":             []string{"windows", "java"},
		"log_level":          "debug",
	})
	files := installers.AgentFiles{Binary: exe, Config: filepath.Join(dir, "agent.json"),
		Signer: filepath.Join(dir, "policy-signer.pem"), CollectorCA: coll.CertFile}
	if err := os.WriteFile(files.Config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.Signer, []byte(pemOf(signer)), 0o644); err != nil {
		t.Fatal(err)
	}
	name, data, err := installers.BuildMSI(context.Background(), installers.MSIPackage{AgentFiles: files, Version: "1.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	msi := filepath.Join(dir, name)
	if err := os.WriteFile(msi, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return msi
}

func checkDefaultRoot(t *testing.T, bed *winebed.Bed, exe, work, javaID string) {
	t.Helper()
	cmd := bed.Command(context.Background(), exe, "stores", "--json", "--stores", "java")
	cmd.Dir = work
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("anchorwatch.exe stores: %v\n%s", err, out)
	}
	var got struct {
		Root   string `json:"root"`
		Stores []struct {
			ID string `json:"id"`
		} `json:"stores"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("stores --json: %v\n%s", err, out)
	}
	if got.Root != `C:\` || len(got.Stores) != 1 || got.Stores[0].ID != javaID {
		t.Fatalf("from %s (Z:) the default root is %q with stores %+v; want C:\\ and only %s", work, got.Root, got.Stores, javaID)
	}
}

// startInstalledAgent runs the installed agent in the foreground, from
// work, until the test ends.
func startInstalledAgent(t *testing.T, bed *winebed.Bed, exe, config, work string) *agentProc {
	t.Helper()
	return startAgentIn(t, bed, work, exe, "agent", "run", "--config", config)
}

// holdsBoth reports whether ROOT has the certificate's registry key and
// the keystore its alias.
func holdsBoth(bed *winebed.Bed, keytool, cacerts, regKey, alias string) bool {
	_, inRoot, _ := bed.RegBlob(context.Background(), regKey)
	out, err := exec.Command(keytool, "-list", "-keystore", cacerts, "-storepass", "changeit", "-alias", alias).CombinedOutput()
	return inRoot && err == nil && strings.Contains(string(out), "trustedCertEntry")
}

func checkBothHold(t *testing.T, bed *winebed.Bed, keytool, cacerts, regKey, alias, when string) {
	t.Helper()
	_, inRoot, err := bed.RegBlob(context.Background(), regKey)
	if err != nil {
		t.Fatal(err)
	}
	out, kerr := exec.Command(keytool, "-list", "-keystore", cacerts, "-storepass", "changeit", "-alias", alias).CombinedOutput()
	if !inRoot || kerr != nil || !strings.Contains(string(out), "trustedCertEntry") {
		t.Fatalf("%s: LocalMachine ROOT holds it: %v; keytool -list -alias %s: %v\n%s", when, inRoot, alias, kerr, out)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// TestWindowsTestsUnderWine runs the Windows-only tests of
// cmd/anchorwatch (built with GOOS=windows go test -c) under Wine:
// TestConfigDirACL checks, with Windows' own SDDL converter, the DACL the
// MSI's configure step gives C:\ProgramData\Anchorwatch.
func TestWindowsTestsUnderWine(t *testing.T) {
	ctx := context.Background()
	bed := newBed(t)
	exe, err := bed.BuildTest(ctx, "./cmd/anchorwatch", "cmd-anchorwatch.test.exe")
	if err != nil {
		t.Fatal(err)
	}
	out, err := bed.Run(ctx, exe, "-test.run", "^TestConfigDirACL$", "-test.v")
	if err != nil || !strings.Contains(out, "--- PASS: TestConfigDirACL") {
		t.Fatalf("TestConfigDirACL under Wine: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
}
