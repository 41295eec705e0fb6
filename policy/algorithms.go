package policy

import (
	"encoding/asn1"
	"fmt"

	"go.mozilla.org/pkcs7"
)

// Digests a policy signature may use, by OID; SHA-1 and MD5 are broken
// for signatures (chosen-prefix collisions), SHA-224 is not offered by
// the tools we sign with.
var acceptedDigests = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{pkcs7.OIDDigestAlgorithmSHA256, "SHA-256"},
	{pkcs7.OIDDigestAlgorithmSHA384, "SHA-384"},
	{pkcs7.OIDDigestAlgorithmSHA512, "SHA-512"},
}

// Signature algorithms a policy signature may name: RSA PKCS#1 v1.5
// (rsaEncryption, its hash is the digest algorithm's, or an explicit
// shaNWithRSAEncryption) and ECDSA with an explicit hash. digest is the
// hash the algorithm names ("" for rsaEncryption).
var acceptedSignatures = []struct {
	oid          asn1.ObjectIdentifier
	name, digest string
}{
	{pkcs7.OIDEncryptionAlgorithmRSA, "rsaEncryption", ""},
	{pkcs7.OIDEncryptionAlgorithmRSASHA256, "sha256WithRSAEncryption", "SHA-256"},
	{pkcs7.OIDEncryptionAlgorithmRSASHA384, "sha384WithRSAEncryption", "SHA-384"},
	{pkcs7.OIDEncryptionAlgorithmRSASHA512, "sha512WithRSAEncryption", "SHA-512"},
	{pkcs7.OIDDigestAlgorithmECDSASHA256, "ecdsa-with-SHA256", "SHA-256"},
	{pkcs7.OIDDigestAlgorithmECDSASHA384, "ecdsa-with-SHA384", "SHA-384"},
	{pkcs7.OIDDigestAlgorithmECDSASHA512, "ecdsa-with-SHA512", "SHA-512"},
}

// refusedNames names algorithms that are refused, for the error message.
var refusedNames = map[string]string{
	"1.2.840.113549.2.5":     "MD5",
	"1.2.840.113549.2.2":     "MD2",
	"1.3.14.3.2.26":          "SHA-1",
	"2.16.840.1.101.3.4.2.4": "SHA-224",
	"1.2.840.113549.1.1.4":   "md5WithRSAEncryption",
	"1.2.840.113549.1.1.5":   "sha1WithRSAEncryption",
	"1.2.840.113549.1.1.14":  "sha224WithRSAEncryption",
	"1.2.840.113549.1.1.10":  "RSASSA-PSS",
	"1.2.840.10045.4.1":      "ecdsa-with-SHA1",
	"1.2.840.10045.4.3.1":    "ecdsa-with-SHA224",
	"1.2.840.10045.2.1":      "id-ecPublicKey (no hash named)",
	"1.2.840.10040.4.1":      "DSA",
	"1.2.840.10040.4.3":      "dsa-with-SHA1",
	"1.3.101.112":            "Ed25519",
	"2.16.840.1.101.3.4.3.2": "dsa-with-SHA256",
}

func algName(oid asn1.ObjectIdentifier) string {
	if n := refusedNames[oid.String()]; n != "" {
		return n + " (" + oid.String() + ")"
	}
	return oid.String()
}

// checkAlgorithms accepts a signer's digest and signature algorithms only
// when both are SHA-256/384/512 (and name the same hash), and returns the
// digest's name.
func checkAlgorithms(digest, signature asn1.ObjectIdentifier) (string, error) {
	dname := ""
	for _, d := range acceptedDigests {
		if d.oid.Equal(digest) {
			dname = d.name
		}
	}
	if dname == "" {
		return "", fmt.Errorf("digest algorithm %s", algName(digest))
	}
	for _, s := range acceptedSignatures {
		if !s.oid.Equal(signature) {
			continue
		}
		if s.digest != "" && s.digest != dname {
			return "", fmt.Errorf("signature algorithm %s does not match the digest algorithm %s", s.name, dname)
		}
		return dname, nil
	}
	return "", fmt.Errorf("signature algorithm %s", algName(signature))
}
