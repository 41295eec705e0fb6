package installers

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Payload types of an Apple configuration profile.
const (
	PayloadTypeProfile      = "Configuration"
	PayloadTypeRoot         = "com.apple.security.root"  // a trusted root certificate (DER)
	PayloadTypeIntermediate = "com.apple.security.pkcs1" // a certificate without trust (DER)
)

// DefaultProfileIdentifier is the profile's PayloadIdentifier when none is
// given; payload identifiers extend it.
const DefaultProfileIdentifier = "com.anchorwatch.ca"

// Profile says what goes into a configuration profile besides the CAs.
type Profile struct {
	// Identifier is the reverse-DNS PayloadIdentifier of the profile (a
	// profile with the same identifier replaces an installed one).
	Identifier string
	// DisplayName and Organization are shown in System Settings.
	DisplayName  string
	Organization string
	// Description is the profile's PayloadDescription.
	Description string
}

// MobileConfig returns the unsigned XML plist of a configuration profile
// (PayloadScope System) holding one certificate payload per CA: a
// com.apple.security.root payload for a self-signed CA, a
// com.apple.security.pkcs1 payload for an intermediate. Payload UUIDs are
// derived from the certificates' SHA-256, so rebuilding the profile for the
// same CAs yields the same UUIDs and the same bytes.
func MobileConfig(cas []*x509.Certificate, p Profile) ([]byte, error) {
	if err := checkCAs(cas); err != nil {
		return nil, fmt.Errorf("mobileconfig: %w", err)
	}
	if p.Identifier == "" {
		p.Identifier = DefaultProfileIdentifier
	}
	if !validIdentifier(p.Identifier) {
		return nil, fmt.Errorf("mobileconfig: identifier %q: use reverse-DNS letters, digits, '.', '-' and '_' (e.g. com.example.ca)", p.Identifier)
	}
	if p.DisplayName == "" {
		p.DisplayName = "Organization CA"
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n")
	b.WriteString("\t<key>PayloadContent</key>\n\t<array>\n")
	all := sha256.New()
	for _, c := range cas {
		sum := sha256.Sum256(c.Raw)
		all.Write(sum[:])
		typ, kind := PayloadTypeRoot, "root"
		if !IsRoot(c) {
			typ, kind = PayloadTypeIntermediate, "intermediate"
		}
		fp := stores.SHA256(c)
		b.WriteString("\t\t<dict>\n")
		plistString(&b, 3, "PayloadCertificateFileName", fp[:16]+".cer")
		plistData(&b, 3, "PayloadContent", c.Raw)
		plistString(&b, 3, "PayloadDescription", fmt.Sprintf("%s certificate, SHA-256 %s", kind, fp))
		plistString(&b, 3, "PayloadDisplayName", displayName(c))
		plistString(&b, 3, "PayloadIdentifier", p.Identifier+"."+kind+"."+fp[:16])
		plistString(&b, 3, "PayloadType", typ)
		plistString(&b, 3, "PayloadUUID", uuidFrom(sum[:]))
		plistInteger(&b, 3, "PayloadVersion", 1)
		b.WriteString("\t\t</dict>\n")
	}
	b.WriteString("\t</array>\n")
	if p.Description != "" {
		plistString(&b, 1, "PayloadDescription", p.Description)
	}
	plistString(&b, 1, "PayloadDisplayName", p.DisplayName)
	plistString(&b, 1, "PayloadIdentifier", p.Identifier)
	if p.Organization != "" {
		plistString(&b, 1, "PayloadOrganization", p.Organization)
	}
	plistString(&b, 1, "PayloadScope", "System")
	plistString(&b, 1, "PayloadType", PayloadTypeProfile)
	all.Write([]byte(p.Identifier))
	plistString(&b, 1, "PayloadUUID", uuidFrom(all.Sum(nil)))
	plistInteger(&b, 1, "PayloadVersion", 1)
	b.WriteString("</dict>\n</plist>\n")
	return b.Bytes(), nil
}

// SignProfile signs a profile as CMS SignedData with the content attached
// (SHA-256, the signer certificate and chain included), the form macOS and
// MDM servers accept as a signed .mobileconfig. The signer must be valid
// now and key must belong to it.
func SignProfile(profile []byte, cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	now := time.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("sign profile: signer %q is valid %s to %s: issue a current signing certificate",
			cert.Subject.String(), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("sign profile: the private key does not belong to the signing certificate")
	}
	sd, err := pkcs7.NewSignedData(profile)
	if err != nil {
		return nil, fmt.Errorf("sign profile: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(cert, key, chain, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("sign profile: %w", err)
	}
	out, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("sign profile: %w", err)
	}
	return out, nil
}

// uuidFrom formats the first 16 bytes of a digest as an RFC 9562 UUID of
// version 8 (custom), so equal inputs give equal UUIDs.
func uuidFrom(sum []byte) string {
	var u [16]byte
	copy(u[:], sum)
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}

func validIdentifier(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

func plistKey(b *bytes.Buffer, depth int, k string) {
	b.WriteString(strings.Repeat("\t", depth))
	b.WriteString("<key>")
	xml.EscapeText(b, []byte(k))
	b.WriteString("</key>\n")
}

func plistString(b *bytes.Buffer, depth int, k, v string) {
	plistKey(b, depth, k)
	b.WriteString(strings.Repeat("\t", depth))
	b.WriteString("<string>")
	xml.EscapeText(b, []byte(v))
	b.WriteString("</string>\n")
}

func plistInteger(b *bytes.Buffer, depth int, k string, v int) {
	plistKey(b, depth, k)
	fmt.Fprintf(b, "%s<integer>%d</integer>\n", strings.Repeat("\t", depth), v)
}

func plistData(b *bytes.Buffer, depth int, k string, v []byte) {
	plistKey(b, depth, k)
	ind := strings.Repeat("\t", depth)
	b.WriteString(ind + "<data>\n")
	s := base64.StdEncoding.EncodeToString(v)
	for len(s) > 0 {
		n := min(len(s), 52)
		b.WriteString(ind + s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(ind + "</data>\n")
}
