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

	"github.com/anchorwatch/anchorwatch/installers"
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

// ekuReport is wintest eku/blobeku: what crypt32 itself reads.
type ekuReport struct {
	Found      bool     `json:"found"`
	PropOIDs   []string `json:"prop_oids"`
	Prop       string   `json:"prop"`
	AllOIDs    []string `json:"all_oids"`
	Restricted bool     `json:"restricted"`
}

const serverAuthOID = "1.3.6.1.5.5.7.3.1"

// Install sets CERT_ENHKEY_USAGE_PROP_ID to serverAuth: Wine's crypt32
// reads it back (CertGetEnhancedKeyUsage, CertGetCertificateContextProperty),
// the registry blob carries it, List reports TLS only, and audit of the
// real anchorwatch.exe is compliant. A copy without it (trusted for every
// purpose) is overtrusted, and install narrows it.
func TestWineInstallServerAuthOnly(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine TLS-only Root", nil)
	fp := stores.SHA256(ca.cert)
	if got := actions(t, b, "install", "ROOT", ca.file); strings.Join(got, ",") != "added" {
		t.Fatalf("install: %v", got)
	}
	t.Cleanup(func() { actions(t, b, "remove", "ROOT", fp) })
	checkServerAuthOnly(t, b, ca)
	if a := b.listed(t, "ROOT", fp); stores.JoinPurposes(a.Purposes) != "serverAuth" || !a.Trusted {
		t.Fatalf("List: %+v", a)
	}
	if st := b.auditStatus(t, ca); st != "compliant" {
		t.Fatalf("anchorwatch audit: %s", st)
	}

	// What an older version (or certlm.msc's "Enable all purposes") left:
	// no property, every purpose.
	key := machineKey("ROOT", ca.cert)
	plain := winstore.EncodeBlob(winstore.Blob{DER: ca.cert.Raw, Props: map[uint32][]byte{winstore.PropSHA1Hash: mustHex(stores.SHA1(ca.cert))}})
	if _, err := b.run(t, "reg", "add", key, "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(plain), "/f"); err != nil {
		t.Fatal(err)
	}
	var r ekuReport
	b.wintest(t, &r, "eku", "ROOT", ca.file)
	if r.PropOIDs != nil || r.Restricted {
		t.Fatalf("crypt32 after the plain blob: %+v, want no property and every usage", r)
	}
	if a := b.listed(t, "ROOT", fp); stores.JoinPurposes(a.Purposes) != "any" {
		t.Fatalf("List of the plain copy: %+v", a)
	}
	if st := b.auditStatus(t, ca); st != "overtrusted" {
		t.Fatalf("anchorwatch audit of the plain copy: %s, want overtrusted", st)
	}
	if got := actions(t, b, "install", "ROOT", ca.file); strings.Join(got, ",") != "trusted" {
		t.Fatalf("install over the plain copy: %v, want [trusted]", got)
	}
	checkServerAuthOnly(t, b, ca)
}

func checkServerAuthOnly(t *testing.T, b *wineBed, ca testCA) {
	t.Helper()
	var r ekuReport
	b.wintest(t, &r, "eku", "ROOT", ca.file)
	if !r.Found || strings.Join(r.PropOIDs, ",") != serverAuthOID || r.Prop != "300a06082b06010505070301" ||
		!r.Restricted || strings.Join(r.AllOIDs, ",") != serverAuthOID {
		t.Fatalf("crypt32 reads %+v, want the EKU property serverAuth only", r)
	}
	blob, _ := b.regBlob(t, machineKey("ROOT", ca.cert))
	if !strings.Contains(blob, "09000000010000000C000000300A06082B06010505070301") {
		t.Fatalf("the registry blob lacks property 9 = serverAuth: %.120s…", blob)
	}
}

// The Group Policy Blob of installers (GPO kit and Registry.pol) carries
// the same property: Wine's crypt32 deserializes it with serverAuth only,
// and List reports the GPO copy as TLS only.
func TestWineGPOBlobServerAuthOnly(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine GPO TLS Root", nil)
	blob := installers.GPOBlob(ca.cert)
	var r ekuReport
	b.wintest(t, &r, "blobeku", hex.EncodeToString(blob))
	if !r.Found || strings.Join(r.PropOIDs, ",") != serverAuthOID || strings.Join(r.AllOIDs, ",") != serverAuthOID {
		t.Fatalf("crypt32 reads the GPO blob as %+v", r)
	}
	gpoKey := `HKLM\` + winstore.GPOKey("ROOT") + `\Certificates\` + strings.ToUpper(stores.SHA1(ca.cert))
	if _, err := b.run(t, "reg", "add", gpoKey, "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(blob), "/f"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.run(t, "reg", "delete", gpoKey, "/f") })
	if a := b.listed(t, "ROOT", stores.SHA256(ca.cert)); !a.Trusted || a.ManagedBy != "gpo" || stores.JoinPurposes(a.Purposes) != "serverAuth" {
		t.Fatalf("List of the GPO copy: %+v", a)
	}
}

// Distrust puts the CA in LocalMachine\Disallowed and takes the ROOT copy
// out; a copy added back to ROOT is untrusted (Disallowed wins) and
// distrust takes it out again; undistrust empties Disallowed of it and
// adds nothing.
func TestWineDistrustDisallowed(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Leaked Root", nil)
	fp := stores.SHA256(ca.cert)
	disKey := machineKey("Disallowed", ca.cert)
	actions(t, b, "install", "ROOT", ca.file)
	t.Cleanup(func() {
		actions(t, b, "undistrust", "ROOT", fp)
		actions(t, b, "remove", "ROOT", fp)
	})
	if got := actions(t, b, "distrust", "ROOT", ca.file); strings.Join(got, ",") != "distrusted" {
		t.Fatalf("distrust: %v", got)
	}
	if blob, ok := b.regBlob(t, disKey); !ok || !strings.Contains(blob, strings.ToUpper(hex.EncodeToString(ca.cert.Raw))) {
		t.Fatal(`reg query: the CA is not in HKLM\...\SystemCertificates\Disallowed`)
	}
	if _, ok := b.regBlob(t, machineKey("ROOT", ca.cert)); ok {
		t.Fatal("the ROOT copy is still there")
	}
	var dis []listed
	b.wintest(t, &dis, "distrusted", "ROOT")
	if !containsFP(dis, fp) {
		t.Fatalf("Distrusted: %v", dis)
	}
	if got := actions(t, b, "distrust", "ROOT", ca.file); strings.Join(got, ",") != "unchanged" {
		t.Fatalf("second distrust: %v", got)
	}
	// A program adds it back to ROOT with crypt32's registry layout.
	plain := winstore.EncodeBlob(winstore.Blob{DER: ca.cert.Raw, Props: map[uint32][]byte{winstore.PropSHA1Hash: mustHex(stores.SHA1(ca.cert))}})
	if _, err := b.run(t, "reg", "add", machineKey("ROOT", ca.cert), "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(plain), "/f"); err != nil {
		t.Fatal(err)
	}
	if a := b.listed(t, "ROOT", fp); a.SHA256 != fp || a.Trusted {
		t.Fatalf("the copy back in ROOT: %+v, want listed and untrusted (Disallowed)", a)
	}
	if got := actions(t, b, "distrust", "ROOT", ca.file); strings.Join(got, ",") != "distrusted" {
		t.Fatalf("distrust of the copy back: %v", got)
	}
	if _, ok := b.regBlob(t, machineKey("ROOT", ca.cert)); ok {
		t.Fatal("the copy added back is still in ROOT")
	}
	if got := actions(t, b, "undistrust", "ROOT", fp); strings.Join(got, ",") != "undistrusted" {
		t.Fatalf("undistrust: %v", got)
	}
	if _, ok := b.regBlob(t, disKey); ok {
		t.Fatal("undistrust left the Disallowed entry")
	}
	if _, ok := b.list(t, "ROOT")[fp]; ok {
		t.Fatal("undistrust added the CA to ROOT")
	}
}

func containsFP(as []listed, fp string) bool {
	for _, a := range as {
		if a.SHA256 == fp {
			return true
		}
	}
	return false
}

// listed returns one anchor of List with its purposes.
func (b *wineBed) listed(t *testing.T, name, fp string) listedPurposes {
	t.Helper()
	var as []listedPurposes
	b.wintest(t, &as, "list", name)
	for _, a := range as {
		if a.SHA256 == fp {
			return a
		}
	}
	return listedPurposes{}
}

type listedPurposes struct {
	listed
	Purposes []stores.Purpose `json:"purposes"`
}

// auditStatus runs the real anchorwatch.exe audit for ca and returns the
// ROOT store's status.
func (b *wineBed) auditStatus(t *testing.T, ca testCA) string {
	t.Helper()
	out, _ := b.run(t, b.cli, "audit", "--ca", ca.file, "--stores", "windows", "--json")
	var audit struct {
		Stores []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"stores"`
	}
	if err := json.Unmarshal([]byte(out), &audit); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	for _, s := range audit.Stores {
		if s.ID == winstore.ID("ROOT") {
			return s.Status
		}
	}
	return ""
}

// Wine's own chain engine (CertGetCertificateChain for a leaf of the CA)
// trusts the leaf after install and no longer after distrust (the ROOT
// copy is gone). Wine 8 enforces neither the EKU property (a chain asked
// for code signing is trusted too) nor Disallowed (a copy put back
// in ROOT is trusted): Windows does (CERT_TRUST_IS_NOT_VALID_FOR_USAGE,
// CERT_TRUST_IS_EXPLICIT_DISTRUST); docs/windows.md lists both as what
// Wine cannot prove. They are logged, not asserted.
func TestWineChainAfterDistrust(t *testing.T) {
	b := setupWine(t)
	ca := newCA(t, "Wine Chain Root", nil)
	fp := stores.SHA256(ca.cert)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "leaf.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"leaf.example"}}, ca.cert, &ca.key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	lp := filepath.Join(t.TempDir(), "leaf.pem")
	if err := os.WriteFile(lp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	leaf := winebed.WinPath(lp)
	type report struct {
		ErrorStatus uint32 `json:"error_status"`
		Elements    int    `json:"elements"`
	}
	chain := func(usage string) report {
		var r report
		b.wintest(t, &r, "chain", "ROOT", leaf, usage)
		return r
	}
	if r := chain(serverAuthOID); r.ErrorStatus == 0 {
		t.Fatalf("before install crypt32 trusts the leaf: %+v", r)
	}
	actions(t, b, "install", "ROOT", ca.file)
	t.Cleanup(func() { actions(t, b, "undistrust", "ROOT", fp); actions(t, b, "remove", "ROOT", fp) })
	if r := chain(serverAuthOID); r.ErrorStatus != 0 || r.Elements != 2 {
		t.Fatalf("after install crypt32 does not trust the leaf for TLS: %+v", r)
	}
	t.Logf("Wine: chain for code signing with the TLS-only property: %+v (Windows: CERT_TRUST_IS_NOT_VALID_FOR_USAGE)", chain("1.3.6.1.5.5.7.3.3"))
	actions(t, b, "distrust", "ROOT", ca.file)
	if r := chain(serverAuthOID); r.ErrorStatus == 0 {
		t.Fatalf("after distrust crypt32 trusts the leaf: %+v", r)
	}
	plain := winstore.EncodeBlob(winstore.Blob{DER: ca.cert.Raw, Props: map[uint32][]byte{winstore.PropSHA1Hash: mustHex(stores.SHA1(ca.cert))}})
	if _, err := b.run(t, "reg", "add", machineKey("ROOT", ca.cert), "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(plain), "/f"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Wine: chain with a copy back in ROOT while in Disallowed: %+v (Windows: CERT_TRUST_IS_EXPLICIT_DISTRUST)", chain(serverAuthOID))
}
