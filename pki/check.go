package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Target is what Check looks at.
type Target struct {
	// CA is the certificate checked; required.
	CA *x509.Certificate
	// Issuer is the CA's issuer. Nil means: the CA itself when it is
	// self-signed, else fetched from the CA's AIA caIssuers URL (and
	// proven by the CA's signature), else unknown (a finding).
	Issuer *x509.Certificate
	// Leaf, when set, is a sample certificate the CA issued (one the
	// proxy minted): its CRL and OCSP responder are checked too.
	Leaf *x509.Certificate
	// Role selects the profile; "" means RoleIssuing.
	Role Role
}

// Options tune Check.
type Options struct {
	// Fetcher fetches over the network; nil means a zero Fetcher.
	Fetcher *Fetcher
	// Now is the time the check is made as of; zero means time.Now().
	Now time.Time
	// CRLMargin is the time left before a CRL's nextUpdate below which it
	// is a warning; 0 means a quarter of the CRL's period.
	CRLMargin time.Duration
	// Offline lints the certificates without any fetch.
	Offline bool
}

// maxParallel bounds the fetches one Check runs at once.
const maxParallel = 8

// Check runs the whole health check of one CA: the lint, its issuer, and
// (unless Offline) every CRL distribution point and OCSP responder of the
// CA and of the sample leaf. It never returns nil.
func Check(ctx context.Context, t Target, o Options) *Report {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if t.Role == "" {
		t.Role = RoleIssuing
	}
	f := o.Fetcher
	if f == nil {
		f = &Fetcher{}
	}
	r := &Report{CA: Info(t.CA, now), Role: t.Role, CheckedAt: now.UTC()}
	r.Findings = append(r.Findings, Lint(t.CA, t.Role, now)...)
	issuer, fs := resolveIssuer(ctx, f, t, o.Offline, now)
	r.Findings = append(r.Findings, fs...)
	if issuer != nil {
		info := Info(issuer, now)
		r.Issuer = &info
	}
	if t.Leaf != nil {
		info := Info(t.Leaf, now)
		r.Leaf = &info
		if err := t.Leaf.CheckSignatureFrom(t.CA); err != nil {
			r.Findings = append(r.Findings, Finding{Check: "leaf-issuer", Severity: SevError, Subject: "leaf",
				Message: "the sample leaf is not issued by this CA: " + err.Error(), Fix: "give a certificate the proxy minted with this CA"})
		}
	}
	if !o.Offline {
		checkEndpoints(ctx, f, r, t, issuer, now, o.CRLMargin)
	}
	sortFindings(r.Findings)
	return r
}

// resolveIssuer finds the CA's issuer as Target.Issuer describes.
func resolveIssuer(ctx context.Context, f *Fetcher, t Target, offline bool, now time.Time) (*x509.Certificate, []Finding) {
	fail := func(sev Severity, msg, fix string) []Finding {
		return []Finding{{Check: "issuer", Severity: sev, Subject: "CA", Message: msg, Fix: fix}}
	}
	if t.Issuer != nil {
		if err := t.CA.CheckSignatureFrom(t.Issuer); err != nil {
			return nil, fail(SevError, "the CA is not signed by the issuer given ("+t.Issuer.Subject.String()+"): "+err.Error(), "give the certificate that issued the CA")
		}
		return t.Issuer, nil
	}
	if stores.IsSelfSigned(t.CA) {
		return t.CA, nil
	}
	if !offline {
		for _, u := range t.CA.IssuingCertificateURL {
			if iss := fetchIssuer(ctx, f, u, t.CA); iss != nil {
				return iss, []Finding{{Check: "issuer", Severity: SevInfo, Subject: u, Message: "issuer " + iss.Subject.String() + " fetched from caIssuers and proven by the CA's signature"}}
			}
		}
	}
	return nil, fail(SevWarn, "the CA's issuer is unknown: CRL signatures and OCSP cannot be checked", "give the issuing certificate with --issuer")
}

// fetchIssuer fetches a caIssuers URL (DER or PEM, one or several
// certificates) and returns the one that signed ca.
func fetchIssuer(ctx context.Context, f *Fetcher, u string, ca *x509.Certificate) *x509.Certificate {
	data, err := f.Get(ctx, u, MaxIssuerCert)
	if err != nil {
		return nil
	}
	var ders [][]byte
	if bytes.Contains(data, []byte("-----BEGIN")) {
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			ders = append(ders, b.Bytes)
		}
	} else {
		ders = append(ders, data)
	}
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err == nil && ca.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

// job is one fetch of an endpoint check.
type job struct {
	crl  *CRLResult
	ocsp *OCSPResult
	fs   []Finding
	run  func(j *job)
}

// checkEndpoints queries every http CDP and responder of the CA and the
// leaf, a few at once, and adds the results to r in a stable order.
func checkEndpoints(ctx context.Context, f *Fetcher, r *Report, t Target, issuer *x509.Certificate, now time.Time, margin time.Duration) {
	var jobs []*job
	plan := func(forWhat string, cert, iss *x509.Certificate) {
		for _, u := range cert.CRLDistributionPoints {
			if _, err := checkURL(u); err != nil {
				continue // the lint reported it
			}
			cc := CRLCheck{URL: u, For: forWhat, Cert: cert, Issuer: iss, Now: now, Margin: margin}
			j := &job{crl: &CRLResult{URL: u, For: forWhat}}
			j.run = func(j *job) { j.fs = fetchCRL(ctx, f, cc, j.crl) }
			jobs = append(jobs, j)
		}
		for _, u := range cert.OCSPServer {
			if _, err := checkURL(u); err != nil {
				continue
			}
			oc := OCSPCheck{URL: u, For: forWhat, Now: now}
			j := &job{ocsp: &OCSPResult{URL: u, For: forWhat}}
			j.run = func(j *job) { j.fs = queryOCSP(ctx, f, oc, cert, iss, j.ocsp) }
			jobs = append(jobs, j)
		}
	}
	plan("CA", t.CA, issuer)
	if t.Leaf != nil {
		r.Findings = append(r.Findings, leafURLFindings(t.Leaf)...)
		plan("leaf", t.Leaf, t.CA)
	}
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			j.run(j)
		}()
	}
	wg.Wait()
	for _, j := range jobs {
		r.Findings = append(r.Findings, j.fs...)
		if j.crl != nil {
			r.CRLs = append(r.CRLs, *j.crl)
		} else {
			r.OCSP = append(r.OCSP, *j.ocsp)
		}
	}
}

// leafURLFindings reports a leaf's revocation URLs that clients cannot
// use; the CA's own are the lint's.
func leafURLFindings(leaf *x509.Certificate) []Finding {
	var fs []Finding
	for _, f := range urlFindings(leaf) {
		if f.Subject != "CA" { // per-URL findings; presence is the proxy's choice
			fs = append(fs, f)
		}
	}
	return fs
}

// fetchCRL fetches and checks one CRL.
func fetchCRL(ctx context.Context, f *Fetcher, cc CRLCheck, res *CRLResult) []Finding {
	start := time.Now()
	data, err := f.Get(ctx, cc.URL, MaxCRL)
	res.Millis = time.Since(start).Milliseconds()
	if err != nil {
		res.Error = Describe(err)
		return []Finding{{Check: "crl-unreachable", Severity: SevError, Subject: cc.URL, Message: "cannot fetch the CRL: " + res.Error,
			Fix: "publish the CRL at this URL, and open the network path from the clients to it"}}
	}
	crl, isPEM, err := ParseCRL(data)
	if err != nil {
		res.Error = err.Error()
		return []Finding{{Check: "crl-invalid", Severity: SevError, Subject: cc.URL, Message: "the URL does not serve a CRL: " + err.Error(),
			Fix: "serve the DER CRL (openssl crl -outform DER) at this URL"}}
	}
	fs := CheckCRL(crl, cc, res)
	if isPEM {
		fs = append(fs, Finding{Check: "crl-pem", Severity: SevWarn, Subject: cc.URL, Message: "the CRL is served as PEM; RFC 5280 clients expect DER and some refuse PEM",
			Fix: "serve it as DER: openssl crl -in crl.pem -outform DER -out crl.der"})
	}
	return fs
}

// queryOCSP asks one responder about cert and checks the answer.
func queryOCSP(ctx context.Context, f *Fetcher, oc OCSPCheck, cert, issuer *x509.Certificate, res *OCSPResult) []Finding {
	if issuer == nil {
		res.Status, res.Error = OCSPInvalid, "issuer unknown"
		return []Finding{{Check: "ocsp-unverified", Severity: SevWarn, Subject: oc.URL, Message: "the responder was not queried: the " + oc.For + "'s issuer is unknown",
			Fix: "give the issuer with --issuer"}}
	}
	req, err := OCSPRequest(cert, issuer)
	if err != nil {
		res.Status, res.Error = OCSPInvalid, err.Error()
		return []Finding{{Check: "ocsp-request", Severity: SevError, Subject: oc.URL, Message: "cannot build the OCSP request: " + err.Error()}}
	}
	start := time.Now()
	der, err := f.OCSP(ctx, oc.URL, req)
	res.Millis = time.Since(start).Milliseconds()
	var resp *ocsp.Response
	if err == nil {
		resp, err = ParseOCSP(der, cert, issuer, oc.Now)
	}
	return CheckOCSP(resp, err, oc, res)
}

// Targets makes a Target of every CA in cas. The issuer of each is looked
// up among cas and issuers (nil when neither holds it: Check then tries
// the CA's caIssuers URL); a self-signed CA that issued another of cas is
// an offline root (RoleRoot), every other CA the issuing one.
func Targets(cas, issuers []*x509.Certificate) []Target {
	pool := append(append([]*x509.Certificate{}, cas...), issuers...)
	out := make([]Target, 0, len(cas))
	for _, c := range cas {
		t := Target{CA: c, Role: RoleIssuing}
		if iss := issuerAmong(c, pool); iss != c {
			t.Issuer = iss
		}
		if stores.IsSelfSigned(c) {
			for _, o := range cas {
				if o != c && !stores.IsSelfSigned(o) && issuerAmong(o, []*x509.Certificate{c}) == c {
					t.Role = RoleRoot
				}
			}
		}
		out = append(out, t)
	}
	return out
}
