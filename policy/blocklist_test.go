package policy

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

func TestBuiltinBlocklist(t *testing.T) {
	b := DefaultBlocklist()
	entries := b.Entries()
	want := []string{"Superfish, Inc.", "eDellRoot", "DSDTestProvider", "Qaznet Trust Network",
		"Information Security Certification Authority CA", "Information Security Certification Authority"}
	if len(entries) != len(want) {
		t.Fatalf("built-in blocklist has %d entries, want %d", len(entries), len(want))
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if e.Name != want[i] {
			t.Errorf("entry %d is %q, want %q", i, e.Name, want[i])
		}
		if e.SHA256 == "" || e.SPKI == "" {
			t.Errorf("%s: both hashes are known and must be given", e.Name)
		}
		if !strings.Contains(e.Source, "chromium") && !strings.Contains(e.Source, "Chromium") {
			t.Errorf("%s: source %q does not cite the Chromium blocklist", e.Name, e.Source)
		}
		if e.Reason == "" {
			t.Errorf("%s: no reason", e.Name)
		}
		for _, h := range []string{e.SHA256, e.SPKI} {
			if seen[h] {
				t.Errorf("%s: hash %s appears twice", e.Name, h)
			}
			seen[h] = true
		}
		if got, ok := b.LookupHashes(e.SHA256, ""); !ok || got.Name != e.Name {
			t.Errorf("lookup of %s by sha256: %v %q", e.Name, ok, got.Name)
		}
		if got, ok := b.LookupHashes("", e.SPKI); !ok || got.Name != e.Name {
			t.Errorf("lookup of %s by spki: %v %q", e.Name, ok, got.Name)
		}
		if _, ok := b.LookupHashes(e.SPKI, ""); ok {
			t.Errorf("%s: an SPKI hash matched as a certificate hash", e.Name)
		}
	}
	// BuiltinBlockedRoots hands out a fresh copy: changing it cannot
	// weaken the next caller's list.
	a := BuiltinBlockedRoots()
	a[0].SHA256 = "x"
	if BuiltinBlockedRoots()[0].SHA256 == "x" {
		t.Fatal("BuiltinBlockedRoots shares its backing array")
	}
}

func TestBlocklistLookup(t *testing.T) {
	blocked := testpki.NewCA(t, "Evil Interception Root")
	blockedCert := blocked.Cert
	reissued := testpki.NewCA(t, "Evil Interception Root", testpki.Key(blocked.Key)).Cert // same key, new serial
	other := testpki.NewCA(t, "Fine Corporate Root").Cert

	sum := sha256.Sum256(blockedCert.Raw)
	spki := sha256.Sum256(blockedCert.RawSubjectPublicKeyInfo)
	colonHex := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(colonHex); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(colonHex[i : i+2])
	}

	tests := []struct {
		name  string
		entry BlockedRoot
		cert  *x509.Certificate
		block bool
	}{
		{"by sha256", BlockedRoot{Name: "evil", SHA256: hex.EncodeToString(sum[:])}, blockedCert, true},
		{"by sha256 with colons, upper case", BlockedRoot{Name: "evil", SHA256: b.String()}, blockedCert, true},
		{"sha256 does not catch a reissue", BlockedRoot{Name: "evil", SHA256: hex.EncodeToString(sum[:])}, reissued, false},
		{"by spki", BlockedRoot{Name: "evil", SPKI: hex.EncodeToString(spki[:])}, blockedCert, true},
		{"spki catches a reissue with the same key", BlockedRoot{Name: "evil", SPKI: hex.EncodeToString(spki[:])}, reissued, true},
		{"other certificate", BlockedRoot{Name: "evil", SHA256: hex.EncodeToString(sum[:]), SPKI: hex.EncodeToString(spki[:])}, other, false},
		{"nil certificate", BlockedRoot{Name: "evil", SHA256: hex.EncodeToString(sum[:])}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bl, err := NewBlocklist(BuiltinBlockedRoots(), []BlockedRoot{tt.entry})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := bl.Lookup(tt.cert)
			if ok != tt.block {
				t.Fatalf("Lookup = %v, want %v", ok, tt.block)
			}
			if ok && got.Name != "evil" {
				t.Fatalf("matched %q, want the test entry", got.Name)
			}
		})
	}
	// The built-in list alone does not block a freshly made root.
	if _, ok := DefaultBlocklist().Lookup(blockedCert); ok {
		t.Fatal("a fresh root is on the built-in blocklist")
	}
	var zero *Blocklist
	if _, ok := zero.Lookup(blockedCert); ok {
		t.Fatal("nil blocklist blocks")
	}
}

func TestNewBlocklistRejects(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		entry BlockedRoot
		want  string
	}{
		{BlockedRoot{SHA256: good}, "no name"},
		{BlockedRoot{Name: "x"}, "give sha256 or spki"},
		{BlockedRoot{Name: "x", SHA256: "abcd"}, "not 64 hex digits"},
		{BlockedRoot{Name: "x", SPKI: strings.Repeat("zz", 32)}, "not 64 hex digits"},
		{BlockedRoot{Name: "x", SHA256: good, SPKI: good + "00"}, "spki"},
	}
	for _, tt := range tests {
		_, err := NewBlocklist([]BlockedRoot{tt.entry})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewBlocklist(%+v) = %v, want error containing %q", tt.entry, err, tt.want)
		}
	}
}
