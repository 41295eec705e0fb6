package installers

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
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
		// The property records read without stores/windows: id 9
		// (CERT_ENHKEY_USAGE_PROP_ID) holds the DER of the EKU sequence
		// {serverAuth} and nothing more.
		props := blobRecords(t, e.data)
		if want := []byte{0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01}; !bytes.Equal(props[9], want) {
			t.Errorf("entry %d: property 9 = % x, want the serverAuth EKU % x", i, props[9], want)
		}
		if !bytes.Equal(props[32], tc.cert.Raw) || len(props) != 3 {
			t.Errorf("entry %d: properties %v, want 3 with the DER as 32", i, len(props))
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

// TestGPOKit: the kit's Registry.pol is the one RegistryPol writes; the
// PowerShell script sets exactly its values (same keys, the same Blob
// bytes); GPT.INI, the extension list and the README are what Group
// Policy and an admin need, with Windows line ends.
func TestGPOKit(t *testing.T) {
	f := newFixture(t)
	cas := []*x509.Certificate{f.root.Cert, f.inter.Cert}
	files, err := GPOKit(cas)
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := RegistryPol(cas)
	if !bytes.Equal(files["Machine/Registry.pol"], pol) {
		t.Error("the kit's Registry.pol differs from RegistryPol's")
	}
	entries, err := parsePReg(files["Machine/Registry.pol"])
	if err != nil {
		t.Fatal(err)
	}
	script := string(files["Install-AnchorwatchGPO.ps1"])
	setRE := regexp.MustCompile(`(?m)^Set-GPRegistryValue -Guid \$gpo\.Id -Key '([^']+)' -ValueName 'Blob' -Type Binary -Value \(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]+)'\)\) \| Out-Null\r$`)
	sets := setRE.FindAllStringSubmatch(script, -1)
	if len(sets) != len(entries) {
		t.Fatalf("the script sets %d values, Registry.pol holds %d:\n%s", len(sets), len(entries), script)
	}
	for i, e := range entries {
		blob, err := base64.StdEncoding.DecodeString(sets[i][2])
		if err != nil || sets[i][1] != `HKLM\`+e.key || e.value != "Blob" || !bytes.Equal(blob, e.data) {
			t.Errorf("script value %d (%s) differs from Registry.pol's %s\\%s", i, sets[i][1], e.key, e.value)
		}
	}
	for _, want := range []string{"param(", "[switch]$RemoveOthers", "New-GPO -Name $GpoName", "Remove-GPRegistryValue"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if got := string(files["GPT.INI"]); got != "[General]\r\nVersion=1\r\n" {
		t.Errorf("GPT.INI %q", got)
	}
	ext := strings.TrimSpace(string(files["gPCMachineExtensionNames.txt"]))
	pairs := regexp.MustCompile(`\[(\{[0-9A-F-]{36}\})(\{[0-9A-F-]{36}\})\]`).FindAllStringSubmatch(ext, -1)
	if len(pairs) != 2 || pairs[0][1] != "{35378EAC-683F-11D2-A89A-00C04FBBCFA2}" || pairs[0][1] >= pairs[1][1] {
		t.Errorf("gPCMachineExtensionNames %q: want the Registry extension first, sorted by GUID", ext)
	}
	readme := string(files["README.txt"])
	for _, c := range cas {
		if !strings.Contains(readme, SHA1Hex(c)) || !bytes.Equal(files[SHA1Hex(c)+".cer"], c.Raw) {
			t.Errorf("README or .cer lacks %s", SHA1Hex(c))
		}
	}
	for _, want := range []string{`SYSVOL\<domain>\Policies\{GPO-GUID}\Machine\Registry.pol`, "versionNumber", "-RemoveOthers", "LGPO.exe"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	for name, data := range files {
		if strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".ps1") || strings.HasSuffix(name, ".INI") {
			if strings.Count(string(data), "\n") != strings.Count(string(data), "\r\n") {
				t.Errorf("%s has bare LF line ends", name)
			}
		}
	}
}

// blobRecords splits a certificate Blob into its property records
// ({id u32, encoding u32, length u32, value}, little-endian), written
// from the format description, not from stores/windows.
func blobRecords(t *testing.T, b []byte) map[uint32][]byte {
	t.Helper()
	out := map[uint32][]byte{}
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("truncated record header: % x", b)
		}
		id, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[8:])
		if int(n) > len(b)-12 {
			t.Fatalf("record %d: length %d past the end", id, n)
		}
		out[id] = b[12 : 12+n]
		b = b[12+n:]
	}
	return out
}
