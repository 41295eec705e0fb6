package macos

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MaxOutput bounds what we parse from one security command: a System
// keychain with thousands of certificates is a few MiB.
const MaxOutput = 64 << 20

// ErrBadOutput is wrapped by every error parsing a security command's output.
var ErrBadOutput = errors.New("unexpected output from security")

// KeychainCert is one certificate printed by `security find-certificate -a -Z -p`.
type KeychainCert struct {
	Cert *x509.Certificate
	SHA1 string // uppercase hex, as security prints it and names it in trust settings
}

// ParseFindCertificate parses the output of
// `security find-certificate -a -Z -p KEYCHAIN`: for each certificate a
// "SHA-256 hash: HEX" line (macOS 10.15 and later), a "SHA-1 hash: HEX"
// line, then the PEM block. The printed hashes are checked against the
// DER, so output that was cut or mixed up is an error, not a wrong answer.
func ParseFindCertificate(out []byte) ([]KeychainCert, error) {
	if len(out) > MaxOutput {
		return nil, fmt.Errorf("%w: find-certificate printed %d bytes, over the %d byte limit", ErrBadOutput, len(out), MaxOutput)
	}
	var (
		certs          []KeychainCert
		want1, want256 string
		rest           = out
	)
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		s := strings.TrimSpace(string(line))
		switch {
		case s == "":
		case strings.HasPrefix(s, "SHA-1 hash:"):
			if want1 != "" {
				return nil, fmt.Errorf("%w: two SHA-1 hash lines with no certificate between them", ErrBadOutput)
			}
			want1 = strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(s, "SHA-1 hash:")))
		case strings.HasPrefix(s, "SHA-256 hash:"):
			if want256 != "" || want1 != "" {
				return nil, fmt.Errorf("%w: SHA-256 hash line out of place", ErrBadOutput)
			}
			want256 = strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(s, "SHA-256 hash:")))
		case s == "-----BEGIN CERTIFICATE-----":
			block, after := pem.Decode(append(append([]byte{}, line...), append([]byte{'\n'}, rest...)...))
			if block == nil {
				return nil, fmt.Errorf("%w: certificate %d: PEM block does not decode", ErrBadOutput, len(certs)+1)
			}
			rest = after
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: certificate %d: %v", ErrBadOutput, len(certs)+1, err)
			}
			s1 := sha1.Sum(c.Raw)
			s256 := sha256.Sum256(c.Raw)
			got1 := strings.ToUpper(hex.EncodeToString(s1[:]))
			if want1 == "" {
				return nil, fmt.Errorf("%w: certificate %d has no SHA-1 hash line (was -Z given?)", ErrBadOutput, len(certs)+1)
			}
			if want1 != got1 {
				return nil, fmt.Errorf("%w: certificate %d: printed SHA-1 %s, DER hashes to %s", ErrBadOutput, len(certs)+1, want1, got1)
			}
			if want256 != "" && want256 != strings.ToUpper(hex.EncodeToString(s256[:])) {
				return nil, fmt.Errorf("%w: certificate %d: printed SHA-256 %s does not match the DER", ErrBadOutput, len(certs)+1, want256)
			}
			certs = append(certs, KeychainCert{Cert: c, SHA1: got1})
			want1, want256 = "", ""
		default:
			// Other lines (keychain attribute dumps of older versions)
			// carry nothing we use.
		}
	}
	if want1 != "" {
		return nil, fmt.Errorf("%w: SHA-1 hash %s with no certificate after it (output cut?)", ErrBadOutput, want1)
	}
	return certs, nil
}
