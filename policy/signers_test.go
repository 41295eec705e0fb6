package policy

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestCosignMOfN: a policy signed by A and cosigned by B verifies with
// openssl (both signatures) and passes a 2-of-2 agent; signed by A alone
// it is refused for an anchor change and accepted for an interval
// change; a third signer nobody pinned does not count.
func TestCosignMOfN(t *testing.T) {
	needTool(t, "openssl", "openssl")
	a, aKey := testpki.SelfSigned(t, "Signer A")
	b, bKey := testpki.SelfSigned(t, "Signer B", testpki.RSA(2048))
	c, cKey := testpki.SelfSigned(t, "Signer C")
	ca := testpki.NewCA(t, "Corp Root").Cert
	ca2 := testpki.NewCA(t, "Corp Root 2").Cert
	notAfter := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	held, err := Parse(docJSON(t, map[string]any{"serial": 1, "anchors": []any{anchorOf(ca)}, "heartbeat_interval": "5m"}))
	if err != nil {
		t.Fatal(err)
	}
	anchorChange := docJSON(t, map[string]any{"serial": 2, "not_after": notAfter, "anchors": []any{anchorOf(ca), anchorOf(ca2)}, "heartbeat_interval": "5m"})
	intervalChange := docJSON(t, map[string]any{"serial": 2, "not_after": notAfter, "anchors": []any{anchorOf(ca)}, "heartbeat_interval": "1m"})

	one, err := Sign(anchorChange, a, aKey)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Cosign(one, b, bKey, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	opt := VerifyOptions{Signers: []*x509.Certificate{a, b}, Required: 2, Held: held, HeldSerial: 1}
	v, err := Verify(two, opt)
	if err != nil {
		t.Fatalf("2 of 2: %v", err)
	}
	if len(v.Signers) != 2 || !v.Signers[0].Equal(a) && !v.Signers[1].Equal(a) || strings.Join(v.Changes, ",") != "anchors" {
		t.Errorf("signers %d, changes %v", len(v.Signers), v.Changes)
	}
	// The real openssl verifies both signatures of the cosigned policy.
	dir := t.TempDir()
	p7m, pins, out := filepath.Join(dir, "p.p7m"), filepath.Join(dir, "pins.pem"), filepath.Join(dir, "out.json")
	os.WriteFile(p7m, two, 0o644)
	os.WriteFile(pins, testpki.PEM(a, b), 0o644)
	run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7m, "-CAfile", pins, "-purpose", "any", "-out", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, anchorChange) {
		t.Fatal("openssl extracted other content")
	}
	if info := string(run(t, "openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", p7m)); strings.Count(info, "signatureAlgorithm:") != 2 {
		t.Errorf("openssl sees %d signer infos, want 2", strings.Count(info, "signatureAlgorithm:"))
	}

	// 1 of 2 required: refused for the anchor change, naming it.
	_, err = Verify(one, opt)
	if !errors.Is(err, ErrTooFewSignatures) || !strings.Contains(err.Error(), "changes anchors, which needs 2 signatures") || !strings.Contains(err.Error(), "carries 1 valid") {
		t.Fatalf("1 of 2 for an anchor change: %v", err)
	}
	// ... and for an agent holding no policy.
	noHeld := opt
	noHeld.Held, noHeld.HeldSerial = nil, 0
	if _, err := Verify(one, noHeld); !errors.Is(err, ErrTooFewSignatures) {
		t.Errorf("1 of 2 without a held policy: %v", err)
	}
	// An interval change passes with one.
	iv, err := Sign(intervalChange, b, bKey)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Verify(iv, opt); err != nil || len(v.Changes) != 0 {
		t.Errorf("interval change with 1 of 2: %v (changes %v)", err, v)
	}
	// C is not pinned: its cosignature does not count.
	withC, err := Cosign(one, c, cKey, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(withC, opt); !errors.Is(err, ErrTooFewSignatures) {
		t.Errorf("A + unpinned C: %v", err)
	}
	// A second signature by A is refused, and would count once.
	if _, err := Cosign(one, a, aKey, time.Time{}); err == nil || !strings.Contains(err.Error(), "has signed it already") {
		t.Errorf("cosign twice by A: %v", err)
	}
	// Cosigning what does not verify is refused.
	tampered := bytes.Replace(one, []byte(`"serial":2`), []byte(`"serial":8`), 1)
	if _, err := Cosign(tampered, b, bKey, time.Time{}); !errors.Is(err, ErrTampered) {
		t.Errorf("cosign a tampered policy: %v", err)
	}
	// A broken signature by a pinned signer refuses the whole policy, even
	// beside a good one: B's certificate, A's key (Cosign itself refuses).
	if _, err := Cosign(one, b, aKey, time.Time{}); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("cosign with the wrong key: %v", err)
	}
	parts, err := decodeSignedData(one)
	if err != nil {
		t.Fatal(err)
	}
	si, alg, err := newSignerInfo(parts.content, b, aKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parts.signerInfos, parts.digestAlgs, parts.certs = append(parts.signerInfos, si), append(parts.digestAlgs, alg), append(parts.certs, b.Raw)
	forged, err := encodeSignedData(parts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(forged, opt); !errors.Is(err, ErrTampered) {
		t.Errorf("forged cosignature: %v", err)
	}
}

// TestOpenSSLTwoSigners: openssl cms -sign with two signers is a 2-of-2
// policy.
func TestOpenSSLTwoSigners(t *testing.T) {
	needTool(t, "openssl", "openssl")
	dir := t.TempDir()
	aKey, aCert := opensslSigner(t, filepath.Join(dir), "a", "ec")
	bDir := filepath.Join(dir, "b")
	os.Mkdir(bDir, 0o700)
	bKey, bCert := opensslSigner(t, bDir, "b", "rsa:2048")
	in, out := filepath.Join(dir, "p.json"), filepath.Join(dir, "p.p7m")
	os.WriteFile(in, testDoc(t, 3), 0o644)
	run(t, "openssl", "cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER", "-in", in,
		"-signer", aCert, "-inkey", aKey, "-signer", bCert, "-inkey", bKey, "-out", out)
	blob, _ := os.ReadFile(out)
	a, _ := LoadCertificate(aCert)
	b, _ := LoadCertificate(bCert)
	v, err := Verify(blob, VerifyOptions{Signers: []*x509.Certificate{a, b}, Required: 2})
	if err != nil || len(v.Signers) != 2 {
		t.Fatalf("openssl 2 signers: %v", err)
	}
	// Cosign needs DER we can take apart; openssl's is.
	c, cKey := testpki.SelfSigned(t, "Signer C")
	three, err := Cosign(blob, c, cKey, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Verify(three, VerifyOptions{Signers: []*x509.Certificate{a, b, c}, Required: 3}); err != nil || len(v.Signers) != 3 {
		t.Fatalf("3 of 3 after cosign: %v", err)
	}
}

// TestNextSigners: a policy signed by A names B; a verifier holding it
// accepts a policy B signed (and nothing else new), as the agent does.
func TestNextSigners(t *testing.T) {
	a, aKey := testpki.SelfSigned(t, "Signer A")
	b, bKey := testpki.SelfSigned(t, "Signer B")
	x, xKey := testpki.SelfSigned(t, "Signer X")
	ca := testpki.NewCA(t, "Corp Root").Cert
	first, err := Sign(docJSON(t, map[string]any{"serial": 1, "anchors": []any{anchorOf(ca)}, "next_signers": []string{string(testpki.PEM(b))}}), a, aKey)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := Verify(first, VerifyOptions{Signer: a})
	if err != nil {
		t.Fatal(err)
	}
	next := v1.Document.NextSignerCerts()
	if len(next) != 1 || !next[0].Equal(b) || !slices.Contains(v1.Changes, "next_signers") {
		t.Fatalf("next signers %v, changes %v", next, v1.Changes)
	}
	second, err := Sign(docJSON(t, map[string]any{"serial": 2, "anchors": []any{anchorOf(ca)}}), b, bKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(second, VerifyOptions{Signer: a, HeldSerial: 1}); !errors.Is(err, ErrWrongSigner) {
		t.Fatalf("B without the next signers: %v", err)
	}
	v2, err := Verify(second, VerifyOptions{Signer: a, NextSigners: next, HeldSerial: 1})
	if err != nil || !v2.Signer.Equal(b) {
		t.Fatalf("B as next signer: %v", err)
	}
	byX, _ := Sign(docJSON(t, map[string]any{"serial": 2, "anchors": []any{anchorOf(ca)}}), x, xKey)
	if _, err := Verify(byX, VerifyOptions{Signer: a, NextSigners: next, HeldSerial: 1}); !errors.Is(err, ErrWrongSigner) || !strings.Contains(err.Error(), `"CN=Signer A,O=Anchorwatch test"`) {
		t.Fatalf("X: %v", err)
	}
	// Sign refuses a next signer that is not valid now.
	old, _ := testpki.SelfSigned(t, "Old", testpki.Valid(time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)))
	if _, err := Sign(docJSON(t, map[string]any{"serial": 3, "anchors": []any{anchorOf(ca)}, "next_signers": []string{string(testpki.PEM(old))}}), a, aKey); err == nil || !strings.Contains(err.Error(), "next_signers[0]") {
		t.Errorf("expired next signer: %v", err)
	}
}

func TestTrustChanges(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	base := func(extra map[string]any) *Document {
		m := map[string]any{"serial": 1, "anchors": []any{anchorOf(ca)}, "report_unknown_roots": true}
		for k, v := range extra {
			m[k] = v
		}
		d, err := Parse(docJSON(t, m))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	held := base(nil)
	for _, tt := range []struct {
		extra map[string]any
		want  string
	}{
		{map[string]any{"serial": 9, "not_after": "2031-01-01T00:00:00Z", "not_before": "2020-01-01T00:00:00Z", "heartbeat_interval": "1m", "rescan_interval": "1h"}, ""},
		{map[string]any{"report_unknown_roots": false}, "report_unknown_roots"},
		{map[string]any{"exemptions": []any{map[string]any{"hosts": []string{"a"}, "reason": "r"}}}, "exemptions"},
		{map[string]any{"enforce_blocklist": true, "java_passwords": map[string]string{"/k": "p"}}, "enforce_blocklist,java_passwords"},
		{map[string]any{"anchors": []any{anchorOf(ca, "stores", []string{"java"})}}, "anchors"},
		{map[string]any{"do_not_decrypt": []any{map[string]any{"destinations": []string{"bank.example"}, "reason": "r", "expires": "2031-01-01T00:00:00Z"}}}, "do_not_decrypt"},
	} {
		if got := strings.Join(TrustChanges(held, base(tt.extra)), ","); got != tt.want {
			t.Errorf("%v: changes %q, want %q", tt.extra, got, tt.want)
		}
	}
	if got := TrustChanges(nil, held); strings.Join(got, ",") != "anchors,report_unknown_roots" {
		t.Errorf("nothing held: %v", got)
	}
}

func TestLoadCertificates(t *testing.T) {
	dir := t.TempDir()
	a, _ := testpki.SelfSigned(t, "A")
	b, _ := testpki.SelfSigned(t, "B")
	f := testpki.WritePEM(t, filepath.Join(dir, "pins.pem"), a, b)
	got, err := LoadCertificates(f)
	if err != nil || len(got) != 2 || !got[1].Equal(b) {
		t.Fatalf("LoadCertificates: %v %v", got, err)
	}
	testpki.WritePEM(t, f, a, a)
	if _, err := LoadCertificates(f); err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Errorf("duplicate: %v", err)
	}
	if got, err := LoadCertificates(testpki.WriteDER(t, filepath.Join(dir, "a.der"), a)); err != nil || len(got) != 1 {
		t.Errorf("DER: %v", err)
	}
}

// FuzzDecodeSignedData: the SignedData reader Cosign uses never panics,
// and what it reads writes back to something it reads the same.
func FuzzDecodeSignedData(f *testing.F) {
	a, aKey := testpki.SelfSigned(f, "Signer A")
	good, err := Sign(testDoc(f, 2), a, aKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		p, err := decodeSignedData(der)
		if err != nil {
			return
		}
		out, err := encodeSignedData(p)
		if err != nil {
			return // e.g. an element that is not valid in a SET
		}
		q, err := decodeSignedData(out)
		if err != nil {
			t.Fatalf("re-encoded SignedData does not decode: %v", err)
		}
		if !bytes.Equal(p.content, q.content) || len(q.signerInfos) > len(p.signerInfos) || len(q.certs) > len(p.certs) {
			t.Fatalf("round trip changed the content or grew: %d/%d signer infos", len(p.signerInfos), len(q.signerInfos))
		}
	})
}
