//go:build linux

package java

import (
	"testing"
)

// FuzzSniff: format sniffing of arbitrary bytes never panics and agrees
// with itself on the header.
func FuzzSniff(f *testing.F) {
	f.Add([]byte{0xfe, 0xed, 0xfe, 0xed})
	f.Fuzz(func(t *testing.T, data []byte) {
		format, found := Sniff(data)
		if found == "" {
			t.Fatal("no description")
		}
		switch format {
		case FormatJKS, FormatJCEKS, FormatPKCS12, FormatUnknown:
		default:
			t.Fatalf("format %q", format)
		}
	})
}

// FuzzDecode: decoding arbitrary bytes as a keystore (JKS through the
// length-checked scanner and keystore-go, PKCS12 through the bag walker and
// its crypto) never panics; whatever decodes re-encodes (when writable)
// into something that decodes to the same anchors.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := decode(data, []string{"changeit", ""})
		if err != nil {
			return
		}
		as := kf.anchors()
		out, err := kf.encode()
		if err != nil {
			return // e.g. a PKCS12 go-pkcs12 cannot write back
		}
		kf2, err := decode(out, []string{kf.password})
		if err != nil {
			t.Fatalf("re-encoded keystore does not decode: %v", err)
		}
		if anchorSet(kf2.anchors()) != anchorSet(as) {
			t.Fatal("re-encoded keystore holds other anchors")
		}
	})
}
