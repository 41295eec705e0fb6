package nss

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseProfilesINI(f *testing.F) {
	f.Add([]byte("[Profile0]\nName=default\nIsRelative=1\nPath=abc.default\nDefault=1\n"))
	f.Add([]byte("[Profile0]\r\nIsRelative=0\r\nPath=/home/a/p\r\n[Install1]\r\nDefault=../x\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ref := range parseProfilesINI(data) {
			if ref.Path == "" || strings.ContainsRune(ref.Path, 0) {
				t.Fatalf("bad ref %+v", ref)
			}
			p := resolveProfile("/home/u/.mozilla/firefox", ref)
			if !path.IsAbs(p) || path.Clean(p) != p {
				t.Fatalf("resolve %+v = %q: not a clean absolute path", ref, p)
			}
		}
	})
}

// FuzzEntries feeds arbitrary attribute values (as they would come out
// of nssPublic) to the CK_ULONG decoding and the certificate/trust join.
func FuzzEntries(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1}, []byte{0xce, 0x53, 0x43, 0x52}, []byte("issuer"), []byte{2, 1, 1}, []byte{0xa5, 0, 0x5a})
	f.Add([]byte{0, 0, 0, 0x0b}, []byte{0, 0, 0, 2}, []byte{}, []byte{}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, class, trust, issuer, serial, value []byte) {
		objs := []object{
			{Class: class, Issuer: issuer, Serial: serial, Value: value, Label: value},
			{Class: []byte{0, 0, 0, 1}, Issuer: issuer, Serial: serial, Value: value},
			{Class: []byte{0xce, 0x53, 0x43, 0x53}, Issuer: issuer, Serial: serial, NSSServer: trust, NSSClient: trust, NSSEmail: class, NSSCode: value, NSSSHA1: value},
			{Class: []byte{0, 0, 0, 0x0b}, Issuer: issuer, Serial: serial, PKCSServer: trust, PKCSHash: value, PKCSHashAl: class},
		}
		es, err := buildEntries(objs, nil)
		if err != nil {
			return
		}
		for _, e := range es {
			switch {
			case e.Cert != nil && len(e.SHA256) != 64:
				t.Fatalf("bad entry %+v", e)
			case e.Cert == nil && (!e.HasLegacy && !e.HasPKCS || len(e.SHA256) != 0 && len(e.SHA256) != 64):
				t.Fatalf("bad leftover trust entry %+v", e)
			}
			_ = e.purposes()
		}
		if v, ok := decodeULong(trust); ok != (len(attrBytes(trust)) == 4) || (!ok && v != 0) {
			t.Fatalf("decodeULong(%x) = %d, %v", trust, v, ok)
		}
	})
}

// FuzzReadDB reads arbitrary bytes as a cert9.db: an error or a result,
// never a panic or a hang.
func FuzzReadDB(f *testing.F) {
	f.Add([]byte("SQLite format 3\x00"))
	f.Add([]byte{})
	if b, err := os.ReadFile(filepath.Join("testdata", "cert9.db")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseDB(context.Background(), data, data, "fuzz")
	})
}

// FuzzMAC feeds arbitrary bytes to the key4.db signature and password
// entry parsers: a verdict, never a panic, and never a MAC that
// verifies by accident.
func FuzzMAC(f *testing.F) {
	if key, err := os.ReadFile(filepath.Join("testdata", "key4.db")); err == nil {
		if m, err := readKeyDB(context.Background(), key); err == nil {
			for _, sig := range m.sigs {
				f.Add(sig, []byte{0xce, 0x53, 0x43, 0x52})
			}
		}
	}
	f.Add([]byte{0x30, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, sig, value []byte) {
		_ = pbeIterations(sig)
		if verifyPBMAC1(sig, passwordKey([]byte("a salt of twenty by"), ""), 1, ckaNSSTrustServerAuth, value) {
			t.Fatalf("signature %x verified for an object it was never made for", sig)
		}
	})
}

// FuzzNSSVersion reads arbitrary bytes as an NSS library: a version or
// an error, never a panic.
func FuzzNSSVersion(f *testing.F) {
	f.Add([]byte("\x00Version: NSS 3.125.1 Basic ECC\x00"))
	f.Add([]byte("Version: NSS 3."))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := parseNSSVersion(data); err == nil && (m < 0 || m > 9999) {
			t.Fatalf("minor %d", m)
		}
	})
}
