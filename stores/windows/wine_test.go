//go:build linux

// These tests run the real Windows build of the adapter under Wine
// (Debian wine64): winebed (scripts/wine-setup.sh) makes a prefix in a temp dir,
// the test builds internal/wintest with GOOS=windows and drives it, and
// checks results independently with `wine reg query` on the registry
// physical store and with a bare crypt32 enumeration. What Wine cannot
// prove (Enterprise store, CertControlStore, real GPO processing) is
// listed in docs/windows.md.
package windows_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	winstore "github.com/anchorwatch/anchorwatch/stores/windows"
	"github.com/anchorwatch/anchorwatch/stores/windows/winebed"
)

type wineBed struct {
	*winebed.Bed
	exe, cli string // wintest.exe and anchorwatch.exe
}

var bed struct {
	once sync.Once
	b    *wineBed
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if b := bed.b; b != nil {
		b.Close()
	}
	os.Exit(code)
}

// setupWine makes one prefix per test run (wine boot is slow) and builds
// the Windows test program.
func setupWine(t *testing.T) *wineBed {
	t.Helper()
	bed.once.Do(func() { bed.b, bed.err = newWineBed(context.Background()) })
	if bed.err != nil {
		t.Fatalf("wine test bed: %v", bed.err)
	}
	return bed.b
}

func newWineBed(ctx context.Context) (*wineBed, error) {
	wb, err := winebed.New(ctx)
	if err != nil {
		return nil, err
	}
	b := &wineBed{Bed: wb}
	if b.exe, err = wb.Build(ctx, "./stores/windows/internal/wintest", "wintest.exe"); err != nil {
		wb.Close()
		return nil, err
	}
	// The real binary, for the end-to-end audit/inventory check.
	if b.cli, err = wb.Build(ctx, "./cmd/anchorwatch", "anchorwatch.exe"); err != nil {
		wb.Close()
		return nil, err
	}
	return b, nil
}

// run runs a Windows program under wine and returns its stdout.
func (b *wineBed) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return b.Run(context.Background(), args...)
}

func (b *wineBed) wintest(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := b.run(t, append([]string{b.exe}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("wintest %v: output is not JSON: %v\n%s", args, err, out)
		}
	}
}

// regBlob returns the Blob value of a registry certificate key as hex
// (uppercase, as reg prints it), or ok false if the key does not exist.
func (b *wineBed) regBlob(t *testing.T, key string) (string, bool) {
	t.Helper()
	blob, ok, err := b.RegBlob(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return blob, ok
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // Windows path (Z:\...) of its PEM
}

func newCA(t *testing.T, cn string, parent *testCA) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Anchorwatch wine test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return testCA{cert: c, key: key, file: winebed.WinPath(p)}
}

type listed struct {
	SHA256    string `json:"sha256"`
	Label     string `json:"label"`
	Trusted   bool   `json:"trusted"`
	ManagedBy string `json:"managed_by"`
}

func (b *wineBed) list(t *testing.T, name string) map[string]listed {
	t.Helper()
	var as []listed
	b.wintest(t, &as, "list", name)
	m := map[string]listed{}
	for _, a := range as {
		m[a.SHA256] = a
	}
	return m
}

func actions(t *testing.T, b *wineBed, args ...string) []string {
	t.Helper()
	var ch []stores.Change
	b.wintest(t, &ch, args...)
	var out []string
	for _, c := range ch {
		out = append(out, c.Action)
	}
	return out
}

func machineKey(name string, c *x509.Certificate) string {
	return winebed.MachineKey(name, stores.SHA1(c))
}

func TestWineInstallFindRemoveRoot(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Root CA", nil)
	fp := stores.SHA256(ca.cert)
	derHex := strings.ToUpper(hex.EncodeToString(ca.cert.Raw))

	if _, ok := b.list(t, "ROOT")[fp]; ok {
		t.Fatal("fresh CA already listed")
	}
	if got := actions(t, b, "install", "ROOT", ca.file); strings.Join(got, ",") != "added" {
		t.Fatalf("install: %v, want [added]", got)
	}
	// Independent check: the registry physical store holds the DER.
	blob, ok := b.regBlob(t, machineKey("ROOT", ca.cert))
	if !ok || !strings.Contains(blob, derHex) {
		t.Fatalf("reg query after install: present %v, blob holds the DER: %v", ok, strings.Contains(blob, derHex))
	}
	a, ok := b.list(t, "ROOT")[fp]
	if !ok || !a.Trusted || a.ManagedBy != "" {
		t.Fatalf("list after install: %+v (present %v), want trusted and not managed", a, ok)
	}
	if got := actions(t, b, "install", "ROOT", ca.file); strings.Join(got, ",") != "unchanged" {
		t.Fatalf("second install: %v, want [unchanged]", got)
	}
	if got := actions(t, b, "remove", "ROOT", fp); strings.Join(got, ",") != "removed" {
		t.Fatalf("remove: %v, want [removed]", got)
	}
	if _, ok := b.regBlob(t, machineKey("ROOT", ca.cert)); ok {
		t.Fatal("reg query after remove: key still there")
	}
	if _, ok := b.list(t, "ROOT")[fp]; ok {
		t.Fatal("listed after remove")
	}
	if got := actions(t, b, "remove", "ROOT", fp); strings.Join(got, ",") != "unchanged" {
		t.Fatalf("second remove: %v, want [unchanged]", got)
	}
}

func TestWineIntermediateInCA(t *testing.T) {
	b := setupWine(t)
	root := newCA(t, "Wine Parent Root", nil)
	inter := newCA(t, "Wine Intermediate", &root)
	if got := actions(t, b, "install", "CA", inter.file); strings.Join(got, ",") != "added" {
		t.Fatalf("install into CA: %v", got)
	}
	t.Cleanup(func() { actions(t, b, "remove", "CA", stores.SHA256(inter.cert)) })
	if _, ok := b.regBlob(t, machineKey("CA", inter.cert)); !ok {
		t.Fatal(`reg query: intermediate not in HKLM\...\SystemCertificates\CA`)
	}
	if _, ok := b.regBlob(t, machineKey("ROOT", inter.cert)); ok {
		t.Fatal("intermediate landed in ROOT too")
	}
	if a, ok := b.list(t, "CA")[stores.SHA256(inter.cert)]; !ok || !a.Trusted {
		t.Fatalf("CA list: %+v present %v", a, ok)
	}
}

func TestWineGPOOwnedRoot(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine GPO Root", nil)
	fp := stores.SHA256(ca.cert)
	gpoKey := `HKLM\` + winstore.GPOKey("ROOT") + `\Certificates\` + strings.ToUpper(stores.SHA1(ca.cert))
	blob := winstore.EncodeBlob(winstore.Blob{DER: ca.cert.Raw, Props: map[uint32][]byte{winstore.PropSHA1Hash: mustHex(stores.SHA1(ca.cert))}})
	if _, err := b.run(t, "reg", "add", gpoKey, "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(blob), "/f"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.run(t, "reg", "delete", gpoKey, "/f") })

	a, ok := b.list(t, "ROOT")[fp]
	if !ok || !a.Trusted || a.ManagedBy != "gpo" {
		t.Fatalf("GPO root: %+v present %v, want trusted, managed_by gpo", a, ok)
	}
	if got := actions(t, b, "install", "ROOT", ca.file); strings.Join(got, ",") != "unchanged" {
		t.Fatalf("install of a GPO-delivered root: %v, want [unchanged]", got)
	}
	if _, ok := b.regBlob(t, machineKey("ROOT", ca.cert)); ok {
		t.Fatal("install added a machine copy of a GPO-delivered root")
	}
	if got := actions(t, b, "remove", "ROOT", fp); strings.Join(got, ",") != "unchanged" {
		t.Fatalf("remove of a GPO-delivered root: %v, want [unchanged]", got)
	}
	if _, ok := b.regBlob(t, gpoKey); !ok {
		t.Fatal("remove touched the Group Policy store")
	}
}

func TestWineRestrictedRootIsUntrustedAndHealed(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Restricted Root", nil)
	fp := stores.SHA256(ca.cert)
	actions(t, b, "install", "ROOT", ca.file)
	t.Cleanup(func() { actions(t, b, "remove", "ROOT", fp) })
	// What certlm.msc's "Enable only the following purposes: Client
	// Authentication" stores: the blob with an EKU property.
	key := machineKey("ROOT", ca.cert)
	blob := winstore.EncodeBlob(winstore.Blob{DER: ca.cert.Raw, Props: map[uint32][]byte{
		winstore.PropEKU: winstore.EncodeEKU(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}),
	}})
	if _, err := b.run(t, "reg", "add", key, "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(blob), "/f"); err != nil {
		t.Fatal(err)
	}
	if a := b.list(t, "ROOT")[fp]; a.Trusted {
		t.Fatalf("root restricted to client auth listed as trusted for server auth: %+v", a)
	}
	if got := actions(t, b, "install", "ROOT", ca.file); strings.Join(got, ",") != "trusted" {
		t.Fatalf("install over a restricted copy: %v, want [trusted]", got)
	}
	if a := b.list(t, "ROOT")[fp]; !a.Trusted {
		t.Fatalf("after heal: %+v, want trusted", a)
	}
	if got, ok := b.regBlob(t, key); !ok || strings.HasPrefix(got, "09000000") {
		t.Fatalf("after heal the registry blob still starts with the EKU property: %.40s", got)
	}
}

// The adapter's List of ROOT is exactly what a bare crypt32 enumeration
// of the LocalMachine system store reports (plus GPO entries, none here).
func TestWineListMatchesCrypt32(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Compare Root", nil)
	actions(t, b, "install", "ROOT", ca.file)
	t.Cleanup(func() { actions(t, b, "remove", "ROOT", stores.SHA256(ca.cert)) })
	var raw []string
	b.wintest(t, &raw, "raw", "ROOT")
	rawSet := map[string]bool{}
	for _, fp := range raw {
		rawSet[fp] = true
	}
	listed := b.list(t, "ROOT")
	if len(raw) < 2 {
		t.Fatalf("crypt32 enumerates %d certificates; Wine imports the host's roots, expected many", len(raw))
	}
	var missing, extra []string
	for fp := range rawSet {
		if _, ok := listed[fp]; !ok {
			missing = append(missing, fp)
		}
	}
	for fp := range listed {
		if !rawSet[fp] {
			extra = append(extra, fp)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("List differs from crypt32: missing %v, extra %v", missing, extra)
	}
	if !rawSet[stores.SHA256(ca.cert)] {
		t.Fatal("installed root not enumerated by crypt32")
	}
}

func TestWineNotifierRearms(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Notify Root", nil)
	out, err := b.run(t, b.exe, "notify", "ROOT", ca.file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "signal 2") || !strings.Contains(out, "stopped") {
		t.Fatalf("notifier output %q, want two signals and a clean stop", out)
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The Windows build of anchorwatch itself: install, then audit and
// inventory agree with what crypt32 reports (bare enumeration in wintest
// and the registry key).
func TestWineAnchorwatchBinary(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Binary Root", nil)
	fp := stores.SHA256(ca.cert)
	if _, err := b.run(t, b.cli, "install", "--ca", ca.file, "--stores", "windows"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.run(t, b.cli, "remove", "--sha256", fp, "--stores", "windows") })
	if _, ok := b.regBlob(t, machineKey("ROOT", ca.cert)); !ok {
		t.Fatal("anchorwatch install: not in the LocalMachine ROOT registry store")
	}

	out, err := b.run(t, b.cli, "audit", "--ca", ca.file, "--stores", "windows", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var audit struct {
		Stores []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"stores"`
	}
	if err := json.Unmarshal([]byte(out), &audit); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	status := map[string]string{}
	for _, s := range audit.Stores {
		status[s.ID] = s.Status
	}
	if status[winstore.ID("ROOT")] != "compliant" || status[winstore.ID("CA")] == "" {
		t.Fatalf("audit statuses %v, want ROOT compliant and CA listed", status)
	}

	out, err = b.run(t, b.cli, "inventory", "--json", "--stores", "windows")
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Anchors []struct {
			SHA256 string `json:"sha256"`
			Stores []struct {
				ID string `json:"id"`
			} `json:"stores"`
		} `json:"anchors"`
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("inventory --json: %v\n%s", err, out)
	}
	invRoot := map[string]bool{}
	for _, a := range inv.Anchors {
		for _, s := range a.Stores {
			if s.ID == winstore.ID("ROOT") {
				invRoot[a.SHA256] = true
			}
		}
	}
	var raw []string
	b.wintest(t, &raw, "raw", "ROOT")
	if len(raw) != len(invRoot) {
		t.Fatalf("inventory lists %d ROOT anchors, crypt32 enumerates %d", len(invRoot), len(raw))
	}
	for _, fp := range raw {
		if !invRoot[fp] {
			t.Fatalf("crypt32 has %s, inventory does not", fp)
		}
	}
	if !invRoot[fp] {
		t.Fatal("installed root not in the inventory")
	}
}
