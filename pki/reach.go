package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Endpoint kinds.
const (
	KindCRL  = "crl"
	KindOCSP = "ocsp"
)

// Endpoint is a CRL distribution point or an OCSP responder a CA names,
// as the agent probes it.
type Endpoint struct {
	Kind string // KindCRL or KindOCSP
	URL  string
	CA   string // SHA-256 of the CA that names it
	// cert and issuer build the OCSP request.
	cert, issuer *x509.Certificate
}

// Endpoints lists the plain-http CDPs and OCSP responders of cas, each
// URL once (several CAs may share a CDP). The issuer of each CA is looked
// up among cas; without it the OCSP request names the CA as its own
// issuer, which a responder still answers (that it answers is what a
// reachability probe needs).
func Endpoints(cas []*x509.Certificate) []Endpoint {
	seen := map[string]bool{}
	var out []Endpoint
	for _, c := range cas {
		iss := issuerAmong(c, cas)
		fp := stores.SHA256(c)
		add := func(kind, u string) {
			if _, err := checkURL(u); err != nil || seen[kind+" "+u] {
				return
			}
			seen[kind+" "+u] = true
			out = append(out, Endpoint{Kind: kind, URL: u, CA: fp, cert: c, issuer: iss})
		}
		for _, u := range c.CRLDistributionPoints {
			add(KindCRL, u)
		}
		for _, u := range c.OCSPServer {
			add(KindOCSP, u)
		}
	}
	return out
}

func issuerAmong(c *x509.Certificate, cas []*x509.Certificate) *x509.Certificate {
	for _, p := range cas {
		if string(p.RawSubject) == string(c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return c
}

// Reach is whether one host could fetch one endpoint.
type Reach struct {
	Kind string `json:"kind"` // KindCRL or KindOCSP
	URL  string `json:"url"`
	CA   string `json:"ca_sha256"`
	OK   bool   `json:"ok"`
	// Detail is the reason it failed ("timeout", "HTTP 404 Not Found",
	// "not a CRL: …"), or what was fetched when it worked.
	Detail    string    `json:"detail,omitempty"`
	Millis    int64     `json:"millis"`
	CheckedAt time.Time `json:"checked_at"`
}

// Probe fetches one endpoint as a client would and says whether it
// served what clients need: a CRL that parses (its signature and
// freshness are the collector's check), or an OCSP answer of any status
// (an "unauthorized" answer still proves the responder is reachable; the
// collector's check judges it).
func Probe(ctx context.Context, f *Fetcher, e Endpoint, now time.Time) Reach {
	r := Reach{Kind: e.Kind, URL: e.URL, CA: e.CA, CheckedAt: now.UTC()}
	start := time.Now()
	defer func() { r.Millis = time.Since(start).Milliseconds() }()
	switch e.Kind {
	case KindCRL:
		data, err := f.Get(ctx, e.URL, MaxCRL)
		if err != nil {
			r.Detail = Describe(err)
			return r
		}
		crl, _, err := ParseCRL(data)
		if err != nil {
			r.Detail = err.Error()
			return r
		}
		r.OK = true
		r.Detail = fmt.Sprintf("CRL of %d bytes, next update %s", len(data), crl.NextUpdate.UTC().Format(time.RFC3339))
	case KindOCSP:
		req, err := OCSPRequest(e.cert, e.issuer)
		if err != nil {
			r.Detail = err.Error()
			return r
		}
		der, err := f.OCSP(ctx, e.URL, req)
		if err != nil {
			r.Detail = Describe(err)
			return r
		}
		r.OK, r.Detail = ocspReachDetail(der)
	default:
		r.Detail = "unknown endpoint kind " + e.Kind
	}
	return r
}

// ocspReachDetail reads an answer only as far as its response status.
func ocspReachDetail(der []byte) (bool, string) {
	_, err := ocsp.ParseResponse(der, nil)
	var re ocsp.ResponseError
	switch {
	case err == nil:
		return true, "OCSP answer"
	case errors.As(err, &re):
		return true, "OCSP answer: " + ocspStatusName(re.Status)
	}
	return false, fmt.Sprintf("%v: %v", ErrOCSPInvalid, err)
}
