package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Typed OCSP errors; decide with errors.Is.
var (
	// ErrOCSPSignature: the answer is not signed by the issuer, nor by a
	// responder certificate the issuer signed for OCSP signing.
	ErrOCSPSignature = errors.New("OCSP answer not signed by the issuer or a responder it authorized")
	// ErrOCSPInvalid: the answer does not parse.
	ErrOCSPInvalid = errors.New("not an OCSP answer")
)

// OCSPRequest builds the DER request for cert's status (SHA-1 CertID, as
// every responder understands).
func OCSPRequest(cert, issuer *x509.Certificate) ([]byte, error) {
	return ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
}

// ParseOCSP parses an OCSP answer about cert and checks that issuer
// stands behind it: signed by the issuer itself, or by a delegated
// responder certificate the issuer signed, valid at now, that carries the
// OCSPSigning EKU. An unsuccessful answer ("unauthorized", "tryLater"…)
// is an ocsp.ResponseError; a malformed one wraps ErrOCSPInvalid; a
// signature problem wraps ErrOCSPSignature.
func ParseOCSP(der []byte, cert, issuer *x509.Certificate, now time.Time) (resp *ocsp.Response, err error) {
	if len(der) > MaxOCSPAnswer {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrOCSPInvalid, len(der), MaxOCSPAnswer)
	}
	defer func() {
		// The parser is not written for hostile input: a bad answer is an
		// error, never a crash.
		if v := recover(); v != nil {
			resp, err = nil, fmt.Errorf("%w: %v", ErrOCSPInvalid, v)
		}
	}()
	// The issuer is checked here rather than by the library, which
	// insists that an embedded certificate be signed by the issuer and so
	// refuses answers signed by the issuer with its own certificate
	// attached (what `openssl ocsp -rsigner ca.pem` sends).
	resp, err = ocsp.ParseResponseForCert(der, cert, nil)
	var re ocsp.ResponseError
	switch {
	case errors.As(err, &re):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrOCSPInvalid, err)
	}
	if issuer == nil {
		return resp, fmt.Errorf("%w: the issuer is unknown", ErrOCSPSignature)
	}
	if err := authorizeResponder(resp, issuer, now); err != nil {
		return resp, err
	}
	return resp, nil
}

// authorizeResponder checks who signed resp (RFC 6960 4.2.2.2).
func authorizeResponder(resp *ocsp.Response, issuer *x509.Certificate, now time.Time) error {
	rc := resp.Certificate
	switch {
	case rc == nil:
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return fmt.Errorf("%w: %v", ErrOCSPSignature, err)
		}
		return nil
	case bytes.Equal(rc.Raw, issuer.Raw):
		return nil // signed by the issuer, whose certificate it attached (the library verified it)
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("%w: the responder certificate %q is not issued by %q: %v", ErrOCSPSignature, rc.Subject.String(), issuer.Subject.String(), err)
	}
	hasEKU := false
	for _, u := range rc.ExtKeyUsage {
		hasEKU = hasEKU || u == x509.ExtKeyUsageOCSPSigning
	}
	if !hasEKU {
		return fmt.Errorf("%w: the responder certificate %q lacks the OCSPSigning extended key usage", ErrOCSPSignature, rc.Subject.String())
	}
	if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
		return fmt.Errorf("%w: the responder certificate %q is not valid now (%s to %s)", ErrOCSPSignature, rc.Subject.String(),
			rc.NotBefore.UTC().Format(time.RFC3339), rc.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// OCSPCheck is what CheckOCSP is asked about one answer.
type OCSPCheck struct {
	URL string
	For string // "CA" or "leaf"
	Now time.Time
}

// CheckOCSP turns the outcome of one query (the parsed answer, or the
// error of fetching or parsing it) into findings about oc.URL, and fills
// res.
func CheckOCSP(resp *ocsp.Response, err error, oc OCSPCheck, res *OCSPResult) []Finding {
	var fs []Finding
	add := func(check string, sev Severity, msg, fix string) {
		fs = append(fs, Finding{Check: check, Severity: sev, Subject: oc.URL, Message: msg, Fix: fix})
	}
	if resp != nil {
		res.ThisUpdate, res.NextUpdate, res.ProducedAt = resp.ThisUpdate.UTC(), resp.NextUpdate.UTC(), resp.ProducedAt.UTC()
	}
	if err != nil {
		ocspErrorFinding(err, oc, res, add)
		return fs
	}
	switch resp.Status {
	case ocsp.Good:
		res.Status = OCSPGood
	case ocsp.Revoked:
		res.Status = OCSPRevoked
		add("ocsp-revoked", SevError, fmt.Sprintf("the responder says the %s is revoked (since %s)", oc.For, resp.RevokedAt.UTC().Format(time.RFC3339)),
			"replace the revoked certificate, or correct the responder's database if it was revoked by mistake")
		return fs
	default:
		res.Status = OCSPUnknown
		add("ocsp-unknown", SevError, "the responder does not know the "+oc.For+": clients that insist on an answer refuse it",
			"load the issuer's database into the responder (it answers for another CA, or an old copy of this one's)")
		return fs
	}
	switch {
	case resp.ThisUpdate.After(oc.Now.Add(clockSkew)):
		add("ocsp-not-yet-valid", SevError, "thisUpdate "+resp.ThisUpdate.UTC().Format(time.RFC3339)+" is in the future: clients refuse the answer", "check the responder's clock")
	case !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(oc.Now):
		add("ocsp-stale", SevError, "the answer's nextUpdate "+resp.NextUpdate.UTC().Format(time.RFC3339)+" has passed: clients refuse a stale answer",
			"make the responder sign fresh answers (its cache or pre-signed answers are out of date)")
	default:
		msg := "good, produced " + resp.ProducedAt.UTC().Format(time.RFC3339)
		if !resp.NextUpdate.IsZero() {
			msg += ", next update " + resp.NextUpdate.UTC().Format(time.RFC3339)
		}
		add("ocsp", SevInfo, msg, "")
	}
	return fs
}

func ocspErrorFinding(err error, oc OCSPCheck, res *OCSPResult, add func(check string, sev Severity, msg, fix string)) {
	res.Error = Describe(err)
	var re ocsp.ResponseError
	switch {
	case errors.As(err, &re) && re.Status == ocsp.Unauthorized:
		res.Status = "unauthorized"
		add("ocsp-unauthorized", SevError, "the responder answered \"unauthorized\": it does not serve the "+oc.For+"'s issuer",
			"configure the responder for this issuer, or fix the OCSP URL in the certificate's authorityInfoAccess")
	case errors.As(err, &re):
		res.Status = ocspStatusName(re.Status)
		add("ocsp-error", SevError, "the responder answered \""+res.Status+"\" instead of a status", "check the responder's log")
	case errors.Is(err, ErrOCSPSignature):
		res.Status = OCSPInvalid
		add("ocsp-signature", SevError, err.Error(), "sign answers with the issuer's key or a responder certificate it issued with the OCSPSigning EKU")
	case errors.Is(err, ErrOCSPInvalid):
		res.Status = OCSPInvalid
		add("ocsp-invalid", SevError, "the responder's answer is not a valid OCSP response: "+err.Error(), "check what the URL serves (a proxy error page, a web server)")
	default:
		res.Status = OCSPUnreachable
		var he *HTTPStatusError
		if errors.As(err, &he) {
			add("ocsp-http", SevError, "the responder answered "+he.Error(), "check the responder and the URL in the certificate's authorityInfoAccess")
			return
		}
		add("ocsp-unreachable", SevError, "no answer from the responder: "+Describe(err),
			"start the responder, or open the network path from the clients to it")
	}
}

func ocspStatusName(s ocsp.ResponseStatus) string {
	switch s {
	case ocsp.Malformed:
		return "malformedRequest"
	case ocsp.InternalError:
		return "internalError"
	case ocsp.TryLater:
		return "tryLater"
	case ocsp.SignatureRequired:
		return "sigRequired"
	case ocsp.Unauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("status %d", s)
}
