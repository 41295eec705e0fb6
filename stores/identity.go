package stores

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SHA256 returns the lowercase hex SHA-256 of the certificate's DER: the
// identity of a certificate everywhere in Anchorwatch.
func SHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// SHA1 returns the lowercase hex SHA-1 of the DER, the thumbprint Windows,
// GPO and Intune name certificates by.
func SHA1(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return hex.EncodeToString(sum[:])
}

// SPKIHash returns the lowercase hex SHA-256 of the certificate's
// SubjectPublicKeyInfo. Reissued certificates for the same key share it.
func SPKIHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// NormalizeSHA256 lowercases a hex fingerprint and strips colons and
// spaces, so "AB:CD…" and "abcd…" compare equal. It reports false when the
// result is not 64 hex digits.
func NormalizeSHA256(s string) (string, bool) {
	s = strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(s) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// ErrNotFingerprint is what Fingerprints wraps for an input that is not
// a SHA-256 fingerprint.
var ErrNotFingerprint = errors.New("is not a SHA-256 fingerprint (64 hex digits)")

// Fingerprints normalises each of sha256s (NormalizeSHA256) and drops
// repeats, keeping the order: the first step of every adapter's Remove
// and Undistrust. An input that is not a fingerprint is an error
// (ErrNotFingerprint) naming it.
func Fingerprints(sha256s []string) ([]string, error) {
	fps := make([]string, 0, len(sha256s))
	seen := make(map[string]bool, len(sha256s))
	for _, raw := range sha256s {
		fp, ok := NormalizeSHA256(raw)
		if !ok {
			return nil, fmt.Errorf("%q %w", raw, ErrNotFingerprint)
		}
		if !seen[fp] {
			seen[fp] = true
			fps = append(fps, fp)
		}
	}
	return fps, nil
}

// Unique returns certs without repeats (the same SHA-256 of DER), in
// their order: the first step of every adapter's Install and Distrust.
func Unique(certs []*x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(certs))
	seen := make(map[string]bool, len(certs))
	for _, c := range certs {
		if fp := SHA256(c); !seen[fp] {
			seen[fp] = true
			out = append(out, c)
		}
	}
	return out
}

// NewAnchor builds an Anchor for c with its SHA-256 filled in.
func NewAnchor(c *x509.Certificate, label string, trusted bool) Anchor {
	return Anchor{Cert: c, SHA256: SHA256(c), Label: label, TrustedServerAuth: trusted}
}

// IsSelfSigned reports whether c's issuer is its subject and its
// signature verifies with its own key: a root, as opposed to an
// intermediate.
func IsSelfSigned(c *x509.Certificate) bool {
	if string(c.RawIssuer) != string(c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// Label returns the name Anchorwatch gives a managed certificate in stores
// that name entries (NSS nickname, Java alias, anchor file name):
// "anchorwatch-" + the first 16 hex digits of its SHA-256. Lowercase and
// free of spaces so every tool accepts it.
func Label(c *x509.Certificate) string {
	return LabelPrefix + SHA256(c)[:16]
}

// LabelPrefix starts the name of every entry Anchorwatch writes.
const LabelPrefix = "anchorwatch-"
