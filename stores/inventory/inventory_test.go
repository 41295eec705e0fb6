package inventory

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

func anchor(c *x509.Certificate, label string, trusted, vendor bool) stores.Anchor {
	a := stores.NewAnchor(c, label, trusted)
	a.Vendor = vendor
	return a
}

func TestClassify(t *testing.T) {
	vendorCA := testpki.NewCA(t, "Vendor Root").Cert
	ours := testpki.NewCA(t, "Example Corp Interception CA").Cert
	oursByLabel := testpki.NewCA(t, "Example Corp Old CA").Cert
	stranger := testpki.NewCA(t, "Totally Legit Root").Cert
	evilCA := testpki.NewCA(t, "Evil Root")
	evil := evilCA.Cert
	evilReissue := testpki.NewCA(t, "Evil Root", testpki.Key(evilCA.Key)).Cert // same key: caught by SPKI
	gpo := testpki.NewCA(t, "GPO Root").Cert

	bl, err := policy.NewBlocklist(policy.BuiltinBlockedRoots(), []policy.BlockedRoot{
		{Name: "Evil Root", SHA256: stores.SHA256(evil), SPKI: stores.SPKIHash(evil), Reason: "test entry"},
	})
	if err != nil {
		t.Fatal(err)
	}
	gpoAnchor := anchor(gpo, "", true, false)
	gpoAnchor.ManagedBy = "gpo"
	oursWide := anchor(ours, "anchorwatch-0123456789abcdef.crt", true, false)
	oursWide.Purposes = []stores.Purpose{stores.PurposeServerAuth, stores.PurposeEmailProtection}
	in := []StoreAnchors{
		{Store: stores.Info{ID: "system:/etc/ssl/certs/ca-certificates.crt"}, Anchors: []stores.Anchor{
			anchor(vendorCA, "mozilla/Vendor_Root.crt", true, true),
			oursWide,
			anchor(evil, "evil.crt", true, true), // even "shipped": blocked wins
		}},
		{Store: stores.Info{ID: "nss:/home/alice/.pki/nssdb"}, Anchors: []stores.Anchor{
			anchor(vendorCA, "Builtin Object Token:Vendor Root", true, false),
			anchor(ours, "corp", false, false),
			anchor(stranger, "Totally Legit", true, false),
			anchor(evilReissue, "Evil Root", true, false),
			anchor(oursByLabel, stores.LabelPrefix+"fedcba9876543210", true, false),
		}},
		{Store: stores.Info{ID: "java:/etc/ssl/certs/java/cacerts"}, Anchors: []stores.Anchor{
			anchor(vendorCA, "debian:vendor_root.pem", true, false),
			gpoAnchor,
			{SHA256: strings.Repeat("ab", 32), Label: "no certificate parsed"},
		}},
	}
	got := Classify(in, Options{Managed: map[string]bool{stores.SHA256(ours): true}, Blocklist: bl})

	type row struct {
		class  Class
		stores int
		reason string
	}
	want := map[string]row{
		stores.SHA256(vendorCA):    {Vendor, 3, "shipped"},
		stores.SHA256(ours):        {Managed, 2, "managed CAs"},
		stores.SHA256(oursByLabel): {Managed, 1, "written by Anchorwatch"},
		stores.SHA256(stranger):    {Unknown, 1, "not from a vendor bundle"},
		stores.SHA256(evil):        {Blocked, 1, "by certificate SHA-256: Evil Root"},
		stores.SHA256(evilReissue): {Blocked, 1, "by public key (SPKI)"},
		stores.SHA256(gpo):         {Unknown, 1, "managed by gpo"},
		strings.Repeat("ab", 32):   {Unknown, 1, "not from a vendor bundle"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	// Each store's purposes travel with its location.
	for _, e := range got {
		if e.SHA256 != stores.SHA256(ours) {
			continue
		}
		for _, l := range e.Stores {
			want := "nothing" // NSS here: untrusted, no purposes reported
			if strings.HasPrefix(l.ID, "system:") {
				want = "serverAuth, emailProtection"
			}
			if stores.JoinPurposes(l.Purposes) != want {
				t.Errorf("purposes of our CA in %s: %v, want %s", l.ID, l.Purposes, want)
			}
		}
	}
	for _, e := range got {
		w, ok := want[e.SHA256]
		if !ok {
			t.Errorf("unexpected entry %s %s", e.SHA256, e.Subject)
			continue
		}
		if e.Class != w.class || len(e.Stores) != w.stores || !strings.Contains(e.Reason, w.reason) {
			t.Errorf("%s: class %s, %d stores, reason %q; want %s, %d, %q", e.Subject, e.Class, len(e.Stores), e.Reason, w.class, w.stores, w.reason)
		}
	}
	// Sorted: blocked first, vendor last; stores of an entry by id.
	if got[0].Class != Blocked || got[len(got)-1].Class != Vendor {
		t.Errorf("order: first %s, last %s", got[0].Class, got[len(got)-1].Class)
	}
	for i := 1; i < len(got); i++ {
		if rank(got[i-1].Class) > rank(got[i].Class) {
			t.Errorf("entry %d (%s) before %d (%s)", i-1, got[i-1].Class, i, got[i].Class)
		}
	}
	v := got[len(got)-1]
	if v.Stores[0].ID != "java:/etc/ssl/certs/java/cacerts" || v.Stores[2].ID != "system:/etc/ssl/certs/ca-certificates.crt" {
		t.Errorf("stores not sorted: %+v", v.Stores)
	}
	if v.Subject != "CN=Vendor Root,O="+testpki.Org || v.SPKI != stores.SPKIHash(vendorCA) || v.NotAfter.IsZero() {
		t.Errorf("vendor entry details: %+v", v)
	}
	for _, e := range got {
		if e.SHA256 == stores.SHA256(ours) {
			for _, l := range e.Stores {
				if l.ID == "nss:/home/alice/.pki/nssdb" && l.Trusted {
					t.Error("per-store trust lost: ours is untrusted in the nssdb")
				}
			}
		}
	}

	n := Count(got)
	if n[Blocked] != 2 || n[Managed] != 2 || n[Vendor] != 1 || n[Unknown] != 3 {
		t.Errorf("Count = %v", n)
	}
	if f := Filter(got, Blocked, Unknown); len(f) != 5 {
		t.Errorf("Filter(blocked,unknown) = %d entries", len(f))
	}
	if f := Filter(got); len(f) != len(got) {
		t.Errorf("Filter() dropped entries")
	}
	// Without a blocklist or a managed set, the same host reads differently.
	plain := Count(Classify(in, Options{}))
	if plain[Blocked] != 0 || plain[Vendor] != 2 || plain[Managed] != 2 {
		t.Errorf("no options: %v", plain)
	}
}

func rank(c Class) int {
	for i, k := range Classes() {
		if k == c {
			return i
		}
	}
	return -1
}

func TestParseClasses(t *testing.T) {
	got, err := ParseClasses(" Unknown, blocked ,")
	if err != nil || len(got) != 2 || got[0] != Unknown || got[1] != Blocked {
		t.Fatalf("ParseClasses = %v, %v", got, err)
	}
	if _, err := ParseClasses("unknown,evil"); err == nil || !strings.Contains(err.Error(), `"evil"`) {
		t.Fatalf("bad class: %v", err)
	}
}

func TestClassifyEmpty(t *testing.T) {
	if got := Classify(nil, Options{}); len(got) != 0 {
		t.Fatalf("Classify(nil) = %v", got)
	}
}
