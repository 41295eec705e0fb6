package system

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

func TestParseBundle(t *testing.T) {
	a, _ := systemtest.CA(t, "A")
	b, _ := systemtest.CA(t, "B")
	pa, pb := systemtest.PEM(a), systemtest.PEM(b)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	trusted := pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: append(append([]byte{}, a.Raw...), 0x30, 0x00)})
	badB64 := bytes.Replace(pb, []byte("\n"), []byte("\n!!!!"), 3)

	tests := []struct {
		name    string
		data    []byte
		n       int
		wantErr string
	}{
		{"empty", nil, 0, ""},
		{"two", cat(pa, pb), 2, ""},
		{"comments between blocks", cat([]byte("# A\n"), pa, []byte("\n# B\n"), pb), 2, ""},
		{"no trailing newline", bytes.TrimRight(cat(pa, pb), "\n"), 2, ""},
		{"trusted certificate", trusted, 1, ""},
		{"truncated in a block", cat(pa, pb[:len(pb)/2]), 0, fmt.Sprintf("line %d: PEM block has no END line", bytes.Count(pa, []byte("\n"))+1)},
		{"truncated END line", cat(pa, pb[:len(pb)-8]), 0, "does not decode"},
		{"BEGIN inside a block", cat(pa[:len(pa)/2], pb), 0, "line 1: PEM block has no END line before the next BEGIN"},
		{"corrupt base64", cat(pa, badB64), 0, "does not decode"},
		{"private key", cat(pa, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})), 0, `type "PRIVATE KEY"`},
		{"not a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}), 0, "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ents, certs, err := parseBundle(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != tt.n || len(certs) != tt.n {
				t.Fatalf("got %d entries, %d certs; want %d", len(ents), len(certs), tt.n)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	a, _ := systemtest.CA(t, "A")
	b, _ := systemtest.CA(t, "B")
	// DER anchor file (p11-kit accepts it).
	p, err := parseSource(a.Raw)
	if err != nil || len(p.Certs) != 1 || !bytes.Equal(p.Certs[0].DER, a.Raw) {
		t.Fatalf("DER: %+v %v", p, err)
	}
	if _, err := parseSource([]byte("hello")); err == nil {
		t.Fatal("text accepted as a certificate file")
	}
	// A p11-kit source: the second object is distrusted.
	p11 := "[p11-kit-object-v1]\nlabel: \"A\"\ntrusted: true\nnss-mozilla-ca-policy: true\n" + string(systemtest.PEM(a)) +
		"\n[p11-kit-object-v1]\nlabel: \"B\"\nx-distrusted: true\n" + string(systemtest.PEM(b)) +
		"\n[p11-kit-object-v1]\nclass: x-certificate-extension\n" + string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b.RawSubjectPublicKeyInfo}))
	p, err = parseSource([]byte(p11))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Certs) != 2 || p.Certs[0].Distrusted || !p.Certs[1].Distrusted || len(p.PublicKeys) != 1 {
		t.Fatalf("p11-kit: %+v", p)
	}
}

// FuzzParseBundle: no input may panic, and an accepted bundle's blocks
// are all certificates.
func FuzzParseBundle(f *testing.F) {
	a, _ := systemtest.CA(f, "A")
	f.Add(systemtest.PEM(a))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMII\n"))
	f.Add([]byte("[p11-kit-object-v1]\nx-distrusted: true\n-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, certs, err := parseBundle(data)
		if err == nil && len(ents) != len(certs) {
			t.Fatalf("%d entries, %d certs", len(ents), len(certs))
		}
		_, _ = parseSource(data)
	})
}

// FuzzDecodeBlock: the fast PEM path agrees with encoding/pem whenever it
// accepts a block.
func FuzzDecodeBlock(f *testing.F) {
	a, _ := systemtest.CA(f, "A")
	f.Add(systemtest.PEM(a))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN X-----\r\nAA==\r\n-----END X-----"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := decodeBlock(data)
		if got == nil {
			return
		}
		want, _ := pem.Decode(data)
		if want == nil {
			t.Fatalf("decodeBlock accepted what encoding/pem rejects: %q", data)
		}
		if got.Type != want.Type || !bytes.Equal(got.Bytes, want.Bytes) {
			t.Fatalf("decodeBlock = %q %x, encoding/pem = %q %x", got.Type, got.Bytes, want.Type, want.Bytes)
		}
	})
}
