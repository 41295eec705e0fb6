package policy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestCheckBERHostile: input that made go.mozilla.org/pkcs7 allocate
// without bound (24 GiB for a 3.6 KiB blob: a policy document behind a
// BER SEQUENCE header) is refused at once, by Verify and by the .p7b
// reader, while real signed policies and bundles pass.
func TestCheckBERHostile(t *testing.T) {
	doc := bytes.Repeat([]byte(`{ "//": "a policy", "serial": 7, "anchors": [ ] } `), 70)
	evil := append([]byte{0x30, 0x80}, doc...)
	deep := append(bytes.Repeat([]byte{0x30, 0x80}, 2000), bytes.Repeat([]byte{0, 0}, 2000)...)
	signer, _ := testpki.SelfSigned(t, "BER Test Signer")
	for name, in := range map[string][]byte{"policy behind a BER header": evil, "2000 nested indefinite": deep,
		"length past the end": {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02}, "indefinite primitive": {0x04, 0x80, 0, 0},
		"no end-of-contents": {0x30, 0x80, 0x02, 0x01, 0x05}, "trailing bytes": {0x05, 0x00, 0x05}} {
		start := time.Now()
		if err := CheckBER(in); !errors.Is(err, ErrMalformedBER) {
			t.Errorf("%s: CheckBER = %v, want ErrMalformedBER", name, err)
		}
		if _, err := Verify(in, VerifyOptions{Signer: signer}); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: Verify = %v, want a malformed-PKCS#7 error", name, err)
		}
		p := filepath.Join(t.TempDir(), "bundle.p7b")
		os.WriteFile(p, in, 0o600)
		if _, err := LoadCAFile(p); err == nil {
			t.Errorf("%s: LoadCAFile accepted it", name)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", name, d) // a guard against the old blow-up, not a speed check
		}
	}
	// Real DER passes (signed policies and openssl .p7b files pass through
	// it in the sign and cainput tests).
	if err := CheckBER(signer.Raw); err != nil {
		t.Errorf("a real certificate: %v", err)
	}
}

func FuzzCheckBER(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x05, 0, 0})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x05})
	f.Add(append([]byte{0x30, 0x80}, []byte(`{"serial":1}`)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = CheckBER(in)
	})
}
