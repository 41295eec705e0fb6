package installers

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

// IsRoot reports whether c is self-issued and self-signed: a trust anchor
// that goes to a Root store. Anything else is an intermediate.
func IsRoot(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// SHA1Hex is the uppercase SHA-1 thumbprint Windows names a certificate's
// registry key and OMA-URI node by.
func SHA1Hex(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// checkCAs refuses an empty list and any certificate that is not a CA, so
// a builder called without policy.ParseCAs still never packages a leaf.
func checkCAs(cas []*x509.Certificate) error {
	if len(cas) == 0 {
		return errors.New("no CA certificate given: pass --ca FILE (PEM, DER or P7B)")
	}
	for _, c := range cas {
		if c == nil {
			return errors.New("nil certificate")
		}
		if err := policy.CheckCA(c); err != nil {
			return err
		}
	}
	return nil
}

func displayName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if s := c.Subject.String(); s != "" {
		return s
	}
	return fmt.Sprintf("CA %s", stores.SHA256(c)[:16])
}
