//go:build pkcs11 && linux

package pkcs11_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/policy/pkcs11"
	"github.com/anchorwatch/anchorwatch/policy/pkcs11/softhsmtest"
)

func policyDoc(t *testing.T) []byte {
	ca := testpki.NewCA(t, "Corp Root").Cert
	doc, _ := json.Marshal(map[string]any{"serial": 4, "anchors": []any{map[string]any{"pem": string(testpki.PEM(ca))}}})
	return doc
}

// TestSoftHSMSignsPolicies signs policies with keys that never leave a
// real SoftHSM token (EC P-256, EC P-384, RSA 2048), cosigns one with a
// second token key, and checks every result with `openssl cms -verify`
// and with policy.Verify, the agent's verification.
func TestSoftHSMSignsPolicies(t *testing.T) {
	tok := softhsmtest.New(t, "awtest")
	doc := policyDoc(t)
	dir := t.TempDir()
	caFile := testpki.WritePEM(t, filepath.Join(dir, "ca.pem"), tok.CA.Cert)
	certs := map[string]*x509.Certificate{}
	signers := map[string]*pkcs11.Signer{}
	for _, k := range []struct{ label, id, typ string }{
		{"ec256", "01", "EC:prime256v1"}, {"ec384", "02", "EC:secp384r1"}, {"rsa", "03", "rsa:2048"},
	} {
		cert := tok.GenKey(t, k.label, k.id, k.typ)
		s, err := pkcs11.Open(pkcs11.Config{Module: softhsmtest.Module, Token: tok.Label, KeyLabel: k.label, PIN: tok.PIN}, cert)
		if err != nil {
			t.Fatalf("%s: %v", k.label, err)
		}
		t.Cleanup(func() { s.Close() })
		certs[k.label], signers[k.label] = cert, s
		blob, err := policy.Sign(doc, cert, s)
		if err != nil {
			t.Fatalf("%s: %v", k.label, err)
		}
		p7m, out := filepath.Join(dir, k.label+".p7m"), filepath.Join(dir, k.label+".json")
		os.WriteFile(p7m, blob, 0o644)
		if o, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7m, "-CAfile", caFile,
			"-purpose", "any", "-out", out).CombinedOutput(); err != nil {
			t.Fatalf("%s: openssl cms -verify: %v\n%s", k.label, err, o)
		}
		got, _ := os.ReadFile(out)
		content, _, _ := policy.Content(blob)
		if !bytes.Equal(got, content) {
			t.Fatalf("%s: openssl extracted other content", k.label)
		}
		v, err := policy.Verify(blob, policy.VerifyOptions{Signer: cert})
		if err != nil || v.Document.Serial != 4 {
			t.Fatalf("%s: policy.Verify: %v", k.label, err)
		}
		t.Logf("%s: signed on the token (%s), verified by openssl and policy.Verify", k.label, v.Digest)
	}
	// Two token keys: 2 of 2.
	first, err := policy.Sign(doc, certs["ec256"], signers["ec256"])
	if err != nil {
		t.Fatal(err)
	}
	both, err := policy.Cosign(first, certs["rsa"], signers["rsa"], time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := policy.Verify(both, policy.VerifyOptions{Signers: []*x509.Certificate{certs["ec256"], certs["rsa"]}, Required: 2})
	if err != nil || len(v.Signers) != 2 {
		t.Fatalf("2 of 2 on the token: %v", err)
	}
}

// TestSoftHSMErrors: a wrong PIN, an unknown token or key label, and a
// certificate of another key each give a precise error (never the PIN).
func TestSoftHSMErrors(t *testing.T) {
	tok := softhsmtest.New(t, "awerr")
	cert := tok.GenKey(t, "signer", "01", "EC:prime256v1")
	rsaCert := tok.GenKey(t, "rsa", "02", "rsa:2048")
	other, _ := testpki.SelfSigned(t, "Someone Else")
	good := pkcs11.Config{Module: softhsmtest.Module, Token: tok.Label, KeyLabel: "signer", PIN: tok.PIN}
	with := func(f func(*pkcs11.Config)) pkcs11.Config { c := good; f(&c); return c }
	for _, tt := range []struct {
		name string
		cfg  pkcs11.Config
		cert *x509.Certificate
		want error
		text string
	}{
		{"wrong PIN", with(func(c *pkcs11.Config) { c.PIN = "wrong-pin-0000" }), cert, pkcs11.ErrPINIncorrect, `token "awerr" refused the PIN (CKR_PIN_INCORRECT from C_Login)`},
		{"unknown token", with(func(c *pkcs11.Config) { c.Token = "nope" }), cert, pkcs11.ErrTokenNotFound, `no token labelled "nope"`},
		{"unknown key", with(func(c *pkcs11.Config) { c.KeyLabel = "nope" }), cert, pkcs11.ErrKeyNotFound, `no private key labelled "nope" on token "awerr"`},
		{"another key", good, other, pkcs11.ErrKeyMismatch, `did not make a signature the certificate`},
		{"RSA cert, EC key", good, rsaCert, pkcs11.ErrKeyMismatch, `is ECDSA, the certificate's key is RSA`},
		{"not a module", with(func(c *pkcs11.Config) { c.Module = "/usr/lib/x86_64-linux-gnu/libz.so.1" }), cert, pkcs11.ErrModule, "exports no C_GetFunctionList"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pkcs11.Open(tt.cfg, tt.cert)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) || strings.Contains(err.Error(), tt.cfg.PIN) {
				t.Fatalf("Open: %v\nwant %v with %q", err, tt.want, tt.text)
			}
		})
	}
	// After the failures the right PIN still works.
	s, err := pkcs11.Open(good, cert)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
