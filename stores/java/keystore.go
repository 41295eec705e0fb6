package java

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// errWrongPassword is returned (wrapped) when no candidate password passes
// the keystore's integrity check.
var errWrongPassword = errors.New("wrong password (integrity check failed)")

type entryKind int

const (
	kindTrusted    entryKind = iota // JKS trustedCertEntry, PKCS12 cert bag with the trusted-usage attribute
	kindCertOnly                    // PKCS12 cert bag without the attribute: not a JSSE trust anchor
	kindPrivateKey                  // a key entry and its chain
	kindOther                       // secret keys, CRLs, nested bags, unknown
)

// entry is one keystore entry in a format-neutral form.
type entry struct {
	alias   string
	kind    entryKind
	created time.Time           // JKS only
	certs   []*x509.Certificate // the certificate, or a key's chain
	bad     []error             // certificates that did not parse
	// keep is why a PKCS12 entry cannot be written back by go-pkcs12;
	// empty when it can.
	keep string
}

// keystoreFile is a decoded keystore plus what is needed to write it back
// the way it was protected.
type keystoreFile struct {
	format   string
	password string
	entries  []entry
	raw      []byte    // FormatJKS: the file, loaded by keystore-go when writing
	p12      p12Params // FormatPKCS12
}

// decode opens data, trying each password in turn. The format is sniffed.
func decode(data []byte, passwords []string) (*keystoreFile, error) {
	format, found := Sniff(data)
	switch format {
	case FormatJKS:
		return decodeJKS(data, passwords)
	case FormatPKCS12:
		return decodePKCS12(data, passwords)
	case FormatJCEKS:
		return nil, fmt.Errorf("JCEKS keystore: %w (convert it with keytool -importkeystore -deststoretype pkcs12)", stores.ErrNotSupported)
	}
	return nil, fmt.Errorf("not a Java keystore: found %s", found)
}

// anchors lists the certificates of kf as stores.Anchors in file order.
func (kf *keystoreFile) anchors() []stores.Anchor {
	var out []stores.Anchor
	for _, e := range kf.entries {
		for _, c := range e.certs {
			a := stores.NewAnchor(c, e.alias, e.kind == kindTrusted)
			a.Vendor = isVendorAlias(e.alias)
			if a.TrustedServerAuth {
				// JSSE trusts an anchor for every purpose: nothing in a
				// keystore entry narrows it.
				a.Purposes = []stores.Purpose{stores.PurposeAny}
			}
			out = append(out, a)
		}
	}
	return out
}

// isVendorAlias recognises the JDK's own cacerts aliases ("digicertrootca
// [jdk]", JDK 9+) and Debian's ca-certificates-java ones
// ("debian:digicert_global_root_ca.pem").
func isVendorAlias(alias string) bool {
	return strings.HasSuffix(alias, " [jdk]") || strings.HasPrefix(strings.ToLower(alias), "debian:")
}

// has reports whether a certificate with SHA-256 sha is in kf, and
// whether it is there as a trusted entry.
func (kf *keystoreFile) has(sha string) (trusted, present bool) {
	for _, e := range kf.entries {
		for _, c := range e.certs {
			if stores.SHA256(c) == sha {
				present = true
				if e.kind == kindTrusted {
					return true, true
				}
			}
		}
	}
	return false, present
}

func (kf *keystoreFile) hasAlias(alias string) bool {
	for _, e := range kf.entries {
		if strings.EqualFold(e.alias, alias) {
			return true
		}
	}
	return false
}

// addTrusted adds c as a trusted certificate entry named alias.
func (kf *keystoreFile) addTrusted(alias string, c *x509.Certificate, now time.Time) error {
	if kf.hasAlias(alias) {
		return fmt.Errorf("alias %q is taken by another entry", alias)
	}
	kf.entries = append(kf.entries, entry{alias: alias, kind: kindTrusted, created: now, certs: []*x509.Certificate{c}})
	return nil
}

// removeSHA removes every trusted (or plain certificate) entry holding the
// certificate sha and reports whether one was removed. Key entries whose
// chain holds it are left alone: their key would go with them.
func (kf *keystoreFile) removeSHA(sha string) bool {
	removed := false
	out := kf.entries[:0]
	for _, e := range kf.entries {
		if (e.kind == kindTrusted || e.kind == kindCertOnly) && len(e.certs) == 1 && stores.SHA256(e.certs[0]) == sha {
			removed = true
			continue
		}
		out = append(out, e)
	}
	kf.entries = out
	return removed
}

// encode serialises kf in its own format with its own protection.
func (kf *keystoreFile) encode() ([]byte, error) {
	switch kf.format {
	case FormatJKS:
		return encodeJKS(kf)
	case FormatPKCS12:
		return encodePKCS12(kf)
	}
	return nil, fmt.Errorf("cannot write format %q", kf.format)
}

// safeCall runs f, turning a panic of a parsing library on hostile input
// into an error. encoding/asn1, crypto/x509 and keystore-go are not known
// to panic, but a trust store is read from disk as root and a crash of the
// agent would stop healing every other store.
func safeCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed data (decoder panicked: %v)", r)
		}
	}()
	return f()
}
