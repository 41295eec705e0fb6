package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/pki/pkitest"
)

// badRoot writes a 10-year root made by openssl with no keyUsage, no
// pathLen and no EKU.
func badRoot(t *testing.T, dir string) string {
	t.Helper()
	cnf := filepath.Join(dir, "bad.cnf")
	if err := os.WriteFile(cnf, []byte("[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=Careless Inspection Root\n[v3]\nbasicConstraints=CA:true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkitest.Openssl(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "bad.key", "-out", "bad.pem", "-days", "3650", "-config", cnf)
	return filepath.Join(dir, "bad.pem")
}

// TestCACheckCommand runs `anchorwatch ca check` against a PKI made with
// openssl ca, its CRLs on a local HTTP server and openssl ocsp answering.
func TestCACheckCommand(t *testing.T) {
	p := pkitest.New(t)
	p.StartResponder(t, p.Root)
	p.StartResponder(t, p.Inter)
	leaf := filepath.Join(p.Dir, "leaf.pem")

	t.Run("fresh PKI passes", func(t *testing.T) {
		out, stderr, code := runCLI(t, newRootCmd(), "ca", "check", "--ca", p.Inter.CertFile, "--issuer", p.Root.CertFile, "--leaf", leaf)
		if code != 0 || !strings.Contains(out, "PASS: 2 CRL(s) and 2 OCSP answer(s) checked") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		out, _, code = runCLI(t, newRootCmd(), "ca", "check", "--ca", p.Root.CertFile, "--ca", p.Inter.CertFile, "--json")
		var got caCheckOutput
		if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 || !got.Passed || len(got.Reports) != 2 {
			t.Fatalf("chain: exit %d, %v\n%s", code, err, out)
		}
		if got.Reports[0].Role != "root" || got.Reports[1].Role != "issuing" || got.Reports[1].OCSP[0].Status != "good" {
			t.Errorf("chain: roles %s, %s; OCSP %+v", got.Reports[0].Role, got.Reports[1].Role, got.Reports[1].OCSP)
		}
	})
	t.Run("lapsed CRL fails", func(t *testing.T) {
		past := time.Now().UTC().Add(-72 * time.Hour)
		p.GenCRL(t, p.Root, "-crl_lastupdate", past.Format("20060102150405Z"), "-crl_nextupdate", past.Add(time.Hour).Format("20060102150405Z"))
		defer p.GenCRL(t, p.Root, "-crldays", "7")
		out, _, code := runCLI(t, newRootCmd(), "ca", "check", "--ca", p.Inter.CertFile, "--issuer", p.Root.CertFile)
		if code != 1 || !strings.Contains(out, "crl-expired") || !strings.Contains(out, "FAIL: 1 error") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("bad root fails the lint", func(t *testing.T) {
		out, _, code := runCLI(t, newRootCmd(), "ca", "check", "--offline", "--ca", badRoot(t, t.TempDir()))
		for _, want := range []string{"key-usage-missing", "pathlen-missing", "eku-missing", "validity-long", "→ reissue the CA"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		dir := t.TempDir()
		notCA := filepath.Join(dir, "leaf.pem")
		data, _ := os.ReadFile(leaf)
		os.WriteFile(notCA, data, 0o644)
		for _, args := range [][]string{
			{"ca", "check"},
			{"ca", "check", "--ca", filepath.Join(dir, "missing.pem")},
			{"ca", "check", "--ca", notCA},
			{"ca", "check", "--ca", p.Inter.CertFile, "--leaf", filepath.Join(dir, "missing.pem")},
			{"ca", "check", "--ca", p.Inter.CertFile, "--timeout", "soon"},
		} {
			if _, stderr, code := runCLI(t, newRootCmd(), args...); code != 2 || stderr == "" {
				t.Errorf("%v: exit %d, stderr %q; want 2 and a reason", args, code, stderr)
			}
		}
	})
}

// TestCALintWarnings: policy init and package warn about a bad CA and
// still do their job; a good one gets no warning.
func TestCALintWarnings(t *testing.T) {
	dir := t.TempDir()
	bad := badRoot(t, dir)
	p := pkitest.New(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"policy init", []string{"policy", "init", "--ca", bad, "-o", filepath.Join(dir, "policy.json")}},
		{"package gpo", []string{"package", "gpo", "--ca", bad, "-o", filepath.Join(dir, "Registry.pol")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, newRootCmd(), tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range []string{`warning: CA "Careless Inspection Root": error pathlen-missing`, "key-usage-missing", "anchorwatch ca check"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
	_, stderr, code := runCLI(t, newRootCmd(), "policy", "init", "--ca", p.Inter.CertFile, "-o", filepath.Join(dir, "good.json"))
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("a well-made CA: exit %d, stderr %q", code, stderr)
	}
}
