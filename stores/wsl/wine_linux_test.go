package wsl_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/windows/winebed"
)

const envKey = `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment`

type auditJSON struct {
	Stores []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"stores"`
}

// TestWindowsBuildUnderWine runs the real Windows build of anchorwatch
// under Wine (winebed) for the two Windows-only application adapters:
//
//   - node: install sets NODE_EXTRA_CA_CERTS in the machine environment
//     (read back with Wine's own `reg query`) naming
//     C:\ProgramData\Anchorwatch\extra-ca-certs.pem, which holds the CA;
//     remove deletes both. No Node runs under Wine here: that node
//     reads the variable is Node's documented behaviour, proven on Linux.
//   - wsl: a WSL 1 distribution registered under HKCU\…\Lxss, whose
//     rootfs is a Debian-shaped tree, is a store audited through its
//     rootfs; install says to run it inside the distribution. WSL itself
//     (and WSL 2's \\wsl.localhost share) does not exist under Wine.
func TestWindowsBuildUnderWine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := winebed.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	exe, err := b.Build(ctx, "./cmd/anchorwatch", "anchorwatch.exe")
	if err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "Corp Interception CA")
	dir := t.TempDir()
	caFile := testpki.WritePEM(t, filepath.Join(dir, "ca.pem"), ca.Cert)
	node := filepath.Join(b.DriveC(), "Program Files/nodejs/node.exe")
	os.MkdirAll(filepath.Dir(node), 0o755)
	os.WriteFile(node, []byte("MZ"), 0o755)

	audit := func(kind string) auditJSON {
		t.Helper()
		out, _ := b.Run(ctx, exe, "audit", "--ca", winebed.WinPath(caFile), "--stores", kind, "--json")
		var a auditJSON
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatalf("audit --stores %s: %v\n%s", kind, err, out)
		}
		return a
	}
	a := audit("node")
	if len(a.Stores) != 1 || a.Stores[0].ID != `node:`+`HKLM\`+strings.TrimPrefix(envKey, `HKLM\`) || a.Stores[0].Status != "missing" {
		t.Fatalf("audit before install: %+v", a)
	}
	if out, err := b.Run(ctx, exe, "install", "--ca", winebed.WinPath(caFile), "--stores", "node"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	v, ok := b.RegString(ctx, envKey, "NODE_EXTRA_CA_CERTS")
	if !ok || !strings.EqualFold(v, `C:\ProgramData\Anchorwatch\extra-ca-certs.pem`) {
		t.Fatalf("NODE_EXTRA_CA_CERTS after install: %q %v", v, ok)
	}
	bundle, err := os.ReadFile(filepath.Join(b.DriveC(), "ProgramData/Anchorwatch/extra-ca-certs.pem"))
	if err != nil || !strings.Contains(string(bundle), strings.TrimSpace(string(testpki.PEM(ca.Cert)))) {
		t.Fatalf("the bundle: %v\n%s", err, bundle)
	}
	if a := audit("node"); a.Stores[0].Status != "compliant" {
		t.Errorf("audit after install: %+v", a)
	}
	if out, err := b.Run(ctx, exe, "remove", "--ca", winebed.WinPath(caFile), "--stores", "node"); err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if v, ok := b.RegString(ctx, envKey, "NODE_EXTRA_CA_CERTS"); ok {
		t.Errorf("NODE_EXTRA_CA_CERTS left after remove: %q", v)
	}
	if _, err := os.Stat(filepath.Join(b.DriveC(), "ProgramData/Anchorwatch/extra-ca-certs.pem")); !os.IsNotExist(err) {
		t.Errorf("the bundle left after remove: %v", err)
	}

	distro := filepath.Join(dir, "Debian")
	writeFile(t, filepath.Join(distro, "rootfs/etc/os-release"), []byte("ID=debian\n"))
	writeFile(t, filepath.Join(distro, "rootfs/etc/ssl/certs/ca-certificates.crt"), testpki.PEM(testpki.NewCA(t, "Public Root").Cert))
	key := `HKCU\Software\Microsoft\Windows\CurrentVersion\Lxss\{12345678-1234-1234-1234-123456789abc}`
	for _, kv := range [][]string{{"DistributionName", "REG_SZ", "Debian"}, {"BasePath", "REG_SZ", winebed.WinPath(distro)}, {"Version", "REG_DWORD", "1"}} {
		if out, err := b.Run(ctx, "reg", "add", key, "/v", kv[0], "/t", kv[1], "/d", kv[2], "/f"); err != nil {
			t.Fatalf("reg add: %v\n%s", err, out)
		}
	}
	a = audit("wsl")
	if len(a.Stores) != 1 || a.Stores[0].ID != "wsl:Debian" || a.Stores[0].Status != "missing" {
		t.Fatalf("wsl audit: %+v", a)
	}
	writeFile(t, filepath.Join(distro, "rootfs/etc/ssl/certs/ca-certificates.crt"), testpki.PEM(ca.Cert))
	if a := audit("wsl"); a.Stores[0].Status != "compliant" {
		t.Errorf("wsl audit with the CA in the distribution's bundle: %+v", a)
	}
	out, err := b.Run(ctx, exe, "install", "--ca", winebed.WinPath(caFile), "--stores", "wsl")
	if err == nil || !strings.Contains(err.Error()+out, "wsl -d Debian -u root") {
		t.Errorf("wsl install: %v\n%s", err, out)
	}
	_ = stores.KindWSL
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
