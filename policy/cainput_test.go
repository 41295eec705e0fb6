package policy

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opensslInputs makes CA input files with the real openssl, the way an
// administrator would: a root CA (PEM and DER), a second root, a bundle of
// both, PKCS#7 bundles (DER .p7b and PEM) made by `openssl crl2pkcs7`, a
// leaf certificate and a private key.
func opensslInputs(t testing.TB) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found: install the Debian package openssl")
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
		"-days", "30", "-subj", "/O=Example Corp/CN=Example Corp Interception CA",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca2.key",
		"-out", "ca2.pem", "-days", "30", "-subj", "/CN=Example Corp Second CA",
		"-addext", "basicConstraints=critical,CA:TRUE")
	run("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der")
	run("crl2pkcs7", "-nocrl", "-certfile", "ca.pem", "-certfile", "ca2.pem", "-outform", "DER", "-out", "bundle.p7b")
	run("crl2pkcs7", "-nocrl", "-certfile", "ca.pem", "-out", "ca.p7c.pem")
	run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=www.example.com")
	run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-days", "30", "-out", "leaf.pem")
	// A legacy v1 root: `openssl x509 -req -signkey` adds no extensions.
	run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "v1.key",
		"-out", "v1.csr", "-subj", "/O=Old Corp/CN=Old Corp Legacy Root")
	run("x509", "-req", "-in", "v1.csr", "-signkey", "v1.key", "-days", "30", "-out", "v1root.pem")
	a, _ := os.ReadFile(p("ca.pem"))
	b, _ := os.ReadFile(p("ca2.pem"))
	// As Notepad saves them: a UTF-8 byte-order mark, CRLF line ends;
	// and two such files concatenated.
	bom := append([]byte{0xEF, 0xBB, 0xBF}, bytes.ReplaceAll(a, []byte("\n"), []byte("\r\n"))...)
	bom2 := append([]byte{0xEF, 0xBB, 0xBF}, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...)
	writeFile(t, p("bom-crlf.pem"), bom)
	writeFile(t, p("crlf.pem"), bytes.ReplaceAll(a, []byte("\n"), []byte("\r\n")))
	writeFile(t, p("bom-bundle.pem"), append(append([]byte{}, bom...), bom2...))
	writeFile(t, p("utf16.pem"), utf16LE(a))
	if err := os.WriteFile(p("bundle.pem"), append(append(a, b...), a...), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := os.ReadFile(p("leaf.pem"))
	if err := os.WriteFile(p("ca+leaf.pem"), append(append([]byte{}, a...), l...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range []string{"ca.pem", "ca2.pem", "ca.der", "bundle.p7b", "ca.p7c.pem", "leaf.pem", "ca.key", "bundle.pem", "ca+leaf.pem",
		"v1root.pem", "bom-crlf.pem", "crlf.pem", "bom-bundle.pem", "utf16.pem"} {
		out[n] = p(n)
	}
	return out
}

func TestParseCAsOpenSSL(t *testing.T) {
	in := opensslInputs(t)
	tests := []struct {
		file    string
		wantCNs []string
		wantErr string
		notCA   bool
	}{
		{file: "ca.pem", wantCNs: []string{"Example Corp Interception CA"}},
		{file: "ca.der", wantCNs: []string{"Example Corp Interception CA"}},
		{file: "bundle.pem", wantCNs: []string{"Example Corp Interception CA", "Example Corp Second CA"}}, // duplicate dropped
		{file: "bundle.p7b", wantCNs: []string{"Example Corp Interception CA", "Example Corp Second CA"}},
		{file: "ca.p7c.pem", wantCNs: []string{"Example Corp Interception CA"}},
		{file: "leaf.pem", wantErr: "not a CA certificate", notCA: true},
		{file: "ca+leaf.pem", wantErr: "www.example.com", notCA: true},
		{file: "ca.key", wantErr: "private key"},
		{file: "v1root.pem", wantCNs: []string{"Old Corp Legacy Root"}},
		{file: "bom-crlf.pem", wantCNs: []string{"Example Corp Interception CA"}},
		{file: "crlf.pem", wantCNs: []string{"Example Corp Interception CA"}},
		{file: "bom-bundle.pem", wantCNs: []string{"Example Corp Interception CA", "Example Corp Second CA"}},
		{file: "utf16.pem", wantErr: "UTF-16"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			certs, err := LoadCAFile(in[tt.file])
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), in[tt.file]) {
					t.Errorf("error %q does not name the file", err)
				}
				if tt.notCA != errors.Is(err, ErrNotCA) {
					t.Errorf("errors.Is(err, ErrNotCA) = %v, want %v", !tt.notCA, tt.notCA)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range certs {
				got = append(got, c.Subject.CommonName)
			}
			if strings.Join(got, "|") != strings.Join(tt.wantCNs, "|") {
				t.Fatalf("got %q, want %q", got, tt.wantCNs)
			}
		})
	}
}

func writeFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// utf16LE encodes ASCII text as Notepad's "Unicode" does: UTF-16LE with
// a byte-order mark.
func utf16LE(ascii []byte) []byte {
	out := []byte{0xFF, 0xFE}
	for _, c := range ascii {
		out = append(out, c, 0)
	}
	return out
}

// TestParseCAsAsOpenSSLReads: every input the real openssl reads as a
// certificate we accept too (v1 root, BOM, CRLF), and what we accept is
// the certificate openssl sees (same SHA-256 fingerprint).
func TestParseCAsAsOpenSSLReads(t *testing.T) {
	in := opensslInputs(t)
	for _, n := range []string{"v1root.pem", "bom-crlf.pem", "crlf.pem"} {
		out, err := exec.Command("openssl", "x509", "-in", in[n], "-noout", "-fingerprint", "-sha256").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl x509 -in %s: %v\n%s", n, err, out)
		}
		certs, err := LoadCAFile(in[n])
		if err != nil {
			t.Fatalf("%s: openssl reads it, we refuse it: %v", n, err)
		}
		sum := sha256.Sum256(certs[0].Raw)
		want := strings.ToUpper(hex.EncodeToString(sum[:]))
		if got := strings.ReplaceAll(strings.TrimSpace(string(out[strings.Index(string(out), "=")+1:])), ":", ""); got != want {
			t.Errorf("%s: openssl sees %s, we parsed %s", n, got, want)
		}
	}
}

// TestLegacyV1Root: a v1 certificate passes only as a self-signed root
// whose signature verifies, and is the one CA that earns a warning.
func TestLegacyV1Root(t *testing.T) {
	in := opensslInputs(t)
	v1, err := LoadCAFile(in["v1root.pem"])
	if err != nil {
		t.Fatal(err)
	}
	if v1[0].Version != 1 {
		t.Fatalf("openssl x509 -req made a v%d certificate, want v1 (this test needs an openssl that adds no extensions)", v1[0].Version)
	}
	if !LegacyV1Root(v1[0]) || len(CAWarnings(v1[0])) != 1 || !strings.Contains(CAWarnings(v1[0])[0], "legacy X.509 v1 root") {
		t.Errorf("v1 root: LegacyV1Root %v, warnings %q", LegacyV1Root(v1[0]), CAWarnings(v1[0]))
	}
	v3, err := LoadCAFile(in["ca.pem"])
	if err != nil {
		t.Fatal(err)
	}
	if LegacyV1Root(v3[0]) || CAWarnings(v3[0]) != nil {
		t.Errorf("v3 CA: LegacyV1Root %v, warnings %q", LegacyV1Root(v3[0]), CAWarnings(v3[0]))
	}
	// openssl x509 -req -CA makes a v1 leaf: issued by another CA, refused.
	leaf, err := os.ReadFile(in["leaf.pem"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCAs(leaf); !errors.Is(err, ErrNotCA) || !strings.Contains(err.Error(), "issued by another CA") {
		t.Errorf("v1 leaf: %v", err)
	}
	// A self-signed v1 certificate whose signature does not verify.
	bad := bytes.Clone(v1[0].Raw)
	bad[len(bad)-3] ^= 0x55
	if _, err := ParseCAs(bad); !errors.Is(err, ErrNotCA) || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("v1 root with a broken signature: %v", err)
	}
}

func TestParseCAsBadInput(t *testing.T) {
	in := opensslInputs(t)
	der, err := os.ReadFile(in["ca.der"])
	if err != nil {
		t.Fatal(err)
	}
	p7, err := os.ReadFile(in["bundle.p7b"])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "not PEM"},
		{"text", "hello, this is not a certificate\n", "not PEM"},
		{"truncated DER", string(der[:len(der)/2]), "not PEM"},
		{"truncated PKCS#7", string(p7[:len(p7)-40]), "not PEM"},
		{"BEGIN without block", "-----BEGIN CERTIFICATE-----\nAAAA\n", "malformed PEM"},
		{"garbage in PEM", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM block 1"},
		{"wrong PEM type", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", `type "X509 CRL"`},
		{"oversized", string(bytes.Repeat([]byte{'A'}, MaxCAInput+1)), "byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := ParseCAs([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseCAs = %d certs, %v; want error containing %q", len(certs), err, tt.want)
			}
		})
	}
	if _, err := LoadCAFile(filepath.Join(t.TempDir(), "missing.pem")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzParseCAs: whatever the input, ParseCAs returns CA certificates or an
// error, never panics, and never returns both nothing and no error.
// Seeds (testdata/fuzz/FuzzParseCAs) are openssl-made PEM, DER, P7B and
// PEM PKCS#7 inputs and a few broken ones.
func FuzzParseCAs(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCAs(data)
		if err != nil {
			if certs != nil {
				t.Fatalf("certs and error: %v", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificate and no error")
		}
		seen := map[string]bool{}
		for _, c := range certs {
			if c.Version == 1 {
				if !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) != nil {
					t.Fatalf("v1 certificate %q accepted that is not a self-signed root", c.Subject)
				}
			} else if !c.IsCA || !c.BasicConstraintsValid {
				t.Fatalf("non-CA %q accepted", c.Subject)
			}
			if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Fatalf("CA without keyCertSign %q accepted", c.Subject)
			}
			if seen[string(c.Raw)] {
				t.Fatal("duplicate certificate returned")
			}
			seen[string(c.Raw)] = true
		}
	})
}
