package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// MaxCAInput bounds a CA input file; real bundles are a few hundred KiB.
const MaxCAInput = 16 << 20

// ErrNotCA is returned (wrapped) for a certificate that is not a CA.
var ErrNotCA = errors.New("not a CA certificate")

// LoadCAFile reads and parses a CA file; see ParseCAs.
func LoadCAFile(path string) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	data, err := fsroot.ReadAll(f, fi.Size(), MaxCAInput)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	certs, err := ParseCAs(data)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	return certs, nil
}

// ParseCAs parses CA certificates from PEM (one or many CERTIFICATE or
// PKCS7 blocks), DER, or a DER PKCS#7 certificate bundle (.p7b/.p7c). Every
// certificate must be a CA (basicConstraints cA=TRUE); anything else, and
// input holding no certificate at all, is refused with the reason.
func ParseCAs(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxCAInput {
		return nil, fmt.Errorf("%d bytes is over the %d byte limit", len(data), MaxCAInput)
	}
	if err := checkTextEncoding(data); err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	switch {
	case bytes.Contains(data, []byte("-----BEGIN")):
		rest := stripBOMs(data)
		n := 0
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			n++
			switch b.Type {
			case "CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("PEM block %d: %w", n, err)
				}
				certs = append(certs, c)
			case "PKCS7", "CERTIFICATE CHAIN":
				cs, err := parseP7(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("PEM block %d: %w", n, err)
				}
				certs = append(certs, cs...)
			case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
				return nil, fmt.Errorf("PEM block %d is a private key: give the CA certificate only, and keep the key off the hosts", n)
			default:
				return nil, fmt.Errorf("PEM block %d has type %q, want CERTIFICATE or PKCS7", n, b.Type)
			}
		}
		if n == 0 {
			return nil, errors.New("malformed PEM: a BEGIN line without a decodable block")
		}
	default:
		if c, err := x509.ParseCertificate(data); err == nil {
			certs = append(certs, c)
		} else if cs, p7err := parseP7(data); p7err == nil {
			certs = cs
		} else {
			return nil, fmt.Errorf("not PEM, not a DER certificate (%v) and not a PKCS#7 bundle (%v)", err, p7err)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	seen := map[string]bool{}
	out := certs[:0]
	for _, c := range certs {
		if err := CheckCA(c); err != nil {
			return nil, err
		}
		k := string(c.Raw)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, c)
	}
	return out, nil
}

// CheckCA refuses a certificate that cannot act as a CA. A legacy X.509
// v1 certificate (no extensions, so no basicConstraints) passes only when
// it is self-signed and its signature verifies: a v1 root, as older PKIs
// made them; LegacyV1Root says so, and the commands warn about it.
func CheckCA(c *x509.Certificate) error {
	if c.Version == 1 {
		if err := checkV1Root(c); err != nil {
			return fmt.Errorf("%q: %w: %w", c.Subject.String(), ErrNotCA, err)
		}
		return nil
	}
	if !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("%q: %w (basicConstraints cA is not set): give the issuing CA, not a server certificate", c.Subject.String(), ErrNotCA)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%q: %w (keyUsage lacks keyCertSign)", c.Subject.String(), ErrNotCA)
	}
	return nil
}

// LegacyV1Root reports whether c is an X.509 v1 certificate CheckCA
// accepts (self-signed, its signature verifying).
func LegacyV1Root(c *x509.Certificate) bool {
	return c.Version == 1 && checkV1Root(c) == nil
}

// CAWarnings says what a user should know about a CA that CheckCA
// accepts: today, that it is a legacy v1 root. Commands print each line.
func CAWarnings(c *x509.Certificate) []string {
	if !LegacyV1Root(c) {
		return nil
	}
	return []string{fmt.Sprintf("%q is a legacy X.509 v1 root (no extensions: no basicConstraints, key usage or name constraints); "+
		"accepted because it is self-signed and its signature verifies. Reissue it as a v3 CA when you can (docs/pki-health.md)", c.Subject.String())}
}

// checkV1Root accepts a v1 certificate only as a self-signed root: its
// issuer is its subject and its own key verifies its signature. A v1
// certificate another key signed is a leaf (what `openssl x509 -req`
// makes without extensions), never a CA.
func checkV1Root(c *x509.Certificate) error {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return errors.New("a legacy X.509 v1 certificate issued by another CA (no basicConstraints): give the issuing CA, not a server certificate")
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		return fmt.Errorf("a legacy X.509 v1 certificate whose self-signature does not verify (%v)", err)
	}
	return nil
}

// utf8BOM is the byte-order mark Notepad and other Windows editors put
// at the start of a UTF-8 file; openssl reads PEM past it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// stripBOMs removes UTF-8 byte-order marks from PEM text: at its start,
// and at the start of a file concatenated into it.
func stripBOMs(data []byte) []byte {
	if !bytes.Contains(data, utf8BOM) {
		return data
	}
	return bytes.ReplaceAll(data, utf8BOM, nil)
}

// checkTextEncoding refuses PEM saved as UTF-16 (Notepad's "Unicode"),
// which no tool reads, with what to do instead.
func checkTextEncoding(data []byte) error {
	if len(data) >= 4 && (bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF})) &&
		bytes.Contains(bytes.ReplaceAll(data[2:], []byte{0}, nil), []byte("-----BEGIN")) {
		return errors.New("the file is UTF-16 text (Notepad's \"Unicode\"): save it again as UTF-8 or ANSI")
	}
	return nil
}

func parseP7(der []byte) (certs []*x509.Certificate, err error) {
	defer func() {
		// The PKCS#7 parser has panicked on hostile input in the past; a
		// bad file must be an error, never a crash.
		if r := recover(); r != nil {
			certs, err = nil, fmt.Errorf("malformed PKCS#7: %v", r)
		}
	}()
	if err := CheckBER(der); err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("PKCS#7 bundle holds no certificate")
	}
	return p7.Certificates, nil
}
