package java

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/anchorwatch/anchorwatch/stores"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidCertBag       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Cert      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	// oidJavaTrusted is Java's "trusted key usage" bag attribute: a
	// certificate bag that carries it is a trustedCertEntry for JSSE.
	oidJavaTrusted = asn1.ObjectIdentifier{2, 16, 840, 1, 113894, 746875, 1, 1}
)

var bagNames = map[string]string{
	"1.2.840.113549.1.12.10.1.1": "key bag (private key)",
	"1.2.840.113549.1.12.10.1.2": "shrouded key bag (private key)",
	"1.2.840.113549.1.12.10.1.4": "CRL bag",
	"1.2.840.113549.1.12.10.1.5": "secret bag (secret key)",
	"1.2.840.113549.1.12.10.1.6": "nested SafeContents bag",
}

type pfxPdu struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo encryptedContentInfo
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0,optional"`
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue     `asn1:"tag:0,explicit"`
	Attributes []pkcs12Attribute `asn1:"set,optional"`
}

type pkcs12Attribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type certBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

// p12Params is how a PKCS12 file was protected, so it can be written back
// the same way.
type p12Params struct {
	passwordless bool // no MAC and no encryption: the JDK ≥ 18 cacerts format
	legacy       bool // SHA-1 MAC: write with LegacyDES (JDK 8 compatible)
	unwritable   string
}

// decodePKCS12 opens a PKCS12 keystore. With a MAC, the first password of
// passwords that verifies it opens the file; without one (the JDK ≥ 18
// password-less format) any encrypted content is tried with each. Long:
// the PFX layers (MAC, authenticated safe, safe contents, bags) in the
// order the format nests them.
func decodePKCS12(data []byte, passwords []string) (*keystoreFile, error) {
	var pfx pfxPdu
	if err := safeCall(func() error { return unmarshalAll(data, &pfx) }); err != nil {
		return nil, fmt.Errorf("corrupt PKCS12 keystore: %w", err)
	}
	if pfx.Version != 3 {
		return nil, fmt.Errorf("corrupt PKCS12 keystore: PFX version %d, want 3", pfx.Version)
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("PKCS12 keystore with public-key integrity (content type %v): %w", pfx.AuthSafe.ContentType, errUnsupportedP12)
	}
	var content []byte
	if err := unmarshalAll(pfx.AuthSafe.Content.Bytes, &content); err != nil {
		return nil, fmt.Errorf("corrupt PKCS12 keystore: authenticated safe: %w", err)
	}
	kf := &keystoreFile{format: FormatPKCS12}
	candidates := passwords
	if len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 {
		ok := false
		for _, p := range passwords {
			var good bool
			err := safeCall(func() (err error) {
				good, err = verifyMAC(&pfx.MacData, content, p)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("PKCS12 keystore: %w", err)
			}
			if good {
				kf.password, ok = p, true
				break
			}
		}
		if !ok {
			return nil, errWrongPassword
		}
		candidates = []string{kf.password}
		kf.p12.legacy = pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidSHA1)
	}
	var safes []contentInfo
	if err := unmarshalAll(content, &safes); err != nil {
		return nil, fmt.Errorf("corrupt PKCS12 keystore: authenticated safe: %w", err)
	}
	encrypted := false
	var bags []safeBag
	for i, ci := range safes {
		var plain []byte
		switch {
		case ci.ContentType.Equal(oidData):
			if err := unmarshalAll(ci.Content.Bytes, &plain); err != nil {
				return nil, fmt.Errorf("corrupt PKCS12 keystore: safe %d: %w", i, err)
			}
		case ci.ContentType.Equal(oidEncryptedData):
			encrypted = true
			var ed encryptedData
			if err := unmarshalAll(ci.Content.Bytes, &ed); err != nil {
				return nil, fmt.Errorf("corrupt PKCS12 keystore: safe %d: %w", i, err)
			}
			var err error
			plain, err = decryptWithAny(ed.EncryptedContentInfo, candidates, &kf.password)
			if errors.Is(err, errRC2) {
				return decodeRC2TrustStore(data, kf.password)
			}
			if err != nil {
				if len(pfx.MacData.Mac.Algorithm.Algorithm) == 0 && errors.Is(err, errBadPadding) {
					return nil, errWrongPassword
				}
				return nil, fmt.Errorf("corrupt PKCS12 keystore: safe %d: %w", i, err)
			}
		default:
			return nil, fmt.Errorf("PKCS12 safe %d of type %v: %w", i, ci.ContentType, errUnsupportedP12)
		}
		var sc []safeBag
		if err := safeCall(func() error { return unmarshalAll(plain, &sc) }); err != nil {
			return nil, fmt.Errorf("corrupt PKCS12 keystore: safe %d contents: %w", i, err)
		}
		bags = append(bags, sc...)
	}
	kf.p12.passwordless = len(pfx.MacData.Mac.Algorithm.Algorithm) == 0 && !encrypted
	if !kf.p12.passwordless && len(pfx.MacData.Mac.Algorithm.Algorithm) == 0 {
		kf.p12.unwritable = "it has encrypted content but no MAC, which go-pkcs12 cannot write"
	}
	for i, b := range bags {
		kf.entries = append(kf.entries, bagEntry(i, &b))
	}
	return kf, nil
}

var errUnsupportedP12 = stores.ErrNotSupported

func decryptWithAny(eci encryptedContentInfo, passwords []string, chosen *string) ([]byte, error) {
	var last error = errWrongPassword
	for _, p := range passwords {
		var out []byte
		err := safeCall(func() (err error) {
			out, err = decryptContent(eci.ContentEncryptionAlgorithm, eci.EncryptedContent, p)
			return err
		})
		if err == nil {
			*chosen = p
			return out, nil
		}
		last = err
		if !errors.Is(err, errBadPadding) {
			return nil, err
		}
	}
	return nil, last
}

// decodeRC2TrustStore reads a trust store whose certificates are
// RC2-encrypted (JDK 8 before 8u301) with go-pkcs12, which implements RC2.
// go-pkcs12 gives certificates without aliases, so such a store is listed
// but never rewritten.
func decodeRC2TrustStore(data []byte, password string) (*keystoreFile, error) {
	var certs []*x509.Certificate
	err := safeCall(func() (err error) {
		certs, err = gopkcs12.DecodeTrustStore(data, password)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("PKCS12 keystore with RC2-encrypted certificates: %w", err)
	}
	kf := &keystoreFile{format: FormatPKCS12, password: password}
	kf.p12.unwritable = "its certificates are RC2-encrypted (JDK 8 legacy format) and their aliases cannot be kept; convert it with keytool -importkeystore"
	for _, c := range certs {
		kf.entries = append(kf.entries, entry{kind: kindTrusted, certs: []*x509.Certificate{c}})
	}
	return kf, nil
}

// bagEntry turns bag i into an entry; keep says why go-pkcs12 could not
// write it back.
func bagEntry(i int, b *safeBag) entry {
	e := entry{kind: kindOther}
	trusted := false
	for _, a := range b.Attributes {
		switch {
		case a.ID.Equal(oidFriendlyName):
			e.alias = decodeFriendlyName(a.Value.Bytes)
		case a.ID.Equal(oidJavaTrusted):
			trusted = true
		case a.ID.Equal(oidLocalKeyID):
			if e.keep == "" {
				e.keep = "a certificate tied to a private key (localKeyId)"
			}
		default:
			if e.keep == "" {
				e.keep = fmt.Sprintf("a bag attribute %v", a.ID)
			}
		}
	}
	if !b.ID.Equal(oidCertBag) {
		name := bagNames[b.ID.String()]
		if name == "" {
			name = "bag of type " + b.ID.String()
		}
		if name == "key bag (private key)" || name == "shrouded key bag (private key)" {
			e.kind = kindPrivateKey
		}
		e.keep = name
		return e
	}
	var cb certBag
	if err := unmarshalAll(b.Value.Bytes, &cb); err != nil || !cb.ID.Equal(oidX509Cert) {
		e.keep = "a certificate bag that is not X.509"
		e.bad = append(e.bad, fmt.Errorf("bag %d: not an X.509 certificate bag", i))
		return e
	}
	c, err := parseCert("X.509", cb.Data)
	if err != nil {
		e.keep = "a certificate Go cannot parse"
		e.bad = append(e.bad, fmt.Errorf("bag %d: %w", i, err))
		return e
	}
	e.certs = []*x509.Certificate{c}
	if trusted {
		e.kind = kindTrusted
	} else {
		e.kind = kindCertOnly
		if e.keep == "" {
			e.keep = "a certificate without Java's trusted-usage attribute"
		}
	}
	return e
}

// decodeFriendlyName reads the BMPString in a friendlyName attribute's SET.
func decodeFriendlyName(set []byte) string {
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(set, &rv); err != nil || rv.Tag != asn1.TagBMPString || len(rv.Bytes)%2 != 0 {
		return ""
	}
	u := make([]uint16, len(rv.Bytes)/2)
	for i := range u {
		u[i] = uint16(rv.Bytes[2*i])<<8 | uint16(rv.Bytes[2*i+1])
	}
	return string(utf16.Decode(u))
}

// encodePKCS12 writes kf with go-pkcs12: password-less when it was,
// otherwise with its password and a MAC (LegacyDES when the original used a
// SHA-1 MAC, which JDK 8 reads; Modern2023, read by Java 12+, otherwise).
// A store holding anything go-pkcs12 cannot write back is refused.
func encodePKCS12(kf *keystoreFile) ([]byte, error) {
	if kf.p12.unwritable != "" {
		return nil, fmt.Errorf("cannot rewrite this PKCS12 keystore: %s: %w", kf.p12.unwritable, errNotRewritable)
	}
	var entries []gopkcs12.TrustStoreEntry
	for _, e := range kf.entries {
		if e.keep != "" || e.kind != kindTrusted || len(e.certs) != 1 {
			what := e.keep
			if what == "" {
				what = "an entry that is not a trusted certificate"
			}
			return nil, fmt.Errorf("cannot rewrite this PKCS12 keystore without losing entry %q (%s); add the CA with keytool -importcert instead: %w", e.alias, what, errNotRewritable)
		}
		entries = append(entries, gopkcs12.TrustStoreEntry{Cert: e.certs[0], FriendlyName: e.alias})
	}
	enc := gopkcs12.Modern2023
	switch {
	case kf.p12.passwordless:
		enc = gopkcs12.Passwordless
	case kf.p12.legacy:
		enc = gopkcs12.LegacyDES
	}
	password := kf.password
	if kf.p12.passwordless {
		password = ""
	}
	out, err := enc.EncodeTrustStoreEntries(entries, password)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS12: %w", err)
	}
	return out, nil
}

var errNotRewritable = stores.ErrNotSupported
