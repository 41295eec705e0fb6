//go:build linux

package system_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// fakeDir holds the stand-in tool built for this test binary; TestMain
// removes it.
var fakeDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "anchorwatch-fakerefresh-") })

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := fakeDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// fakeRefresh builds testdata/fakerefresh (statically, so it runs inside
// a chroot with nothing else in it) once per test binary.
var fakeRefresh = sync.OnceValues(func() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	dir, err := fakeDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fakerefresh")
	cmd := exec.Command(goTool, "build", "-o", bin, "./testdata/fakerefresh")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return bin, nil
})

// otherRoot builds a root of a family that cannot run its real tool here:
// os-release from testdata, one vendor CA in the family's own set, and —
// when withTool — the fake refresh tool under the family's tool name,
// run once to build the bundle.
func otherRoot(t *testing.T, osRelease string, withTool bool) (root string, s *system.Store, vendor *x509.Certificate) {
	t.Helper()
	root = t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "os-release", osRelease))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "usr/lib/os-release"), data)
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil && !os.IsExist(err) {
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
			t.Fatal(err)
		}
	}
	s, err = system.Open(stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	fam := s.Family()
	vendor, _ = systemtest.CA(t, "Vendor Root "+fam.Name)
	if fam.P11Kit {
		writeFile(t, filepath.Join(root, fam.VendorDir, "anchors", "vendor.pem"), systemtest.PEM(vendor))
	} else {
		writeFile(t, filepath.Join(root, fam.CertsDir, fam.VendorDir, "vendor.crt"), systemtest.PEM(vendor))
		writeFile(t, filepath.Join(root, fam.CertsConf), []byte("# selection\n"+fam.VendorDir+"/vendor.crt\n"))
	}
	if err := os.MkdirAll(filepath.Join(root, fam.AnchorsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if withTool {
		bin, err := fakeRefresh()
		if err != nil {
			t.Fatalf("build testdata/fakerefresh: %v", err)
		}
		prog, _ := os.ReadFile(bin)
		for _, cmd := range fam.Refresh {
			writeFile(t, filepath.Join(root, "usr/bin", cmd[0]), prog)
			if err := os.Chmod(filepath.Join(root, "usr/bin", cmd[0]), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		runChroot(t, root, "/usr/bin/"+fam.Refresh[0][0])
	}
	return root, s, vendor
}

func runChroot(t *testing.T, root, prog string) {
	t.Helper()
	if out, err := exec.Command("chroot", root, prog).CombinedOutput(); err != nil {
		t.Fatalf("chroot %s %s: %v\n%s", root, prog, err, out)
	}
}

// Every family whose tool cannot run here, through the chroot path with a
// stand-in tool: the anchor lands in the family's directory, the bundle we
// audit is the one the tool wrote, and OpenSSL accepts a leaf against it.
func TestFamiliesInstallThroughChroot(t *testing.T) {
	for _, tt := range []struct {
		osRelease, family, anchor, bundle string
	}{
		{"rhel-9.4", "rhel", "/etc/pki/ca-trust/source/anchors", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"},
		{"opensuse-leap-15.6", "suse", "/etc/pki/trust/anchors", "/var/lib/ca-certificates/ca-bundle.pem"},
		{"arch", "arch", "/etc/ca-certificates/trust-source/anchors", "/etc/ca-certificates/extracted/tls-ca-bundle.pem"},
		{"alpine-3.20", "alpine", "/usr/local/share/ca-certificates", "/etc/ssl/certs/ca-certificates.crt"},
	} {
		t.Run(tt.family, func(t *testing.T) {
			ctx := context.Background()
			root, s, vendor := otherRoot(t, tt.osRelease, true)
			info := s.Info()
			if info.Format != tt.family || info.Path != tt.bundle || !info.Writable || info.Note != "" {
				t.Fatalf("Info = %+v", info)
			}
			anchors, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(anchors) != 1 || !anchors[0].Vendor || !anchors[0].TrustedServerAuth || anchors[0].SHA256 != stores.SHA256(vendor) {
				t.Fatalf("List = %+v", anchors)
			}
			ca, key := systemtest.CA(t, "Interception CA "+tt.family)
			changes, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 || changes[0].Action != stores.ActionAdded {
				t.Fatalf("changes %+v", changes)
			}
			// p11-kit families get an OpenSSL TRUSTED CERTIFICATE trusted
			// for TLS server auth only; Alpine's bundle cannot restrict.
			wantFile := systemtest.PEM(ca)
			if tt.family != "alpine" {
				wantFile = trustedPEM(t, ca)
			}
			if got, err := os.ReadFile(filepath.Join(root, tt.anchor, stores.Label(ca)+".crt")); err != nil || !bytes.Equal(got, wantFile) {
				t.Fatalf("anchor file in %s: %v\n%s", tt.anchor, err, got)
			}
			if err := systemtest.Verify(filepath.Join(root, tt.bundle), systemtest.Leaf(t, ca, key, "x.example")); err != nil {
				t.Fatal(err)
			}
			if r := stores.Audit(ctx, s, []*x509.Certificate{ca, vendor}); r.Status != stores.StatusCompliant {
				t.Fatalf("%s %s", r.Status, r.Detail)
			}
			if _, err := s.Remove(ctx, []string{stores.SHA256(ca)}, stores.Options{}); err != nil {
				t.Fatal(err)
			}
			if r := stores.Audit(ctx, s, []*x509.Certificate{ca}); r.Status != stores.StatusMissing {
				t.Fatalf("after remove: %s %s", r.Status, r.Detail)
			}
		})
	}
}

// Without the tool in the root, a foreign family cannot be refreshed: the
// store says so, Install fails naming what to run, and nothing changes.
func TestMissingToolIsAClearError(t *testing.T) {
	ctx := context.Background()
	root, s, _ := otherRoot(t, "rhel-9.4", false)
	anchors := filepath.Join(root, "/etc/pki/ca-trust/source/anchors")
	before := dirState(t, root)
	info := s.Info()
	if info.Writable || !strings.Contains(info.Note, "update-ca-trust extract") {
		t.Fatalf("Info = %+v", info)
	}
	ca, _ := systemtest.CA(t, "Some CA")
	_, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{})
	if err == nil || !strings.Contains(err.Error(), "update-ca-trust extract is not installed in that root") || !strings.Contains(err.Error(), "chroot "+root) {
		t.Fatalf("Install: %v", err)
	}
	// A dry run still says what would happen, and writes nothing.
	changes, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{DryRun: true})
	if err != nil || len(changes) != 1 || changes[0].Action != stores.ActionAdded {
		t.Fatalf("dry run: %+v %v", changes, err)
	}
	if after := dirState(t, root); after != before {
		t.Fatalf("root changed:\n%s\n->\n%s", before, after)
	}
	// No bundle yet: audit is an error that says how to build it.
	if r := stores.Audit(ctx, s, []*x509.Certificate{ca}); r.Status != stores.StatusError || !strings.Contains(r.Detail, "run update-ca-trust extract") {
		t.Fatalf("audit: %s %s", r.Status, r.Detail)
	}
	if _, err := os.Stat(anchors); err != nil {
		t.Fatal(err) // made by otherRoot; Install must not have removed it either
	}
}

// RHEL blocklists, built by hand: a blocklisted anchor is untrusted with
// the file named; Install refuses to override the administrator; Remove of
// a vendor CA blocklists it with a file of ours, which a later Install
// takes back.
func TestRHELBlocklist(t *testing.T) {
	ctx := context.Background()
	root, s, vendor := otherRoot(t, "rhel-9.4", true)
	evil, _ := systemtest.CA(t, "Blocklisted CA")
	old, _ := systemtest.CA(t, "Old Spelling CA")
	writeFile(t, filepath.Join(root, "etc/pki/ca-trust/source/anchors/evil.pem"), systemtest.PEM(evil))
	writeFile(t, filepath.Join(root, "etc/pki/ca-trust/source/anchors/old.der"), old.Raw)
	runChroot(t, root, "/usr/bin/update-ca-trust")
	// An administrator's plain anchor trusts the CA for every purpose.
	if r := stores.Audit(ctx, s, []*x509.Certificate{evil, old}); r.Status != stores.StatusOvertrusted {
		t.Fatalf("before blocklisting: %s %s", r.Status, r.Detail)
	}
	writeFile(t, filepath.Join(root, "etc/pki/ca-trust/source/blocklist/evil.pem"), systemtest.PEM(evil))
	writeFile(t, filepath.Join(root, "usr/share/pki/ca-trust-source/blacklist/old.pem"), systemtest.PEM(old))

	// Not refreshed yet: the bundle still holds them, but they are
	// reported untrusted since the next refresh drops them.
	r := stores.Audit(ctx, s, []*x509.Certificate{evil})
	if r.Status != stores.StatusUntrusted || !strings.Contains(r.Detail, "blocklisted in /etc/pki/ca-trust/source/blocklist/evil.pem but the bundle still holds it") {
		t.Fatalf("stale bundle: %s %s", r.Status, r.Detail)
	}
	runChroot(t, root, "/usr/bin/update-ca-trust")
	for _, tt := range []struct {
		ca   *x509.Certificate
		want string
	}{
		{evil, "in the RHEL blocklist (/etc/pki/ca-trust/source/blocklist/evil.pem)"},
		{old, "in the RHEL blocklist (/usr/share/pki/ca-trust-source/blacklist/old.pem)"},
	} {
		if r := stores.Audit(ctx, s, []*x509.Certificate{tt.ca}); r.Status != stores.StatusUntrusted || !strings.Contains(r.Detail, tt.want) {
			t.Errorf("%s: %s %q, want %q", tt.ca.Subject.CommonName, r.Status, r.Detail, tt.want)
		}
	}
	before := dirState(t, root)
	_, err := s.Install(ctx, []*x509.Certificate{evil}, stores.Options{})
	if err == nil || !strings.Contains(err.Error(), "blocklist /etc/pki/ca-trust/source/blocklist/evil.pem") {
		t.Fatalf("Install of a blocklisted CA: %v", err)
	}
	if after := dirState(t, root); after != before {
		t.Fatal("a refused Install changed the root")
	}

	// Remove a vendor CA: it goes to the blocklist under our name.
	changes, err := s.Remove(ctx, []string{stores.SHA256(vendor)}, stores.Options{})
	if err != nil || len(changes) != 1 || changes[0].Action != stores.ActionRemoved {
		t.Fatalf("Remove vendor: %+v %v", changes, err)
	}
	ourBlock := filepath.Join(root, "etc/pki/ca-trust/source/blocklist", stores.Label(vendor)+".pem")
	if _, err := os.Stat(ourBlock); err != nil {
		t.Fatal(err)
	}
	if r := stores.Audit(ctx, s, []*x509.Certificate{vendor}); r.Status != stores.StatusUntrusted {
		t.Fatalf("removed vendor CA: %s %s", r.Status, r.Detail)
	}
	changes, err = s.Install(ctx, []*x509.Certificate{vendor}, stores.Options{})
	if err != nil || len(changes) != 1 || changes[0].Action != stores.ActionTrusted {
		t.Fatalf("re-install vendor CA: %+v %v", changes, err)
	}
	if _, err := os.Stat(ourBlock); !os.IsNotExist(err) {
		t.Fatal("our blocklist file is still there")
	}
	if r := stores.Audit(ctx, s, []*x509.Certificate{vendor}); r.Status != stores.StatusCompliant {
		t.Fatalf("%s %s", r.Status, r.Detail)
	}
}

// A refresh tool that fails leaves the anchors as they were.
func TestRefreshFailureRollsBack(t *testing.T) {
	root, s, _ := otherRoot(t, "rhel-9.4", true)
	writeFile(t, filepath.Join(root, "etc/fakerefresh-fail"), nil)
	before := dirState(t, root)
	ca, _ := systemtest.CA(t, "Some CA")
	_, err := s.Install(context.Background(), []*x509.Certificate{ca}, stores.Options{})
	if err == nil || !strings.Contains(err.Error(), "failing as asked") || !strings.Contains(err.Error(), "chroot "+root) {
		t.Fatalf("Install: %v", err)
	}
	if after := dirState(t, root); after != before {
		t.Fatalf("root changed:\n%s\n->\n%s", before, after)
	}
}

// trustedPEM is what `openssl x509 -addtrust serverAuth -setalias LABEL
// -trustout -outform PEM` writes for c (run for real, so our encoder is
// checked against OpenSSL's).
func trustedPEM(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	cmd := exec.Command("openssl", "x509", "-addtrust", "serverAuth", "-setalias", stores.Label(c), "-trustout")
	cmd.Stdin = bytes.NewReader(systemtest.PEM(c))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl x509 -trustout: %v", err)
	}
	return out
}
