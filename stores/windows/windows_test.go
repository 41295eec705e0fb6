package windows

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

func testCert(t testing.TB, cn string, eku ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// The blob Wine's crypt32 wrote for a certificate added to LocalMachine
// ROOT (reg query of HKLM\Software\Microsoft\SystemCertificates\ROOT\
// Certificates\<SHA1>), kept in testdata.
func TestDecodeBlobFromWine(t *testing.T) {
	h, err := os.ReadFile(filepath.Join("testdata", "wine-root-blob.hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := DecodeBlob(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(blob.DER)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(blob.Props[PropSHA1Hash]); got != stores.SHA1(c) {
		t.Fatalf("SHA-1 property %s, DER hashes to %s", got, stores.SHA1(c))
	}
	if string(EncodeBlob(blob)) != string(b) {
		t.Fatal("EncodeBlob(DecodeBlob(b)) != b")
	}
}

func TestDecodeBlobRejects(t *testing.T) {
	rec := func(id, n uint32, v []byte) []byte {
		return append(EncodeBlob(Blob{DER: []byte{1}})[:0:0], append([]byte{byte(id), 0, 0, 0, 1, 0, 0, 0, byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}, v...)...)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", []byte{32, 0, 0}},
		{"length past end", rec(32, 100, []byte{1, 2})},
		{"huge length", rec(32, 0xffffffff, nil)},
		{"no certificate", rec(3, 2, []byte{1, 2})},
		{"empty certificate", rec(32, 0, nil)},
		{"duplicate property", append(rec(3, 1, []byte{1}), rec(3, 1, []byte{1})...)},
		{"over limit", make([]byte, MaxBlob+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeBlob(tc.in); !errors.Is(err, ErrBadBlob) {
				t.Fatalf("error %v, want ErrBadBlob", err)
			}
		})
	}
}

func TestAnchorsTrustAndOwnership(t *testing.T) {
	plain := testCert(t, "Plain")
	restricted := testCert(t, "Restricted")
	disabled := testCert(t, "Disabled")
	clientOnly := testCert(t, "Client EKU", x509.ExtKeyUsageClientAuth)
	gpo := testCert(t, "GPO")
	both := testCert(t, "GPO and machine")
	ent := testCert(t, "Enterprise")
	distrusted := testCert(t, "Disallowed")
	entries := []Entry{
		{DER: plain.Raw, Source: SourceMachine, Props: map[uint32][]byte{PropFriendlyName: []byte("F\x00r\x00i\x00e\x00n\x00d\x00\x00\x00")}},
		{DER: restricted.Raw, Source: SourceMachine, Props: map[uint32][]byte{PropEKU: EncodeEKU(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2})}},
		{DER: disabled.Raw, Source: SourceMachine, Props: map[uint32][]byte{PropEKU: EncodeEKU()}},
		{DER: clientOnly.Raw, Source: SourceMachine},
		{DER: gpo.Raw, Source: SourceGPO},
		{DER: both.Raw, Source: SourceMachine},
		{DER: both.Raw, Source: SourceGPO},
		{DER: ent.Raw, Source: SourceEnterprise},
		{DER: distrusted.Raw, Source: SourceMachine},
		{DER: []byte("not a certificate"), Source: SourceGPO},
	}
	as, errs := Anchors(entries, map[string]bool{stores.SHA256(distrusted): true})
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one for the bad DER", errs)
	}
	got := map[string]stores.Anchor{}
	for _, a := range as {
		got[a.Cert.Subject.CommonName] = a
	}
	want := []struct {
		cn, label, managed string
		trusted            bool
	}{
		{"Plain", "Friend", "", true},
		{"Restricted", "Restricted", "", false},
		{"Disabled", "Disabled", "", false},
		{"Client EKU", "Client EKU", "", false},
		{"GPO", "GPO", "gpo", true},
		{"GPO and machine", "GPO and machine", "gpo", true},
		{"Enterprise", "Enterprise", "enterprise", true},
		{"Disallowed", "Disallowed", "", false},
	}
	if len(got) != len(want) {
		t.Fatalf("%d anchors, want %d", len(got), len(want))
	}
	for _, w := range want {
		a := got[w.cn]
		if a.Label != w.label || a.ManagedBy != w.managed || a.TrustedServerAuth != w.trusted {
			t.Errorf("%s: label %q managed %q trusted %v; want %q %q %v", w.cn, a.Label, a.ManagedBy, a.TrustedServerAuth, w.label, w.managed, w.trusted)
		}
	}
}

func TestPlanInstall(t *testing.T) {
	fresh, ok, untrusted, gpo, gpoRestricted, dis := testCert(t, "fresh"), testCert(t, "ok"), testCert(t, "untrusted"), testCert(t, "gpo"), testCert(t, "gpo restricted"), testCert(t, "disallowed")
	every := testCert(t, "every purpose")
	current := []stores.Anchor{
		{SHA256: stores.SHA256(ok), TrustedServerAuth: true, Purposes: []stores.Purpose{stores.PurposeServerAuth}},
		{SHA256: stores.SHA256(untrusted)},
		{SHA256: stores.SHA256(gpo), TrustedServerAuth: true, ManagedBy: "gpo", Purposes: []stores.Purpose{stores.PurposeAny}},
		{SHA256: stores.SHA256(gpoRestricted), ManagedBy: "gpo"},
		{SHA256: stores.SHA256(every), TrustedServerAuth: true, Purposes: []stores.Purpose{stores.PurposeAny}},
	}
	p, err := PlanInstall(current, nil, []*x509.Certificate{fresh, ok, untrusted, gpo, fresh, every})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(actions(p.Changes)); got != "[added unchanged trusted unchanged trusted]" {
		t.Fatalf("changes %s", got)
	}
	if len(p.Add) != 3 || len(p.Warnings) != 1 {
		t.Fatalf("add %d warnings %v", len(p.Add), p.Warnings)
	}
	if _, err := PlanInstall(current, nil, []*x509.Certificate{gpoRestricted}); err == nil || !strings.Contains(err.Error(), "gpo") {
		t.Fatalf("GPO-restricted copy: %v, want an error naming gpo", err)
	}
	if _, err := PlanInstall(nil, map[string]bool{stores.SHA256(dis): true}, []*x509.Certificate{dis}); err == nil || !strings.Contains(err.Error(), "Disallowed") {
		t.Fatalf("disallowed: %v", err)
	}
}

func TestPlanRemove(t *testing.T) {
	m, g, both, absent := testCert(t, "m"), testCert(t, "g"), testCert(t, "both"), testCert(t, "absent")
	current := []stores.Anchor{
		{SHA256: stores.SHA256(m)},
		{SHA256: stores.SHA256(g), ManagedBy: "gpo"},
		{SHA256: stores.SHA256(both), ManagedBy: "gpo"},
	}
	inMachine := map[string]bool{stores.SHA256(m): true, stores.SHA256(both): true}
	p, err := PlanRemove(current, inMachine, []string{strings.ToUpper(stores.SHA256(m)), stores.SHA256(g), stores.SHA256(both), stores.SHA256(absent)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(actions(p.Changes)); got != "[removed unchanged removed unchanged]" {
		t.Fatalf("changes %s", got)
	}
	if len(p.Delete) != 2 || len(p.Warnings) != 2 {
		t.Fatalf("delete %v warnings %v", p.Delete, p.Warnings)
	}
	if _, err := PlanRemove(nil, nil, []string{"xyz"}); err == nil {
		t.Fatal("malformed fingerprint accepted")
	}
}

func TestIDs(t *testing.T) {
	if ID(StoreRoot) != `windows:LocalMachine\ROOT` || ID(StoreCA) != `windows:LocalMachine\CA` {
		t.Fatal(ID(StoreRoot), ID(StoreCA))
	}
	if GPOKey(StoreRoot) != `SOFTWARE\Policies\Microsoft\SystemCertificates\Root` {
		t.Fatal(GPOKey(StoreRoot))
	}
}

func actions(cs []stores.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Action)
	}
	return out
}

func FuzzDecodeBlob(f *testing.F) {
	h, _ := os.ReadFile(filepath.Join("testdata", "wine-root-blob.hex"))
	b, _ := hex.DecodeString(strings.TrimSpace(string(h)))
	f.Add(b)
	f.Add([]byte{32, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x30})
	f.Fuzz(func(t *testing.T, in []byte) {
		blob, err := DecodeBlob(in)
		if err != nil {
			return
		}
		again, err := DecodeBlob(EncodeBlob(blob))
		if err != nil || string(again.DER) != string(blob.DER) || len(again.Props) != len(blob.Props) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzEKUPurposes: whatever bytes a registry entry holds as its
// CERT_ENHKEY_USAGE_PROP_ID, purposes never panics and never reports TLS
// server auth alone for a value that names another usage too.
func FuzzEKUPurposes(f *testing.F) {
	f.Add(ServerAuthEKU())
	f.Add(EncodeEKU(oidServerAuth, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x06, 0x01})
	c := testCert(f, "fuzz")
	f.Fuzz(func(t *testing.T, prop []byte) {
		ps := purposes(c, map[uint32][]byte{PropEKU: prop})
		var oids []asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(prop, &oids); err == nil && len(oids) > 1 && tlsOnly(ps) {
			for _, o := range oids {
				if !o.Equal(oidServerAuth) {
					t.Fatalf("%x: %v reported TLS only", prop, oids)
				}
			}
		}
	})
}

func BenchmarkAnchors(b *testing.B) {
	var entries []Entry
	for i := 0; i < 300; i++ {
		entries = append(entries, Entry{DER: testCert(b, fmt.Sprint("root ", i)).Raw, Source: SourceMachine})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Anchors(entries, nil)
	}
}

func TestIsHostRoot(t *testing.T) {
	for root, want := range map[string]bool{
		"": true, "/": true, `C:\`: true, `z:\`: true, "C:": true, "C:/": true,
		`C:\mnt`: false, "/mnt/image": false, `1:\`: false, `\\server\share`: false,
	} {
		if got := IsHostRoot(root); got != want {
			t.Errorf("IsHostRoot(%q) = %v, want %v", root, got, want)
		}
	}
}

// The purposes Windows trusts a CA for: the EKU property, else the
// certificate's EKU extension, else everything.
func TestPurposes(t *testing.T) {
	plain, tls, email := testCert(t, "plain"), testCert(t, "tls", x509.ExtKeyUsageServerAuth), testCert(t, "email", x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageServerAuth)
	cases := []struct {
		c     *x509.Certificate
		props map[uint32][]byte
		want  string
	}{
		{plain, nil, "any"},
		{plain, map[uint32][]byte{PropEKU: ServerAuthEKU()}, "serverAuth"},
		{plain, map[uint32][]byte{PropEKU: EncodeEKU(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3})}, "serverAuth, codeSigning"},
		{plain, map[uint32][]byte{PropEKU: EncodeEKU(asn1.ObjectIdentifier{1, 2, 3})}, "any"},
		{tls, nil, "serverAuth"},
		{email, nil, "serverAuth, emailProtection"},
	}
	for i, tc := range cases {
		if got := stores.JoinPurposes(purposes(tc.c, tc.props)); got != tc.want {
			t.Errorf("case %d: %s, want %s", i, got, tc.want)
		}
	}
	as, _ := Anchors([]Entry{{DER: plain.Raw, Source: SourceMachine, Props: map[uint32][]byte{PropEKU: ServerAuthEKU()}}}, nil)
	if len(as) != 1 || stores.JoinPurposes(as[0].Purposes) != "serverAuth" {
		t.Fatalf("Anchors: %+v", as)
	}
}
