package java

import (
	"encoding/binary"
	"fmt"
)

// Keystore formats, as reported in stores.Info.Format.
const (
	FormatJKS     = "jks"
	FormatPKCS12  = "pkcs12"
	FormatJCEKS   = "jceks"
	FormatUnknown = "unknown"
)

const (
	magicJKS   = 0xFEEDFEED
	magicJCEKS = 0xCECECECE
)

// Sniff names the keystore format of data from its first bytes: JKS
// (FEEDFEED), JCEKS (CECECECE), PKCS12 (a DER SEQUENCE with a definite
// length that covers the data), or FormatUnknown with a description of what
// was found. It never reads past data and never panics.
func Sniff(data []byte) (format, found string) { return sniff(data, len(data)) }

// sniff is Sniff of the first bytes head of a file of total bytes.
func sniff(data []byte, total int) (format, found string) {
	if len(data) == 0 {
		return FormatUnknown, "an empty file"
	}
	if len(data) >= 4 {
		switch binary.BigEndian.Uint32(data) {
		case magicJKS:
			return FormatJKS, "JKS"
		case magicJCEKS:
			return FormatJCEKS, "JCEKS"
		}
	}
	if data[0] == 0x30 {
		n, hdr, ok := derLength(data)
		switch {
		case !ok:
			return FormatUnknown, "a DER SEQUENCE with a bad length"
		case hdr+n > total:
			return FormatUnknown, fmt.Sprintf("a truncated DER SEQUENCE (%d of %d bytes)", total, hdr+n)
		}
		return FormatPKCS12, "PKCS12"
	}
	switch {
	case hasPrefix(data, "-----BEGIN"):
		return FormatUnknown, "PEM text (a certificate bundle, not a keystore)"
	case len(data) >= 4 && binary.BigEndian.Uint32(data)&0xFFFFFF00 == 0xFEEDFE00:
		return FormatUnknown, "a damaged JKS header"
	}
	n := len(data)
	if n > 4 {
		n = 4
	}
	return FormatUnknown, fmt.Sprintf("no keystore (starts with % x)", data[:n])
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// derLength decodes the definite length of the DER element at the start of
// data: content length n and header length hdr.
func derLength(data []byte) (n, hdr int, ok bool) {
	if len(data) < 2 {
		return 0, 0, false
	}
	b := data[1]
	if b < 0x80 {
		return int(b), 2, true
	}
	k := int(b & 0x7f)
	if k == 0 || k > 4 || len(data) < 2+k {
		return 0, 0, false // indefinite (BER) or absurd
	}
	for _, c := range data[2 : 2+k] {
		n = n<<8 | int(c)
	}
	return n, 2 + k, true
}
