package system

import (
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/anchorwatch/anchorwatch/stores"
)

// OpenSSL's "TRUSTED CERTIFICATE" PEM (openssl x509 -trustout) is the
// certificate followed by an X509_CERT_AUX (crypto/x509/x_x509a.c):
//
//	X509_CERT_AUX ::= SEQUENCE {
//	    trust   SEQUENCE OF OBJECT IDENTIFIER OPTIONAL,  -- purposes trusted
//	    reject  [0] IMPLICIT SEQUENCE OF OBJECT IDENTIFIER OPTIONAL,
//	    alias   UTF8String OPTIONAL,
//	    keyid   OCTET STRING OPTIONAL,
//	    other   [1] IMPLICIT SEQUENCE OF AlgorithmIdentifier OPTIONAL }
//
// p11-kit reads it from the anchors directory of the RHEL, SUSE and Arch
// families and trusts the CA for the trust purposes only (trust list
// --purpose, trust extract --purpose), minus the rejected ones.

// Extended key usage OIDs of the purposes.
var purposeOIDs = map[stores.Purpose]asn1.ObjectIdentifier{
	stores.PurposeServerAuth:      {1, 3, 6, 1, 5, 5, 7, 3, 1},
	stores.PurposeClientAuth:      {1, 3, 6, 1, 5, 5, 7, 3, 2},
	stores.PurposeCodeSigning:     {1, 3, 6, 1, 5, 5, 7, 3, 3},
	stores.PurposeEmailProtection: {1, 3, 6, 1, 5, 5, 7, 3, 4},
	stores.PurposeTimeStamping:    {1, 3, 6, 1, 5, 5, 7, 3, 8},
	stores.PurposeAny:             {2, 5, 29, 37, 0},
}

// auxPurposes parses the X509_CERT_AUX after a TRUSTED CERTIFICATE's
// certificate and returns the purposes it trusts the CA for: the trust
// OIDs minus the rejected ones. No trust list means every purpose (an
// OpenSSL trust setting that restricts nothing); an OID Anchorwatch does
// not name is left out.
func auxPurposes(aux []byte) ([]stores.Purpose, error) {
	in := cryptobyte.String(aux)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("trust settings: not one DER SEQUENCE")
	}
	var trust, reject []asn1.ObjectIdentifier
	var err error
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		if trust, err = readOIDs(&seq, cbasn1.SEQUENCE); err != nil {
			return nil, fmt.Errorf("trust settings: trust: %w", err)
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		if reject, err = readOIDs(&seq, cbasn1.Tag(0).ContextSpecific().Constructed()); err != nil {
			return nil, fmt.Errorf("trust settings: reject: %w", err)
		}
	}
	if trust == nil {
		trust = []asn1.ObjectIdentifier{purposeOIDs[stores.PurposeAny]}
	}
	out := []stores.Purpose{}
	for _, p := range stores.Purposes() {
		oid := purposeOIDs[p]
		if containsOID(trust, oid) && !containsOID(reject, oid) {
			out = append(out, p)
		}
	}
	return out, nil
}

func readOIDs(s *cryptobyte.String, tag cbasn1.Tag) ([]asn1.ObjectIdentifier, error) {
	var list cryptobyte.String
	if !s.ReadASN1(&list, tag) {
		return nil, errors.New("malformed list")
	}
	out := []asn1.ObjectIdentifier{}
	for !list.Empty() {
		var oid asn1.ObjectIdentifier
		if !list.ReadASN1ObjectIdentifier(&oid) {
			return nil, errors.New("malformed OBJECT IDENTIFIER")
		}
		out = append(out, oid)
	}
	return out, nil
}

func containsOID(list []asn1.ObjectIdentifier, oid asn1.ObjectIdentifier) bool {
	for _, o := range list {
		if o.Equal(oid) {
			return true
		}
	}
	return false
}

// trustedCertPEM encodes der as a TRUSTED CERTIFICATE trusted for TLS
// server authentication only, with alias as its name: what
// `openssl x509 -addtrust serverAuth -setalias ALIAS -trustout` writes.
func trustedCertPEM(der []byte, alias string) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(purposeOIDs[stores.PurposeServerAuth])
		})
		b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(alias)) })
	})
	aux := b.BytesOrPanic()
	return pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: append(append([]byte{}, der...), aux...)})
}
