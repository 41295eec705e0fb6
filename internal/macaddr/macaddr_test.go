package macaddr

import (
	"net"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	const want = "00:1a:2b:3c:4d:5e"
	for _, in := range []string{
		"00:1a:2b:3c:4d:5e", "00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e",
		"001A2B3C4D5E", " 00:1a:2b:3c:4d:5e\n",
	} {
		if got, ok := Normalize(in); !ok || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "00:1a:2b:3c:4d", "00:1a:2b:3c:4d:5e:6f", "00:1a-2b:3c:4d:5e", "00.1a.2b.3c.4d.5e",
		"0:1a:2b:3c:4d:5e:", "00:1a:2b:3c:4d:5g", "001a2b3c4d5", "001a2b3c4d5e6f", "00:1a:2b:3c:4d:5e:6f:70",
		"001a:2b3c:4d5e", "0x1a2b3c4d5e", "00:1a:2b:3c:4d:5+",
	} {
		if got, ok := Normalize(in); ok {
			t.Errorf("Normalize(%q) = %q, accepted", in, got)
		}
	}
}

// FuzzNormalize: whatever the input, an accepted MAC comes out in
// canonical form, normalizing it again is the identity, and the standard
// library reads it as the same 6-byte address.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"00:11:22:33:44:55", "00-11-22-33-44-55", "0011.2233.4455", "001122334455", "AA:BB:CC:DD:EE:FF", " 00:11:22:33:44:55 ", "00:11-22:33:44:55", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := Normalize(s)
		if !ok {
			if m != "" {
				t.Fatalf("refused %q but returned %q", s, m)
			}
			return
		}
		if len(m) != 17 || m != strings.ToLower(m) {
			t.Fatalf("Normalize(%q) = %q: not canonical", s, m)
		}
		if again, ok := Normalize(m); !ok || again != m {
			t.Fatalf("Normalize(%q) = %q, %v: not idempotent", m, again, ok)
		}
		hw, err := net.ParseMAC(m)
		if err != nil || len(hw) != 6 || hw.String() != m {
			t.Fatalf("Normalize(%q) = %q; net.ParseMAC: %v %v", s, m, hw, err)
		}
	})
}
