package installers

import (
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// Registry.pol (the PReg format Group Policy's registry extension reads
// from Machine\Registry.pol in a GPO).
const (
	PRegSignature = "PReg"
	PRegVersion   = 1
	RegBinary     = 3 // REG_BINARY
)

// GPORootKey and GPOCAKey are the machine policy keys (under HKLM) whose
// Certificates subkeys hold the roots and intermediates a GPO deploys.
const (
	GPORootKey = `Software\Policies\Microsoft\SystemCertificates\Root\Certificates`
	GPOCAKey   = `Software\Policies\Microsoft\SystemCertificates\CA\Certificates`
)

// RegistryPol returns a Registry.pol (PReg version 1) that deploys the CAs:
// per certificate, the value Blob (REG_BINARY) under
// GPORootKey\<SHA1> for a self-signed CA and GPOCAKey\<SHA1> for an
// intermediate. The Blob is the serialized certificate element crypt32
// reads (GPOBlob): the SHA-1 hash property, the EKU property restricting
// the CA to TLS server authentication, and the DER.
func RegistryPol(cas []*x509.Certificate) ([]byte, error) {
	if err := checkCAs(cas); err != nil {
		return nil, fmt.Errorf("registry.pol: %w", err)
	}
	out := []byte(PRegSignature)
	out = binary.LittleEndian.AppendUint32(out, PRegVersion)
	for _, c := range cas {
		key := GPORootKey
		if !IsRoot(c) {
			key = GPOCAKey
		}
		out = appendPRegEntry(out, key+`\`+SHA1Hex(c), "Blob", RegBinary, GPOBlob(c))
	}
	return out, nil
}

// appendPRegEntry appends [key;value;type;size;data]: the brackets and
// semicolons and both strings UTF-16LE, the strings NUL-terminated, type
// and size little-endian u32.
func appendPRegEntry(out []byte, key, value string, typ uint32, data []byte) []byte {
	out = appendUTF16(out, "[")
	out = appendUTF16(out, key+"\x00;")
	out = appendUTF16(out, value+"\x00;")
	out = binary.LittleEndian.AppendUint32(out, typ)
	out = appendUTF16(out, ";")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	out = appendUTF16(out, ";")
	out = append(out, data...)
	return appendUTF16(out, "]")
}

func appendUTF16(out []byte, s string) []byte {
	for _, u := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}
