package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// MaxCRL bounds a CRL fetched or parsed. An interception CA's CRL lists a
// handful of entries; a public CA's largest run to a few MiB.
const MaxCRL = 10 << 20

// ErrNotCRL is returned (wrapped) for data that is not a CRL.
var ErrNotCRL = errors.New("not a CRL")

// clockSkew is how far in the future a thisUpdate may lie before it is
// an error rather than a clock difference.
const clockSkew = 5 * time.Minute

// ParseCRL parses a CRL in DER (as RFC 5280 has it served) or PEM ("X509
// CRL"); pemEncoded says which. Data over MaxCRL, trailing data and
// anything else is refused.
func ParseCRL(data []byte) (crl *x509.RevocationList, pemEncoded bool, err error) {
	if len(data) > MaxCRL {
		return nil, false, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrNotCRL, len(data), MaxCRL)
	}
	der := data
	if b := bytes.TrimSpace(data); bytes.HasPrefix(b, []byte("-----BEGIN")) {
		p, rest := pem.Decode(b)
		if p == nil || p.Type != "X509 CRL" {
			return nil, false, fmt.Errorf("%w: PEM data without an X509 CRL block", ErrNotCRL)
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, false, fmt.Errorf("%w: data after the PEM block", ErrNotCRL)
		}
		der, pemEncoded = p.Bytes, true
	}
	crl, err = x509.ParseRevocationList(der)
	if err != nil {
		return nil, pemEncoded, fmt.Errorf("%w: %v", ErrNotCRL, err)
	}
	return crl, pemEncoded, nil
}

// CRLCheck is what CheckCRL is asked about one CRL.
type CRLCheck struct {
	URL string
	// For names the certificate the CRL speaks about ("CA" or "leaf").
	For string
	// Cert is that certificate; Issuer signed it and must have signed the
	// CRL (nil: the signature cannot be checked, which is a finding).
	Cert, Issuer *x509.Certificate
	Now          time.Time
	// Margin is the time left before nextUpdate below which the CRL is a
	// warning; 0 means a quarter of the CRL's own period.
	Margin time.Duration
}

// CheckCRL checks a parsed CRL: its signature and issuer name against
// the issuer, thisUpdate and nextUpdate against now and the margin, and
// whether it revokes the certificate. It fills res and returns findings
// about cc.URL.
func CheckCRL(crl *x509.RevocationList, cc CRLCheck, res *CRLResult) []Finding {
	var fs []Finding
	add := func(check string, sev Severity, msg, fix string) {
		fs = append(fs, Finding{Check: check, Severity: sev, Subject: cc.URL, Message: msg, Fix: fix})
	}
	res.ThisUpdate, res.NextUpdate = crl.ThisUpdate.UTC(), crl.NextUpdate.UTC()
	res.Entries = len(crl.RevokedCertificateEntries)
	ok := true
	switch {
	case cc.Issuer == nil:
		ok = false
		add("crl-unverified", SevWarn, "the CRL's signature was not checked: the issuer of the "+cc.For+" is unknown", "give the issuer with --issuer")
	case !bytes.Equal(crl.RawIssuer, cc.Issuer.RawSubject):
		ok = false
		add("crl-issuer", SevError, fmt.Sprintf("the CRL is issued by %q, not by the %s's issuer %q", crl.Issuer.String(), cc.For, cc.Issuer.Subject.String()),
			"point the distribution point at the CRL of "+cc.Issuer.Subject.String())
	default:
		if err := crl.CheckSignatureFrom(cc.Issuer); err != nil {
			ok = false
			add("crl-signature", SevError, fmt.Sprintf("the CRL's signature does not verify with the key of %q: %v", cc.Issuer.Subject.String(), err),
				"publish a CRL signed by the issuer's current key (a CRL from a replaced CA or another key is refused by every client)")
		}
	}
	ok = crlTimes(crl, cc, res, add) && ok
	if cc.Cert != nil {
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(cc.Cert.SerialNumber) == 0 {
				ok, res.Revoked = false, true
				add("crl-revoked", SevError, fmt.Sprintf("the CRL revokes the %s (serial %x) since %s", cc.For, cc.Cert.SerialNumber, e.RevocationTime.UTC().Format(time.RFC3339)),
					"replace the revoked certificate, or take it off the CRL if it was revoked by mistake")
			}
		}
	}
	res.OK = ok
	return fs
}

// crlTimes checks thisUpdate and nextUpdate; it reports whether they are
// acceptable.
func crlTimes(crl *x509.RevocationList, cc CRLCheck, res *CRLResult, add func(check string, sev Severity, msg, fix string)) bool {
	now := cc.Now
	if crl.ThisUpdate.After(now.Add(clockSkew)) {
		add("crl-not-yet-valid", SevError, "thisUpdate "+crl.ThisUpdate.UTC().Format(time.RFC3339)+" is in the future: clients refuse the CRL",
			"check the clock of the machine that signs the CRL")
		return false
	}
	if crl.NextUpdate.IsZero() {
		add("crl-no-next-update", SevWarn, "the CRL has no nextUpdate: clients cannot tell a stale CRL from a fresh one", "sign the CRL with a nextUpdate (openssl ca -gencrl -crldays N)")
		return true
	}
	left := crl.NextUpdate.Sub(now)
	res.SecondsLeft = left.Seconds()
	if left <= 0 {
		add("crl-expired", SevError, fmt.Sprintf("nextUpdate %s passed %s ago: clients that check revocation refuse the chain", crl.NextUpdate.UTC().Format(time.RFC3339), round(-left)),
			"publish a fresh CRL now, and automate republishing well before nextUpdate")
		return false
	}
	margin := cc.Margin
	if margin <= 0 {
		margin = crl.NextUpdate.Sub(crl.ThisUpdate) / 4
	}
	if left < margin {
		add("crl-expiring", SevWarn, fmt.Sprintf("nextUpdate %s is %s away (margin %s)", crl.NextUpdate.UTC().Format(time.RFC3339), round(left), round(margin)),
			"publish a fresh CRL before nextUpdate; check the job that republishes it")
		return true
	}
	add("crl", SevInfo, fmt.Sprintf("fresh: thisUpdate %s, nextUpdate %s (%s left), %d entries", crl.ThisUpdate.UTC().Format(time.RFC3339),
		crl.NextUpdate.UTC().Format(time.RFC3339), round(left), len(crl.RevokedCertificateEntries)), "")
	return true
}

// round shortens a duration for messages: whole seconds, minutes or hours.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 48*time.Hour:
		return d.Round(time.Hour)
	case d >= time.Hour:
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
