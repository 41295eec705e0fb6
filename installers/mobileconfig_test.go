package installers

import (
	"bytes"
	"crypto/x509"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

func TestMobileConfigSignedVerifiesWithOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl", "openssl")
	f := newFixture(t)
	cas := []*x509.Certificate{f.root.Cert, f.inter.Cert}
	xmlDoc, err := MobileConfig(cas, Profile{Identifier: "com.example.corp-ca", DisplayName: "Corp CA & <friends>", Organization: "Example"})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignProfile(xmlDoc, f.signer, f.signerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := tempFile(t, "corp-ca.mobileconfig", signed)
	signerPEM := testpki.WritePEM(t, filepath.Join(dir, "signer.pem"), f.signer)

	out := run(t, openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", signerPEM, "-purpose", "any")
	if !bytes.Equal(out, xmlDoc) {
		t.Fatalf("openssl cms -verify output differs from the profile signed")
	}
	v, err := decodePlist(out)
	if err != nil {
		t.Fatalf("profile is not a plist: %v\n%s", err, out)
	}
	top := v.(map[string]any)
	for k, want := range map[string]any{
		"PayloadType": "Configuration", "PayloadScope": "System", "PayloadIdentifier": "com.example.corp-ca",
		"PayloadVersion": int64(1), "PayloadDisplayName": "Corp CA & <friends>", "PayloadOrganization": "Example",
	} {
		if top[k] != want {
			t.Errorf("top-level %s = %#v, want %#v", k, top[k], want)
		}
	}
	uuidRE := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	if !uuidRE.MatchString(top["PayloadUUID"].(string)) {
		t.Errorf("top-level PayloadUUID %q is not a UUID", top["PayloadUUID"])
	}
	payloads := top["PayloadContent"].([]any)
	if len(payloads) != 2 {
		t.Fatalf("%d payloads, want 2", len(payloads))
	}
	for i, tc := range []struct {
		cert *x509.Certificate
		typ  string
	}{{f.root.Cert, PayloadTypeRoot}, {f.inter.Cert, PayloadTypeIntermediate}} {
		p := payloads[i].(map[string]any)
		if !bytes.Equal(p["PayloadContent"].([]byte), tc.cert.Raw) {
			t.Errorf("payload %d: PayloadContent is not the DER of %s", i, tc.cert.Subject)
		}
		if p["PayloadType"] != tc.typ {
			t.Errorf("payload %d: PayloadType %v, want %s", i, p["PayloadType"], tc.typ)
		}
		id, _ := p["PayloadIdentifier"].(string)
		if !strings.HasPrefix(id, "com.example.corp-ca.") {
			t.Errorf("payload %d: PayloadIdentifier %q does not extend the profile's", i, id)
		}
		if !uuidRE.MatchString(p["PayloadUUID"].(string)) || p["PayloadUUID"] == top["PayloadUUID"] {
			t.Errorf("payload %d: PayloadUUID %q", i, p["PayloadUUID"])
		}
	}

	// Same CAs, same profile bytes (deterministic UUIDs).
	again, err := MobileConfig(cas, Profile{Identifier: "com.example.corp-ca", DisplayName: "Corp CA & <friends>", Organization: "Example"})
	if err != nil || !bytes.Equal(again, xmlDoc) {
		t.Errorf("rebuilding the profile gave different bytes (err %v)", err)
	}

	// Tampering with the signed content must fail verification.
	i := bytes.Index(signed, []byte("Corp CA &amp;"))
	if i < 0 {
		t.Fatal("display name not found in the signed blob")
	}
	bad := bytes.Clone(signed)
	bad[i] = 'X'
	if out, err := runErr(openssl, "cms", "-verify", "-inform", "DER", "-in", tempFile(t, "bad.mobileconfig", bad), "-CAfile", signerPEM, "-purpose", "any"); err == nil {
		t.Fatalf("openssl verified a tampered profile:\n%s", out)
	}
	// Another signer's certificate must not verify it either.
	other, _ := testpki.SelfSigned(t, "Someone Else")
	if _, err := runErr(openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", testpki.WritePEM(t, filepath.Join(dir, "other.pem"), other), "-purpose", "any"); err == nil {
		t.Fatal("openssl verified the profile against an unrelated CA file")
	}
}

func TestMobileConfigRefuses(t *testing.T) {
	f := newFixture(t)
	leaf := f.root.Leaf(t, "proxy.example").Leaf
	for _, tc := range []struct {
		name string
		cas  []*x509.Certificate
		p    Profile
		want string
	}{
		{"no CA", nil, Profile{}, "no CA certificate"},
		{"leaf", []*x509.Certificate{leaf}, Profile{}, "not a CA"},
		{"bad identifier", []*x509.Certificate{f.root.Cert}, Profile{Identifier: "com.example/../x"}, "reverse-DNS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MobileConfig(tc.cas, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := SignProfile([]byte("x"), f.signer, f.root.Key, nil); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("signing with a mismatched key: err = %v", err)
	}
}
