package installers

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/anchorwatch/anchorwatch/stores/windows"
)

type pregEntry struct {
	key, value string
	typ        uint32
	data       []byte
}

// parsePReg is an independent reader of Registry.pol, written from the
// format description ("Registry Policy File Format", MS-GPREG 2.2.1).
func parsePReg(b []byte) ([]pregEntry, error) {
	if len(b) < 8 || string(b[:4]) != "PReg" || binary.LittleEndian.Uint32(b[4:]) != 1 {
		return nil, errors.New("bad header")
	}
	b = b[8:]
	u16 := func() (uint16, error) {
		if len(b) < 2 {
			return 0, errors.New("truncated")
		}
		v := binary.LittleEndian.Uint16(b)
		b = b[2:]
		return v, nil
	}
	expect := func(r rune) error {
		v, err := u16()
		if err != nil {
			return err
		}
		if rune(v) != r {
			return fmt.Errorf("got %q, want %q", rune(v), r)
		}
		return nil
	}
	str := func() (string, error) {
		var us []uint16
		for {
			v, err := u16()
			if err != nil {
				return "", err
			}
			if v == 0 {
				return string(utf16.Decode(us)), nil
			}
			us = append(us, v)
		}
	}
	u32 := func() (uint32, error) {
		if len(b) < 4 {
			return 0, errors.New("truncated")
		}
		v := binary.LittleEndian.Uint32(b)
		b = b[4:]
		return v, nil
	}
	var out []pregEntry
	for len(b) > 0 {
		var e pregEntry
		var err error
		steps := []func() error{
			func() error { return expect('[') },
			func() error { e.key, err = str(); return err },
			func() error { return expect(';') },
			func() error { e.value, err = str(); return err },
			func() error { return expect(';') },
			func() error { e.typ, err = u32(); return err },
			func() error { return expect(';') },
			func() error {
				n, err := u32()
				if err != nil {
					return err
				}
				if err := expect(';'); err != nil {
					return err
				}
				if int(n) > len(b) {
					return errors.New("data past the end")
				}
				e.data, b = b[:n], b[n:]
				return nil
			},
			func() error { return expect(']') },
		}
		for i, s := range steps {
			if err := s(); err != nil {
				return nil, fmt.Errorf("entry %d step %d: %w", len(out), i, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func TestRegistryPol(t *testing.T) {
	f := newFixture(t)
	cas := []*x509.Certificate{f.root.Cert, f.inter.Cert}
	pol, err := RegistryPol(cas)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pol, []byte("PReg\x01\x00\x00\x00")) {
		t.Fatalf("header % x", pol[:8])
	}
	entries, err := parsePReg(pol)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	for i, tc := range []struct {
		cert   *x509.Certificate
		prefix string
	}{
		{f.root.Cert, `Software\Policies\Microsoft\SystemCertificates\Root\Certificates\`},
		{f.inter.Cert, `Software\Policies\Microsoft\SystemCertificates\CA\Certificates\`},
	} {
		e := entries[i]
		sum := sha1.Sum(tc.cert.Raw)
		wantKey := tc.prefix + strings.ToUpper(fmt.Sprintf("%x", sum))
		if e.key != wantKey || e.value != "Blob" || e.typ != 3 {
			t.Errorf("entry %d: [%s;%s;%d], want [%s;Blob;3]", i, e.key, e.value, e.typ, wantKey)
		}
		blob, err := windows.DecodeBlob(e.data)
		if err != nil {
			t.Fatalf("entry %d: stores/windows cannot decode the Blob: %v", i, err)
		}
		if !bytes.Equal(blob.DER, tc.cert.Raw) {
			t.Errorf("entry %d: Blob DER is not %s", i, tc.cert.Subject)
		}
		if !bytes.Equal(blob.Props[windows.PropSHA1Hash], sum[:]) {
			t.Errorf("entry %d: SHA-1 property %x", i, blob.Props[windows.PropSHA1Hash])
		}
	}
	// A truncated file must not parse (the test parser can fail).
	if _, err := parsePReg(pol[:len(pol)-3]); err == nil {
		t.Fatal("test parser accepted a truncated Registry.pol")
	}
	if _, err := RegistryPol([]*x509.Certificate{f.root.Leaf(t, "x.example").Leaf}); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("leaf: err = %v", err)
	}
}
