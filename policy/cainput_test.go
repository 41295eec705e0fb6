package policy

import (
	"bytes"
	"crypto/x509"
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
	a, _ := os.ReadFile(p("ca.pem"))
	b, _ := os.ReadFile(p("ca2.pem"))
	if err := os.WriteFile(p("bundle.pem"), append(append(a, b...), a...), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := os.ReadFile(p("leaf.pem"))
	if err := os.WriteFile(p("ca+leaf.pem"), append(append([]byte{}, a...), l...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range []string{"ca.pem", "ca2.pem", "ca.der", "bundle.p7b", "ca.p7c.pem", "leaf.pem", "ca.key", "bundle.pem", "ca+leaf.pem"} {
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
			if !c.IsCA || !c.BasicConstraintsValid {
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
