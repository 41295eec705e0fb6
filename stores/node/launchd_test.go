package node

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestLaunchAgentPlist: the LaunchAgent we write is read by plistutil
// (libplist, the format launchd reads) with the arguments we mean, and we
// read plistutil's own rendering back. No macOS runs here: launchd
// itself and the login that runs the agent are not exercised.
func TestLaunchAgentPlist(t *testing.T) {
	args := []string{"/bin/launchctl", "setenv", Variable, "/Library/Application Support/Anchorwatch/a&b<c>.pem"}
	data := LaunchAgent(launchAgentLabel, args)
	dir := t.TempDir()
	in := filepath.Join(dir, "a.plist")
	os.WriteFile(in, data, 0o644)
	bin := filepath.Join(dir, "a.bin")
	if out, err := exec.Command("plistutil", "-i", in, "-o", bin, "-f", "bin").CombinedOutput(); err != nil {
		t.Fatalf("plistutil rejects our plist: %v\n%s", err, out)
	}
	out, err := exec.Command("plistutil", "-i", bin, "-f", "xml", "-o", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLaunchAgent(out)
	if err != nil || strings.Join(got, "\x00") != strings.Join(args, "\x00") {
		t.Fatalf("round trip through plistutil: %q %v", got, err)
	}
	if !strings.Contains(string(out), "<key>RunAtLoad</key>") || !strings.Contains(string(out), launchAgentLabel) {
		t.Errorf("plistutil's rendering lacks RunAtLoad or the label:\n%s", out)
	}
}

// TestLaunchAgentStore runs the store against a macOS-shaped root.
func TestLaunchAgentStore(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"System/Library/CoreServices", "Library/LaunchAgents", "Library/Application Support", "usr/local/bin"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "System/Library/CoreServices/SystemVersion.plist"), []byte("<plist/>"), 0o644)
	os.WriteFile(filepath.Join(root, "usr/local/bin/node"), nil, 0o755)
	ss, err := Discover(context.Background(), stores.Env{Root: root})
	if err != nil || len(ss) != 1 || ss[0].Info().ID != "node:"+LaunchAgentPlist {
		t.Fatalf("discover: %v %v", ss, err)
	}
	s := ss[0]
	ca := testpki.NewCA(t, "Corp Interception CA")
	ctx := context.Background()
	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusCompliant {
		t.Errorf("audit: %s %s", r.Status, r.Detail)
	}
	if out, err := exec.Command("plistutil", "-i", filepath.Join(root, LaunchAgentPlist), "-f", "xml", "-o", "-").CombinedOutput(); err != nil || !strings.Contains(string(out), MacOSBundle) {
		t.Errorf("plistutil reading the installed agent: %v\n%s", err, out)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{LaunchAgentPlist, MacOSBundle} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s left after remove: %v", p, err)
		}
	}
}

func FuzzParseLaunchAgent(f *testing.F) {
	f.Add(LaunchAgent("x", []string{"/bin/launchctl", "setenv", "A", "b"}))
	f.Add([]byte("<plist><dict><key>ProgramArguments</key><array><string>a</string></array></dict></plist>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseLaunchAgent(data)
	})
}
