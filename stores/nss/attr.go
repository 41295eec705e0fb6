package nss

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

// PKCS#11 object classes and attributes as NSS stores them in the
// nssPublic table of cert9.db: one column per attribute, named "a" plus
// the attribute type in lowercase hex, CK_ULONG values as 4-byte
// big-endian.
//
// Sources:
//   - PKCS#11 base: CKA_CLASS 0x0, CKA_LABEL 0x3, CKA_VALUE 0x11,
//     CKA_ISSUER 0x81, CKA_SERIAL_NUMBER 0x82, CKO_CERTIFICATE 0x1,
//     CKM_SHA_1 0x220, CKM_SHA256 0x250 (OASIS pkcs11t.h).
//   - NSS vendor values: nss-dev/nss lib/util/pkcs11n.h, NSSCK_VENDOR_NSS
//     0x4E534350; CKO_NSS_TRUST = CKO_VENDOR_DEFINED|NSSCK_VENDOR_NSS + 3;
//     CKA_NSS_TRUST_BASE = CKA_NSS + 0x2000, CKA_NSS_TRUST_SERVER_AUTH
//     = base + 8, CKA_NSS_CERT_SHA1_HASH = base + 100; CKT_NSS =
//     CKT_VENDOR_DEFINED|NSSCK_VENDOR_NSS with TRUSTED +1,
//     TRUSTED_DELEGATOR +2, MUST_VERIFY_TRUST +3, TRUST_UNKNOWN +5,
//     NOT_TRUSTED +10, VALID_DELEGATOR +11.
//   - PKCS#11 3.2 trust objects, used by NSS >= 3.114 (pkcs11n.h: "we'll
//     expect ... CKA_PKCS_TRUST attributes in CKO_TRUST objects"): OASIS
//     PKCS#11 3.2 pkcs11t.h, CKO_TRUST 0x0B, CKA_TRUST_SERVER_AUTH 0x62C,
//     CKA_TRUST_CLIENT_AUTH 0x62D, CKA_TRUST_CODE_SIGNING 0x62E,
//     CKA_TRUST_EMAIL_PROTECTION 0x62F,
//     CKA_HASH_OF_CERTIFICATE 0x635, CKA_NAME_HASH_ALGORITHM 0x8C,
//     CKT_TRUST_UNKNOWN 0, CKT_TRUSTED 1, CKT_TRUST_ANCHOR 2,
//     CKT_NOT_TRUSTED 3, CKT_TRUST_MUST_VERIFY_TRUST 4.
//
// The legacy values were checked against databases written by certutil
// (NSS 3.87): trust "C,," stores CE534352 in ace536358, "c,," CE53435B,
// "p,," CE53435A, "P,," CE534351; ",," writes no trust object at all.
const (
	ckoCertificate = 0x00000001
	ckoTrust       = 0x0000000b // PKCS#11 3.2 CKO_TRUST
	ckoNSSTrust    = 0xce534353 // CKO_NSS_TRUST

	// NSS legacy trust values (CK_TRUST in CKO_NSS_TRUST objects).
	cktNSSTrusted          = 0xce534351 // "P": trusted peer
	cktNSSTrustedDelegator = 0xce534352 // "C": trusted CA
	cktNSSMustVerifyTrust  = 0xce534353
	cktNSSTrustUnknown     = 0xce534355
	cktNSSNotTrusted       = 0xce53435a // "p": distrusted
	cktNSSValidDelegator   = 0xce53435b // "c": valid CA, not a trust anchor

	// PKCS#11 3.2 trust values (CK_TRUST in CKO_TRUST objects).
	cktTrustUnknown    = 0
	cktTrusted         = 1 // trusted peer
	cktTrustAnchor     = 2 // trusted CA
	cktNotTrusted      = 3
	cktMustVerifyTrust = 4

	ckmSHA1   = 0x00000220
	ckmSHA256 = 0x00000250
)

// Attribute types of the trust attributes NSS authenticates with a MAC
// (softoken sftkdb_isAuthenticatedAttribute), as the signatures in
// key4.db name them.
const (
	ckaNSSTrustServerAuth  = 0xce536358
	ckaNSSTrustClientAuth  = 0xce536359
	ckaNSSTrustCodeSigning = 0xce53635a
	ckaNSSTrustEmail       = 0xce53635b
	ckaNSSCertSHA1         = 0xce5363b4
	ckaTrustServerAuth     = 0x0000062c
	ckaTrustClientAuth     = 0x0000062d
	ckaTrustCodeSigning    = 0x0000062e
	ckaTrustEmail          = 0x0000062f
	ckaHashOfCertificate   = 0x00000635
	ckaNameHashAlgorithm   = 0x0000008c
)

// Column names in nssPublic.
const (
	colID             = "id"        // the object id
	colClass          = "a0"        // CKA_CLASS
	colLabel          = "a3"        // CKA_LABEL
	colValue          = "a11"       // CKA_VALUE: the certificate DER
	colIssuer         = "a81"       // CKA_ISSUER
	colSerial         = "a82"       // CKA_SERIAL_NUMBER (DER INTEGER)
	colNSSServerAuth  = "ace536358" // CKA_NSS_TRUST_SERVER_AUTH
	colNSSClientAuth  = "ace536359" // CKA_NSS_TRUST_CLIENT_AUTH
	colNSSCodeSigning = "ace53635a" // CKA_NSS_TRUST_CODE_SIGNING
	colNSSEmail       = "ace53635b" // CKA_NSS_TRUST_EMAIL_PROTECTION
	colNSSCertSHA1    = "ace5363b4" // CKA_NSS_CERT_SHA1_HASH
	colPKCSServerAuth = "a62c"      // CKA_TRUST_SERVER_AUTH (3.2)
	colPKCSClientAuth = "a62d"      // CKA_TRUST_CLIENT_AUTH (3.2)
	colPKCSCodeSign   = "a62e"      // CKA_TRUST_CODE_SIGNING (3.2)
	colPKCSEmail      = "a62f"      // CKA_TRUST_EMAIL_PROTECTION (3.2)
	colPKCSCertHash   = "a635"      // CKA_HASH_OF_CERTIFICATE (3.2)
	colPKCSHashAlg    = "a8c"       // CKA_NAME_HASH_ALGORITHM
	nssPublicTable    = "nssPublic" // the table of public objects in cert9.db
)

// explicitNull is how NSS's sqlite backend stores a zero-length attribute
// value (SQLITE_EXPLICIT_NULL in softoken/sdb.c): seen in the CKA_LABEL of
// every trust object certutil writes.
var explicitNull = []byte{0xa5, 0x00, 0x5a}

// attrBytes returns an attribute value with NSS's explicit-null marker
// turned into an empty value.
func attrBytes(b []byte) []byte {
	if bytes.Equal(b, explicitNull) {
		return nil
	}
	return b
}

// decodeULong decodes a CK_ULONG attribute as NSS stores it: 4 bytes
// big-endian. ok is false for a missing or malformed value.
func decodeULong(b []byte) (v uint32, ok bool) {
	b = attrBytes(b)
	if len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// trustLetter renders one NSS trust value the way certutil -L does for
// one usage ("C", "c", "P", "p" or "").
func trustLetter(v uint32) string {
	switch v {
	case cktNSSTrustedDelegator:
		return "C"
	case cktNSSValidDelegator:
		return "c"
	case cktNSSTrusted:
		return "P"
	case cktNSSNotTrusted:
		return "p"
	}
	return ""
}

// pkcsTrustLetter maps a PKCS#11 3.2 trust value onto certutil's letters.
func pkcsTrustLetter(v uint32) string {
	switch v {
	case cktTrustAnchor:
		return "C"
	case cktTrusted:
		return "P"
	case cktNotTrusted:
		return "p"
	}
	return ""
}

// trustFlags is an object's trust in certutil's "SSL,S/MIME,JAR/XPI"
// notation, e.g. "C,,", "CT,C,C". It is used to restore a certificate
// exactly when certutil touched it by mistake.
type trustFlags struct {
	SSL, Email, ObjSign string
}

func (t trustFlags) String() string { return t.SSL + "," + t.Email + "," + t.ObjSign }

// serverAuthAnchor reports whether the SSL field makes the certificate a
// trusted CA for TLS server authentication: "C" (trusted delegator).
// "c" (valid CA), "P"/"p" (peer, distrusted), "T" (client auth only) and
// an empty field do not.
func (t trustFlags) serverAuthAnchor() bool {
	for _, r := range t.SSL {
		if r == 'C' {
			return true
		}
	}
	return false
}

// legacyTrust builds the trust flags of a CKO_NSS_TRUST row.
func legacyTrust(server, client, email, code []byte) trustFlags {
	var t trustFlags
	if v, ok := decodeULong(server); ok {
		t.SSL = trustLetter(v)
	}
	if v, ok := decodeULong(client); ok && v == cktNSSTrustedDelegator {
		t.SSL += "T"
	}
	if v, ok := decodeULong(email); ok {
		t.Email = trustLetter(v)
	}
	if v, ok := decodeULong(code); ok {
		t.ObjSign = trustLetter(v)
	}
	return t
}

// checkClass describes a row whose class is not a 4-byte value.
func checkClass(b []byte) (uint32, error) {
	v, ok := decodeULong(b)
	if !ok {
		return 0, fmt.Errorf("object class is %d bytes, want 4", len(b))
	}
	return v, nil
}

// purposes returns what the flags trust the certificate for as a CA:
// "C" in the SSL field is TLS server auth, "T" client auth, "C" in the
// S/MIME field e-mail protection, "C" in the JAR/XPI field code signing.
func (t trustFlags) purposes() []stores.Purpose {
	var out []stores.Purpose
	if strings.Contains(t.SSL, "C") {
		out = append(out, stores.PurposeServerAuth)
	}
	if strings.Contains(t.SSL, "T") {
		out = append(out, stores.PurposeClientAuth)
	}
	if strings.Contains(t.Email, "C") {
		out = append(out, stores.PurposeEmailProtection)
	}
	if strings.Contains(t.ObjSign, "C") {
		out = append(out, stores.PurposeCodeSigning)
	}
	return out
}

// distrusted reports whether the SSL field refuses the certificate ("p").
func (t trustFlags) distrusted() bool { return strings.Contains(t.SSL, "p") }

// pkcsTrust builds the trust flags of a CKO_TRUST row from its
// CK_TRUST values (nil: absent or not authenticated).
func pkcsTrust(server, client, email, code []byte) trustFlags {
	var t trustFlags
	if v, ok := decodeULong(server); ok {
		t.SSL = pkcsTrustLetter(v)
	}
	if v, ok := decodeULong(client); ok && v == cktTrustAnchor {
		t.SSL += "T"
	}
	if v, ok := decodeULong(email); ok {
		t.Email = pkcsTrustLetter(v)
	}
	if v, ok := decodeULong(code); ok {
		t.ObjSign = pkcsTrustLetter(v)
	}
	return t
}
