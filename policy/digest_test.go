package policy

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestOpenSSLDigestAlgorithms signs policies with the real openssl and
// the digests it offers: SHA-1 and MD5 are refused with
// ErrWeakAlgorithm, SHA-256/384/512 accepted, for RSA and ECDSA signers.
func TestOpenSSLDigestAlgorithms(t *testing.T) {
	needTool(t, "openssl", "openssl")
	for _, alg := range []struct{ name, newkey string }{{"rsa", "rsa:2048"}, {"ec", "ec"}} {
		t.Run(alg.name, func(t *testing.T) {
			dir := t.TempDir()
			key, cert := opensslSigner(t, dir, alg.name, alg.newkey)
			signer, err := LoadCertificate(cert)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "policy.json")
			if err := os.WriteFile(in, testDoc(t, 7), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, md := range []struct {
				name string
				ok   bool
			}{{"md5", false}, {"sha1", false}, {"sha256", true}, {"sha384", true}, {"sha512", true}} {
				if md.name == "md5" && alg.name == "ec" {
					continue // openssl: no ECDSA with MD5
				}
				out := filepath.Join(dir, md.name+".p7m")
				run(t, "openssl", "cms", "-sign", "-binary", "-nodetach", "-md", md.name, "-outform", "DER", "-in", in, "-signer", cert, "-inkey", key, "-out", out)
				blob, _ := os.ReadFile(out)
				v, err := Verify(blob, VerifyOptions{Signer: signer})
				switch {
				case md.ok && err != nil:
					t.Errorf("-md %s: refused: %v", md.name, err)
				case md.ok && v.Digest != map[string]string{"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}[md.name]:
					t.Errorf("-md %s: verified as %s", md.name, v.Digest)
				case !md.ok && !errors.Is(err, ErrWeakAlgorithm):
					t.Errorf("-md %s: %v, want ErrWeakAlgorithm", md.name, err)
				default:
					t.Logf("-md %s: %v", md.name, err)
				}
			}
		})
	}
}

// TestVerifyValidity: a policy is taken in only between not_before and
// not_after, and only when it carries not_after (an old policy, signed
// before expiry existed, replayed to a fresh agent holding serial 0, is
// refused); AllowExpired lets the agent keep the one it holds.
func TestVerifyValidity(t *testing.T) {
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	now := time.Now()
	ca := string(testpki.PEM(testpki.NewCA(t, "Corp Root").Cert))
	doc := func(fields map[string]any) []byte {
		m := map[string]any{"serial": 3, "anchors": []any{map[string]any{"pem": ca}}}
		for k, v := range fields {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	valid := mustSign(t, doc(map[string]any{"not_after": ts(now.Add(48 * time.Hour))}), signer, key)
	noExpiry := rawSign(t, doc(nil), signer, key) // as signed before not_after existed
	expiredAt := now.Add(2 * time.Hour)
	future := mustSign(t, doc(map[string]any{"not_before": ts(now.Add(time.Hour)), "not_after": ts(now.Add(48 * time.Hour))}), signer, key)
	if _, err := Verify(valid, VerifyOptions{Signer: signer, MinSerial: 4}); !errors.Is(err, ErrReplayed) || !strings.Contains(err.Error(), "min_policy_serial") {
		t.Errorf("serial 3 under MinSerial 4: %v", err)
	}
	if _, err := Verify(valid, VerifyOptions{Signer: signer, MinSerial: 3}); err != nil {
		t.Errorf("serial 3 at MinSerial 3: %v", err)
	}
	for _, tt := range []struct {
		name  string
		blob  []byte
		now   time.Time
		allow bool
		want  error
	}{
		{"valid", valid, now, false, nil},
		{"expired", valid, now.Add(49 * time.Hour), false, ErrExpired},
		{"expired, held", valid, now.Add(49 * time.Hour), true, nil},
		{"no expiry", noExpiry, now, false, ErrNoExpiry},
		{"no expiry, held", noExpiry, now, true, nil},
		{"not yet valid", future, now, false, ErrNotYetValid},
		{"now valid", future, expiredAt, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.blob, VerifyOptions{Signer: signer, Now: tt.now, AllowExpired: tt.allow})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func mustSign(t *testing.T, doc []byte, cert *x509.Certificate, key crypto.Signer) []byte {
	t.Helper()
	b, err := Sign(doc, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignSetsNotAfter: Sign inserts not_after (default 90 days, or
// ValidFor) into a document without one and changes nothing else; it
// refuses a doubled or out-of-range validity.
func TestSignSetsNotAfter(t *testing.T) {
	ca := string(testpki.PEM(testpki.NewCA(t, "Corp Root").Cert))
	pemJSON, _ := json.Marshal(ca)
	doc := []byte("{\n  \"//\": \"comment\",\n  \"serial\": 4,\n  \"anchors\": [{\"pem\": " + string(pemJSON) + "}]\n}\n")
	// The PKCS#7 signing time is the clock's: sign at the real time.
	now := time.Now().UTC().Truncate(time.Second)
	signerAt, keyAt := testpki.SelfSigned(t, "Policy Signer")
	blob, err := SignWith(doc, signerAt, keyAt, SignOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	content, _, err := Content(blob)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"not_after\": \"" + now.Add(90*24*time.Hour).Format(time.RFC3339) + "\",\n  \"//\": \"comment\",\n  \"serial\": 4,"
	if !bytes.HasPrefix(content, []byte(want)) || !bytes.HasSuffix(content, doc[len("{\n  \"//\": \"comment\",\n  \"serial\": 4,"):]) {
		t.Fatalf("signed content:\n%s\nwant it to start with\n%s\nand end as the document", content, want)
	}
	blob, err = SignWith(doc, signerAt, keyAt, SignOptions{Now: now, ValidFor: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(blob, VerifyOptions{Signer: signerAt, Now: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Document.NotAfter.UTC(); !got.Equal(now.Add(7 * 24 * time.Hour)) {
		t.Errorf("not_after %s, want 7 days after signing", got)
	}
	if w := v.Document.WarnAt(v.SignedAt); !w.Equal(now.Add(7*24*time.Hour - 42*time.Hour)) {
		t.Errorf("warn at %s, want a quarter of the 7-day life before not_after", w)
	}
	withNA := []byte(strings.Replace(string(doc), "\"serial\": 4,", "\"serial\": 4, \"not_after\": \""+now.Add(20*24*time.Hour).Format(time.RFC3339)+"\",", 1))
	if _, err := SignWith(withNA, signerAt, keyAt, SignOptions{Now: now, ValidFor: time.Hour * 48}); !errors.Is(err, ErrInvalid) {
		t.Errorf("not_after and ValidFor both: %v", err)
	}
	if _, err := SignWith(withNA, signerAt, keyAt, SignOptions{Now: now}); err != nil {
		t.Errorf("the document's own not_after: %v", err)
	}
	for _, d := range []time.Duration{time.Minute, 4 * 366 * 24 * time.Hour, -time.Hour} {
		if _, err := SignWith(doc, signerAt, keyAt, SignOptions{Now: now, ValidFor: d}); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidFor %s: %v, want refused", d, err)
		}
	}
	past := []byte(strings.Replace(string(doc), "\"serial\": 4,", "\"serial\": 4, \"not_after\": \""+now.Add(-24*time.Hour).Format(time.RFC3339)+"\",", 1))
	if _, err := SignWith(past, signerAt, keyAt, SignOptions{Now: now}); !errors.Is(err, ErrInvalid) {
		t.Errorf("not_after in the past: %v", err)
	}
}
