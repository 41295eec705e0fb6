package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

func testDoc(t testing.TB, serial int64) []byte {
	t.Helper()
	ca := testpki.NewCA(t, "Corp Root").Cert
	b, err := json.Marshal(map[string]any{"serial": serial, "not_after": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"anchors": []any{map[string]any{"pem": string(testpki.PEM(ca))}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyMatrix(t *testing.T) {
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	other, otherKey := testpki.SelfSigned(t, "Policy Signer") // same name, other key
	now := time.Now()
	expired, expiredKey := testpki.SelfSigned(t, "Old Signer", testpki.Valid(now.Add(-48*time.Hour), now.Add(-24*time.Hour)))

	doc := testDoc(t, 5)
	good, err := Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	byOther, err := Sign(doc, other, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	// The other key presenting the pinned certificate: an impersonation.
	impersonated := rawSign(t, doc, signer, otherKey)
	// Signed while the signer had expired (Sign refuses; build it raw).
	byExpired := rawSign(t, doc, expired, expiredKey)
	if _, err := Sign(doc, expired, expiredKey); !errors.Is(err, ErrSignerExpired) {
		t.Errorf("Sign with an expired signer: %v, want ErrSignerExpired", err)
	}
	tampered := bytes.Replace(good, []byte(`"serial":5`), []byte(`"serial":9`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("tampering did not change the blob")
	}
	detached := detachedSign(t, doc, signer, key)
	degenerate, _ := pkcs7.DegenerateCertificate(signer.Raw)
	pemGood := pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: good})

	tests := []struct {
		name   string
		blob   []byte
		pinned *x509.Certificate
		held   int64
		now    time.Time
		want   error
	}{
		{"good", good, signer, 0, time.Time{}, nil},
		{"good PEM", pemGood, signer, 4, time.Time{}, nil},
		{"unsigned JSON", doc, signer, 0, time.Time{}, ErrUnsigned},
		{"garbage", []byte("\x30\x03\x02\x01"), signer, 0, time.Time{}, ErrUnsigned},
		{"empty", nil, signer, 0, time.Time{}, ErrUnsigned},
		{"certs only", degenerate, signer, 0, time.Time{}, ErrUnsigned},
		{"detached", detached, signer, 0, time.Time{}, ErrUnsigned},
		{"wrong signer", byOther, signer, 0, time.Time{}, ErrWrongSigner},
		{"impersonated signer", impersonated, signer, 0, time.Time{}, ErrTampered},
		{"tampered content", tampered, signer, 0, time.Time{}, ErrTampered},
		{"replayed serial", good, signer, 5, time.Time{}, ErrReplayed},
		{"older serial", good, signer, 6, time.Time{}, ErrReplayed},
		{"expired signer", byExpired, expired, 0, time.Time{}, ErrSignerExpired},
		{"signer expired since", good, signer, 0, signer.NotAfter.Add(time.Hour), ErrSignerExpired},
		{"signer not yet valid", good, signer, 0, signer.NotBefore.Add(-time.Hour), ErrSignerExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Verify(tt.blob, VerifyOptions{Signer: tt.pinned, HeldSerial: tt.held, Now: tt.now})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if v.Document.Serial != 5 || !bytes.Equal(v.Content, doc) || v.SignedAt.IsZero() {
					t.Fatalf("unexpected result %+v", v)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error %v, want %v", err, tt.want)
			}
		})
	}
	// The agent re-verifies its stored policy with an expired signer allowed.
	if _, err := Verify(good, VerifyOptions{Signer: signer, Now: signer.NotAfter.Add(time.Hour), AllowExpiredSigner: true, AllowExpired: true}); err != nil {
		t.Errorf("AllowExpiredSigner: %v", err)
	}
}

// detachedSign signs doc with the content detached (agents and the
// collector refuse it).
func detachedSign(t testing.TB, doc []byte, cert *x509.Certificate, key any) []byte {
	t.Helper()
	sd, _ := pkcs7.NewSignedData(doc)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	b, _ := sd.Finish()
	return b
}

func rawSign(t testing.TB, doc []byte, cert *x509.Certificate, key any) []byte {
	t.Helper()
	sd, err := pkcs7.NewSignedData(doc)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	b, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignRefusesInvalidDocument(t *testing.T) {
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	_, err := Sign([]byte(`{"serial":0,"anchors":[]}`), signer, key)
	if err == nil || !strings.Contains(err.Error(), "serial:") {
		t.Fatalf("Sign of an invalid document: %v", err)
	}
	_, otherKey := testpki.SelfSigned(t, "x")
	if _, err := Sign(testDoc(t, 1), signer, otherKey); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("Sign with a mismatched key: %v", err)
	}
}

func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s", name, pkg)
	}
	return p
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TestOpenSSLInterop signs with keys openssl generated, checks the .p7m
// with `openssl cms -verify`, and verifies a policy openssl signed.
func TestOpenSSLInterop(t *testing.T) {
	needTool(t, "openssl", "openssl")
	for _, alg := range []struct{ name, newkey string }{
		{"rsa", "rsa:2048"},
		{"ec", "ec"},
	} {
		t.Run(alg.name, func(t *testing.T) {
			dir := t.TempDir()
			key, cert := opensslSigner(t, dir, alg.name, alg.newkey)
			c, k, err := LoadSigner(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			doc := testDoc(t, 3)
			blob, err := Sign(doc, c, k)
			if err != nil {
				t.Fatal(err)
			}
			p7m, out := filepath.Join(dir, "policy.p7m"), filepath.Join(dir, "out.json")
			if err := os.WriteFile(p7m, blob, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7m, "-CAfile", cert, "-purpose", "any", "-out", out)
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, doc) {
				t.Fatalf("openssl extracted %q, want the signed document", got)
			}
			// And the other way round: openssl signs, we verify.
			in, osslP7m := filepath.Join(dir, "policy.json"), filepath.Join(dir, "openssl.p7m")
			doc2 := testDoc(t, 4)
			if err := os.WriteFile(in, doc2, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "openssl", "cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER", "-in", in, "-signer", cert, "-inkey", key, "-out", osslP7m)
			ob, _ := os.ReadFile(osslP7m)
			v, err := Verify(ob, VerifyOptions{Signer: c, HeldSerial: 3})
			if err != nil {
				t.Fatalf("verify an openssl-signed policy: %v", err)
			}
			if v.Document.Serial != 4 {
				t.Errorf("serial %d", v.Document.Serial)
			}
			// An openssl-signed policy by another key is refused.
			if _, err := Verify(ob, VerifyOptions{Signer: mustOther(t)}); !errors.Is(err, ErrWrongSigner) {
				t.Errorf("openssl-signed policy with another pinned signer: %v", err)
			}
		})
	}
}

// opensslSigner makes a signer key pair with openssl req (newkey "ec"
// means P-256) in dir and returns the key and certificate files.
func opensslSigner(t testing.TB, dir, name, newkey string) (key, cert string) {
	t.Helper()
	key, cert = filepath.Join(dir, "signer.key"), filepath.Join(dir, "signer.pem")
	args := []string{"req", "-x509", "-newkey", newkey, "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=Policy Signer " + name}
	if newkey == "ec" {
		args = append(args, "-pkeyopt", "ec_paramgen_curve:P-256")
	}
	run(t, "openssl", args...)
	return key, cert
}

func mustOther(t testing.TB) *x509.Certificate {
	c, _ := testpki.SelfSigned(t, "Someone Else")
	return c
}

func TestLoadSignerErrors(t *testing.T) {
	dir := t.TempDir()
	signer, _ := testpki.SelfSigned(t, "s")
	cert := filepath.Join(dir, "c.pem")
	os.WriteFile(cert, []byte(string(testpki.PEM(signer))), 0o644)
	keyFile := filepath.Join(dir, "k.pem")
	for _, tt := range []struct{ name, key, want string }{
		{"missing", "", "no such file"},
		{"not pem", "garbage", "no PEM block"},
		{"cert as key", string(testpki.PEM(signer)), "want a private key"},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(keyFile)
			if tt.key != "" {
				os.WriteFile(keyFile, []byte(tt.key), 0o600)
			}
			_, _, err := LoadSigner(cert, keyFile)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSigner: %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	signer, key := testpki.SelfSigned(f, "Policy Signer")
	good, err := Sign(testDoc(f, 2), signer, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{}"))
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		v, err := Verify(blob, VerifyOptions{Signer: signer})
		if err == nil && v.Document == nil {
			t.Fatal("accepted without a document")
		}
		_, _, _ = Content(blob)
	})
}

// TestVerifySigningTimeTyped: a signature whose signing time falls outside
// the signer's validity is ErrSignerExpired, decided from the signing-time
// attribute against the certificate (also when the signer's validity at
// Now is not checked), while a tampered blob from a valid signing time
// stays ErrTampered.
func TestVerifySigningTimeTyped(t *testing.T) {
	now := time.Now()
	signer, key := testpki.SelfSigned(t, "Policy Signer", testpki.Valid(now.Add(-time.Hour), now.Add(48*time.Hour)))
	doc := testDoc(t, 5)
	tests := []struct {
		name     string
		signedAt time.Time
		tamper   bool
		outside  bool
		want     error
	}{
		{"before not_before", signer.NotBefore.Add(-time.Hour), false, true, ErrSignerExpired},
		{"after not_after", signer.NotAfter.Add(time.Hour), false, true, ErrSignerExpired},
		{"within", now, false, false, nil},
		{"within, tampered", now, true, false, ErrTampered},
		{"outside, tampered", signer.NotAfter.Add(time.Hour), true, true, ErrTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := signedBlob(doc, tt.signedAt, keyPair{signer, key})
			if err != nil {
				t.Fatal(err)
			}
			p7, err := parseSigned(blob)
			if err != nil {
				t.Fatal(err)
			}
			if at, ok := signingTime(p7, 0); !ok || !at.Equal(tt.signedAt.UTC().Truncate(time.Second)) {
				t.Errorf("signingTime = %v, %v; want %v", at, ok, tt.signedAt)
			}
			if got := signedOutsideValidity(p7, 0, signer); got != tt.outside {
				t.Errorf("signedOutsideValidity = %v, want %v", got, tt.outside)
			}
			if tt.tamper {
				blob = bytes.Replace(blob, []byte(`"serial":5`), []byte(`"serial":9`), 1)
			}
			_, err = Verify(blob, VerifyOptions{Signer: signer, AllowExpiredSigner: true, Now: now})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestInspect: the collector's check of an upload returns the content of a
// blob whose signatures verify against their own certificates, whoever
// signed, and refuses the rest with a typed error (the guarded parse: a
// hostile blob is an error, never a panic).
func TestInspect(t *testing.T) {
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	doc := testDoc(t, 5)
	good, err := Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(good, []byte(`"serial":5`), []byte(`"serial":9`), 1)
	detached := detachedSign(t, doc, signer, key)
	degenerate, _ := pkcs7.DegenerateCertificate(signer.Raw)
	tests := []struct {
		name string
		blob []byte
		want error
	}{
		{"DER", good, nil},
		{"PEM", pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: good}), nil},
		{"tampered", tampered, ErrTampered},
		{"plain JSON", doc, ErrUnsigned},
		{"garbage", []byte("\x30\x03\x02\x01"), ErrUnsigned},
		{"indefinite length bomb", bytes.Repeat([]byte{0x30, 0x80}, 5000), ErrUnsigned},
		{"detached", detached, ErrUnsigned},
		{"certs only", degenerate, ErrUnsigned},
		{"over MaxSigned", make([]byte, MaxSigned+1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content, err := Inspect(tt.blob)
			if tt.want == nil {
				if err != nil || !bytes.Equal(content, doc) {
					t.Fatalf("Inspect: %q, %v", content, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Inspect: %v, want %v", err, tt.want)
			}
		})
	}
}
