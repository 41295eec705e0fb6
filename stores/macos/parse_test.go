package macos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
)

func TestParseFindCertificateRejects(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "find-certificate-a-Z-p-System.keychain.txt"))
	if err != nil {
		t.Fatal(err)
	}
	first := string(good[:strings.Index(string(good), "-----END CERTIFICATE-----")+len("-----END CERTIFICATE-----\n")])
	tests := []struct{ name, in string }{
		{"wrong sha1", strings.Replace(first, "SHA-1 hash: 1", "SHA-1 hash: 2", 1)},
		{"wrong sha256", strings.Replace(first, "SHA-256 hash: D", "SHA-256 hash: E", 1)},
		{"no hash line", first[strings.Index(first, "-----BEGIN"):]},
		{"cut after hash", first[:strings.Index(first, "-----BEGIN")]},
		{"cut inside PEM", first[:len(first)-60]},
		{"garbage PEM", "SHA-1 hash: 00\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseFindCertificate([]byte(tc.in)); !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error %v, want ErrBadOutput", err)
			}
		})
	}
	certs, err := ParseFindCertificate([]byte("SHA-1 hash: x\n" + first[strings.Index(first, "SHA-1"):] + "\n\n"))
	if err == nil {
		t.Fatalf("a stray hash line before a certificate was accepted: %d certs", len(certs))
	}
	if certs, err := ParseFindCertificate(nil); err != nil || len(certs) != 0 {
		t.Fatalf("empty keychain: %v %v", certs, err)
	}
	// Pre-10.15 output has the SHA-1 line only.
	old := first[strings.Index(first, "SHA-1"):]
	if certs, err := ParseFindCertificate([]byte(old)); err != nil || len(certs) != 1 {
		t.Fatalf("SHA-1-only output: %v %v", len(certs), err)
	}
}

func TestParseTrustSettingsRejects(t *testing.T) {
	deep := strings.Repeat("<array>", 100) + strings.Repeat("</array>", 100)
	tests := []struct{ name, in string }{
		{"binary plist", "bplist00\x00\x01"},
		{"not xml", "trustList = {}"},
		{"no trustList", `<plist><dict><key>trustVersion</key><integer>1</integer></dict></plist>`},
		{"trustList not dict", `<plist><dict><key>trustList</key><array/></dict></plist>`},
		{"entry not dict", `<plist><dict><key>trustList</key><dict><key>AB</key><string>x</string></dict></dict></plist>`},
		{"settings not array", `<plist><dict><key>trustList</key><dict><key>AB</key><dict><key>trustSettings</key><string/></dict></dict></dict></plist>`},
		{"result not integer", `<plist><dict><key>trustList</key><dict><key>AB</key><dict><key>trustSettings</key><array><dict><key>kSecTrustSettingsResult</key><string>1</string></dict></array></dict></dict></dict></plist>`},
		{"unknown result", `<plist><dict><key>trustList</key><dict><key>AB</key><dict><key>trustSettings</key><array><dict><key>kSecTrustSettingsResult</key><integer>9</integer></dict></array></dict></dict></dict></plist>`},
		{"policy not data", `<plist><dict><key>trustList</key><dict><key>AB</key><dict><key>trustSettings</key><array><dict><key>kSecTrustSettingsPolicy</key><string>ssl</string></dict></array></dict></dict></dict></plist>`},
		{"bad base64", `<plist><dict><key>trustList</key><dict><key>AB</key><dict><key>x</key><data>!!</data></dict></dict></dict></plist>`},
		{"key without value", `<plist><dict><key>trustList</key></dict></plist>`},
		{"too deep", `<plist>` + deep + `</plist>`},
		{"unclosed", `<plist><dict><key>trustList</key><dict>`},
		{"wrong root", `<html/>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseTrustSettings([]byte(tc.in)); !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error %v, want ErrBadOutput", err)
			}
		})
	}
}

func TestParseTrustSettingsDecisions(t *testing.T) {
	wrap := func(settings string) []byte {
		return []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>trustList</key><dict><key>ab12</key><dict>` + settings + `</dict></dict><key>trustVersion</key><integer>1</integer></dict></plist>`)
	}
	const ssl = `<key>kSecTrustSettingsPolicy</key><data>KoZIhvdjZAED</data>`
	tests := []struct {
		name     string
		settings string
		want     bool
	}{
		{"no trustSettings key", ``, true},
		{"empty array", `<key>trustSettings</key><array/>`, true},
		{"result absent defaults to TrustRoot", `<key>trustSettings</key><array><dict>` + ssl + `</dict></array>`, true},
		{"TrustAsRoot", `<key>trustSettings</key><array><dict><key>kSecTrustSettingsResult</key><integer>2</integer></dict></array>`, true},
		{"Unspecified then Deny", `<key>trustSettings</key><array><dict><key>kSecTrustSettingsResult</key><integer>4</integer></dict><dict><key>kSecTrustSettingsResult</key><integer>3</integer></dict></array>`, false},
		{"application-limited only", `<key>trustSettings</key><array><dict><key>kSecTrustSettingsApplication</key><data>AAAA</data><key>kSecTrustSettingsResult</key><integer>1</integer></dict></array>`, false},
		{"Deny for SSL first", `<key>trustSettings</key><array><dict>` + ssl + `<key>kSecTrustSettingsResult</key><integer>3</integer></dict><dict><key>kSecTrustSettingsResult</key><integer>1</integer></dict></array>`, false},
		{"all unspecified", `<key>trustSettings</key><array><dict><key>kSecTrustSettingsResult</key><integer>4</integer></dict></array>`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := ParseTrustSettings(wrap(tc.settings))
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := ts["AB12"]; !ok || got.SSL != tc.want {
				t.Fatalf("trusted %v (present %v), want %v", got, ok, tc.want)
			}
		})
	}
}

func FuzzParseFindCertificate(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "find-certificate-a-Z-p-System.keychain.txt"))
	f.Add(b)
	f.Add([]byte("SHA-1 hash: AB\n-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		certs, err := ParseFindCertificate(in)
		if err == nil {
			for _, c := range certs {
				if c.Cert == nil || len(c.SHA1) != 40 {
					t.Fatalf("parsed certificate without identity: %+v", c)
				}
			}
		}
	})
}

func FuzzParseTrustSettings(f *testing.F) {
	for _, name := range []string{"trust-settings-export-d.plist", "trust-settings-export-ssl-deny.plist"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		f.Add(b)
	}
	f.Add([]byte(`<plist><dict><key>trustList</key><dict/></dict></plist>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, err := ParseTrustSettings(in) // must not panic or hang
		if err != nil {
			return
		}
		for sha1, tr := range ts {
			// Denied for every policy is never trusted for anything.
			if tr.Denied && (tr.SSL || len(tr.Purposes) > 0) {
				t.Fatalf("%s: denied yet %+v", sha1, tr)
			}
		}
	})
}

// TestParseTrustSettingsPurposes: what the settings trust a certificate
// for, policy by policy (the first constraint for a policy decides; one
// without a policy decides the rest).
func TestParseTrustSettingsPurposes(t *testing.T) {
	wrap := func(settings string) []byte {
		return []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>trustList</key><dict><key>ab12</key><dict><key>trustSettings</key><array>` + settings + `</array></dict></dict></dict></plist>`)
	}
	pol := func(last string, result int) string { // last: base64 of the OID's DER content
		return fmt.Sprintf(`<dict><key>kSecTrustSettingsPolicy</key><data>%s</data><key>kSecTrustSettingsResult</key><integer>%d</integer></dict>`, last, result)
	}
	const ssl, smime, basic, codeSign, ocsp = "KoZIhvdjZAED", "KoZIhvdjZAEI", "KoZIhvdjZAEC", "KoZIhvdjZAEQ", "KoZIhvdjZAEH"
	tests := []struct {
		name     string
		settings string
		ssl      bool
		purposes string
		denied   bool
	}{
		{"add-trusted-cert -p ssl", pol(ssl, 1), true, "serverAuth", false},
		{"every policy", ``, true, "any", false},
		{"ssl and basic X.509", pol(ssl, 1) + pol(basic, 1), true, "serverAuth, any", false},
		{"ssl and S/MIME", pol(ssl, 1) + pol(smime, 1), true, "serverAuth, emailProtection", false},
		{"code signing only", pol(codeSign, 1), false, "codeSigning", false},
		{"OCSP trusts for nothing", pol(ssl, 1) + pol(ocsp, 1), true, "serverAuth", false},
		{"ssl denied, then every other policy", pol(ssl, 3) + `<dict><key>kSecTrustSettingsResult</key><integer>1</integer></dict>`, false, "any", false},
		{"ssl first wins over a later deny", pol(ssl, 1) + pol(ssl, 3), true, "serverAuth", false},
		{"add-trusted-cert -r deny", `<dict><key>kSecTrustSettingsResult</key><integer>3</integer></dict>`, false, "nothing", true},
		{"ssl trusted, then deny the rest", pol(ssl, 1) + `<dict><key>kSecTrustSettingsResult</key><integer>3</integer></dict>`, true, "serverAuth", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := ParseTrustSettings(wrap(tc.settings))
			if err != nil {
				t.Fatal(err)
			}
			got := ts["AB12"]
			if got.SSL != tc.ssl || stores.JoinPurposes(got.Purposes) != tc.purposes || got.Denied != tc.denied {
				t.Fatalf("ssl %v purposes %q denied %v; want %v %q %v", got.SSL, stores.JoinPurposes(got.Purposes), got.Denied, tc.ssl, tc.purposes, tc.denied)
			}
		})
	}
}
