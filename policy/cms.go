package policy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The PKCS#7 / CMS SignedData written here (RFC 5652, version 1): the
// policy attached as id-data, one SignerInfo per signature identified by
// issuer and serial number, signed attributes content-type, signing-time
// and message-digest. go.mozilla.org/pkcs7 parses and verifies it (and
// what openssl cms writes); it signs only with in-memory RSA/ECDSA keys
// and cannot add a signature to a signed message, so signing is here:
// any crypto.Signer (a PKCS#11 token too) and a second, third… signature
// on a policy already signed (Cosign).

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// MaxSignatures bounds the signatures one policy may carry.
const MaxSignatures = 16

// signedParts is a SignedData taken apart: the content, and the DER of
// each digest algorithm, certificate and SignerInfo (kept verbatim).
type signedParts struct {
	content     []byte
	digestAlgs  [][]byte
	certs       [][]byte
	signerInfos [][]byte
}

// signerAlgorithms returns the digest and signature algorithms a
// signature by pub uses: SHA-256 with RSA PKCS#1 v1.5 and P-256, SHA-384
// with P-384, SHA-512 with P-521.
func signerAlgorithms(pub crypto.PublicKey) (crypto.Hash, asn1.ObjectIdentifier, asn1.ObjectIdentifier, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return 0, nil, nil, fmt.Errorf("RSA key of %d bits: use 2048 bits or more", k.N.BitLen())
		}
		return crypto.SHA256, oidSHA256, oidRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, oidSHA256, oidECDSASHA256, nil
		case elliptic.P384():
			return crypto.SHA384, oidSHA384, oidECDSASHA384, nil
		case elliptic.P521():
			return crypto.SHA512, oidSHA512, oidECDSASHA512, nil
		}
		return 0, nil, nil, fmt.Errorf("ECDSA curve %s: use P-256, P-384 or P-521", k.Curve.Params().Name)
	}
	return 0, nil, nil, fmt.Errorf("%T keys are not supported for policy signing: use RSA or ECDSA", pub)
}

// newSignerInfo signs content with key (certified by cert) at now and
// returns the DER of the SignerInfo and of its digest algorithm.
func newSignerInfo(content []byte, cert *x509.Certificate, key crypto.Signer, now time.Time) (si, digestAlg []byte, err error) {
	hash, digestOID, sigOID, err := signerAlgorithms(cert.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	h := hash.New()
	h.Write(content)
	attrs, err := signedAttributes(h.Sum(nil), now)
	if err != nil {
		return nil, nil, err
	}
	h = hash.New()
	h.Write(attrs)
	sig, err := key.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, nil, fmt.Errorf("sign with the key of %q: %w", cert.Subject.String(), err)
	}
	algID := func(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, null bool) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			if null {
				b.AddASN1NULL()
			}
		})
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // issuerAndSerialNumber
			b.AddBytes(cert.RawIssuer)
			b.AddASN1BigInt(cert.SerialNumber)
		})
		algID(b, digestOID, false)
		// signedAttrs [0] IMPLICIT: the SET signed above, retagged.
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			var set cryptobyte.String = attrs
			var inner cryptobyte.String
			set.ReadASN1(&inner, cbasn1.SET)
			b.AddBytes(inner)
		})
		algID(b, sigOID, sigOID.Equal(oidRSA))
		b.AddASN1OctetString(sig)
	})
	if si, err = b.Bytes(); err != nil {
		return nil, nil, err
	}
	var d cryptobyte.Builder
	algID(&d, digestOID, false)
	digestAlg, err = d.Bytes()
	return si, digestAlg, err
}

// signedAttributes returns the DER SET OF the signed attributes
// (content-type id-data, signing-time, message-digest), sorted as DER
// requires: what the signature covers.
func signedAttributes(digest []byte, now time.Time) ([]byte, error) {
	attr := func(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
		return b.BytesOrPanic()
	}
	now = now.UTC().Truncate(time.Second)
	if now.Year() < 1950 || now.Year() >= 2050 {
		return nil, fmt.Errorf("signing time %s cannot be written as UTCTime", now.Format(time.RFC3339))
	}
	list := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }),
		attr(oidSigningTime, func(b *cryptobyte.Builder) { b.AddASN1UTCTime(now) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }),
	}
	return derSet(list), nil
}

// derSet encodes a SET OF from element encodings, sorted and without
// duplicates (DER).
func derSet(elems [][]byte) []byte {
	elems = slices.Clone(elems)
	slices.SortFunc(elems, bytes.Compare)
	elems = slices.CompactFunc(elems, bytes.Equal)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, e := range elems {
			b.AddBytes(e)
		}
	})
	return b.BytesOrPanic()
}

// encodeSignedData writes p as a DER ContentInfo holding a SignedData.
func encodeSignedData(p signedParts) ([]byte, error) {
	implicitSet := func(b *cryptobyte.Builder, tag cbasn1.Tag, elems [][]byte) {
		set := derSet(elems)
		var s cryptobyte.String = set
		var inner cryptobyte.String
		s.ReadASN1(&inner, cbasn1.SET)
		b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes(inner) })
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddBytes(derSet(p.digestAlgs))
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidData)
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(p.content)
					})
				})
				if len(p.certs) > 0 {
					implicitSet(b, cbasn1.Tag(0).ContextSpecific().Constructed(), p.certs)
				}
				b.AddBytes(derSet(p.signerInfos))
			})
		})
	})
	return b.Bytes()
}

// errNotDER: a SignedData this file cannot take apart to add a signature.
var errNotDER = errors.New("not a DER PKCS#7 SignedData with attached content")

// decodeSignedData takes a DER ContentInfo apart (the inverse of
// encodeSignedData; CRLs, which policies never carry, are refused).
func decodeSignedData(der []byte) (signedParts, error) {
	var p signedParts
	in := cryptobyte.String(der)
	var ci, sd, algs, encap, eContent, infos cryptobyte.String
	var oid asn1.ObjectIdentifier
	var version int64
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSignedData) ||
		!ci.ReadASN1(&sd, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!sd.ReadASN1(&sd, cbasn1.SEQUENCE) ||
		!sd.ReadASN1Integer(&version) ||
		!sd.ReadASN1(&algs, cbasn1.SET) ||
		!sd.ReadASN1(&encap, cbasn1.SEQUENCE) ||
		!encap.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidData) ||
		!encap.ReadASN1(&eContent, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!eContent.ReadASN1Bytes(&p.content, cbasn1.OCTET_STRING) {
		return p, errNotDER
	}
	var err error
	if p.digestAlgs, err = elements(algs); err != nil {
		return p, err
	}
	var certs cryptobyte.String
	var hasCerts bool
	if !sd.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return p, errNotDER
	}
	if p.certs, err = elements(certs); err != nil {
		return p, err
	}
	if sd.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return p, fmt.Errorf("%w: it carries CRLs", errNotDER)
	}
	if !sd.ReadASN1(&infos, cbasn1.SET) || !sd.Empty() {
		return p, errNotDER
	}
	if p.signerInfos, err = elements(infos); err != nil {
		return p, err
	}
	return p, nil
}

// elements splits the contents of a SET into the DER of each element.
func elements(s cryptobyte.String) ([][]byte, error) {
	var out [][]byte
	for !s.Empty() {
		var el cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1Element(&el, &tag) {
			return nil, errNotDER
		}
		out = append(out, el)
	}
	return out, nil
}

// signedBlob returns a DER SignedData of content signed by each signer.
func signedBlob(content []byte, now time.Time, signers ...keyPair) ([]byte, error) {
	p := signedParts{content: content}
	for _, s := range signers {
		si, alg, err := newSignerInfo(content, s.cert, s.key, now)
		if err != nil {
			return nil, err
		}
		p.signerInfos = append(p.signerInfos, si)
		p.digestAlgs = append(p.digestAlgs, alg)
		p.certs = append(p.certs, s.cert.Raw)
	}
	return encodeSignedData(p)
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}
