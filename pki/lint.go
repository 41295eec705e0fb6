package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Role is the part a CA plays in the interception PKI; the profile holds
// each to different rules.
type Role string

// Roles.
const (
	// RoleIssuing is the CA the proxy signs its certificates with: an
	// intermediate, or a root that signs directly (which the profile
	// warns about).
	RoleIssuing Role = "issuing"
	// RoleRoot is an offline root above an issuing CA.
	RoleRoot Role = "root"
)

// Limits of the interception-CA profile.
const (
	// MaxIssuingValidity is the longest validity the profile accepts for
	// the CA whose key sits on the proxy: that key can impersonate every
	// site to every managed host, so it is rotated.
	MaxIssuingValidity = 5*365*24*time.Hour + 48*time.Hour
	// MaxRootValidity is the longest validity for an offline root.
	MaxRootValidity = 25*365*24*time.Hour + 7*24*time.Hour
	// ExpiryError and ExpiryWarn are the days left below which an expiring
	// CA is an error or a warning.
	ExpiryError = 30
	ExpiryWarn  = 90
)

// lintSources are the zlint sources run on a CA. The CA/B Forum, browser
// root programs and ETSI hold publicly trusted CAs to rules (a country in
// the subject, certificate policies) that a private interception CA need
// not follow; the RFCs and the community lints apply to every CA.
var lintSources = lint.SourceList{lint.RFC5280, lint.RFC5480, lint.RFC3279, lint.RFC5891, lint.RFC8813, lint.Community}

// lintsSkipped are zlint lints that say nothing about a private CA and
// cost much: e_cert_issued_by_compromised_emudhra_ca verifies the
// signature against eight public CAs' P-384 keys (20 ms of a 22 ms lint).
var lintsSkipped = []string{"e_cert_issued_by_compromised_emudhra_ca"}

// zlintRegistry is the filtered registry, built once: filtering copies
// every lint, and the global registry never changes after init.
var zlintRegistry = sync.OnceValues(func() (lint.Registry, error) {
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lintSources})
	if err != nil {
		return nil, err
	}
	return reg.Filter(lint.FilterOptions{ExcludeNames: lintsSkipped})
})

// Lint checks a CA certificate: zlint's generic lints, then the
// interception-CA profile for its role, as of now.
func Lint(c *x509.Certificate, role Role, now time.Time) []Finding {
	fs := zlintFindings(c)
	fs = append(fs, profile(c, role, now)...)
	sortFindings(fs)
	return fs
}

// zlintFindings runs zlint on c's DER. zlint and its certificate parser
// are not written for hostile input: a panic in them is a finding, never
// a crash of the collector's probe.
func zlintFindings(c *x509.Certificate) (out []Finding) {
	defer func() {
		if v := recover(); v != nil {
			out = []Finding{{Check: "zlint", Severity: SevWarn, Subject: "CA", Message: fmt.Sprintf("zlint failed on this certificate: %v", v),
				Fix: "report it with the certificate; the interception-CA profile still ran"}}
		}
	}()
	reg, err := zlintRegistry()
	if err != nil {
		return []Finding{{Check: "zlint", Severity: SevWarn, Subject: "CA", Message: "zlint could not run: " + err.Error()}}
	}
	zc, err := zx509.ParseCertificate(c.Raw)
	if err != nil {
		return []Finding{{Check: "zlint:parse", Severity: SevError, Subject: "CA",
			Message: "zlint's strict parser refuses the certificate: " + err.Error(),
			Fix:     "reissue the CA with a conforming encoding: some clients will refuse it too"}}
	}
	rs := zlint.LintCertificateEx(zc, reg)
	names := make([]string, 0, len(rs.Results))
	for name := range rs.Results {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := rs.Results[name]
		sev := zlintSeverity(r.Status)
		if sev == "" {
			continue
		}
		meta := reg.CertificateLints().ByName(name)
		msg, fix := name, ""
		if meta != nil {
			msg, fix = meta.Description, "see "+meta.Citation
		}
		if r.Details != "" {
			msg += " (" + r.Details + ")"
		}
		out = append(out, Finding{Check: "zlint:" + name, Severity: sev, Subject: "CA", Message: msg, Fix: fix})
	}
	return out
}

func zlintSeverity(s lint.LintStatus) Severity {
	switch s {
	case lint.Error, lint.Fatal:
		return SevError
	case lint.Warn:
		return SevWarn
	case lint.Notice:
		return SevInfo
	}
	return ""
}

// profile is the interception-CA profile: what matters for a CA that
// every managed host trusts for every site.
func profile(c *x509.Certificate, role Role, now time.Time) []Finding {
	var fs []Finding
	add := func(check string, sev Severity, msg, fix string) {
		fs = append(fs, Finding{Check: check, Severity: sev, Subject: "CA", Message: msg, Fix: fix})
	}
	self := stores.IsSelfSigned(c)
	if role == RoleIssuing && self {
		add("root-signs", SevWarn, "a self-signed root is the signing CA: its key sits online on the proxy and cannot be replaced without touching every trust store",
			"keep the root offline and give the proxy an intermediate issued under it (pathLenConstraint 0); deploy the root through the policy")
	}
	fs = append(fs, pathLenFindings(c, role)...)
	fs = append(fs, keyUsageFindings(c)...)
	fs = append(fs, ekuFindings(c, role)...)
	fs = append(fs, keyFindings(c)...)
	fs = append(fs, validityFindings(c, role, now)...)
	if !self {
		fs = append(fs, urlFindings(c)...)
	}
	if role == RoleIssuing {
		fs = append(fs, nameConstraintFindings(c)...)
	}
	return fs
}

func pathLenFindings(c *x509.Certificate, role Role) []Finding {
	unset := c.MaxPathLen < 0 || (c.MaxPathLen == 0 && !c.MaxPathLenZero)
	f := Finding{Subject: "CA"}
	switch {
	case role == RoleRoot && unset:
		f.Check, f.Severity = "pathlen-missing", SevInfo
		f.Message = "the root sets no pathLenConstraint"
		f.Fix = "when you next reissue it, set pathlen:1 so the chain stays root → intermediate → leaf"
	case role == RoleRoot:
		f.Check, f.Severity, f.Message = "pathlen", SevInfo, fmt.Sprintf("pathLenConstraint %d", c.MaxPathLen)
	case unset:
		f.Check, f.Severity = "pathlen-missing", SevError
		f.Message = "no pathLenConstraint: whoever holds the proxy's key can mint further CAs that every managed host trusts"
		f.Fix = "reissue the CA with basicConstraints critical, CA:true, pathlen:0"
	case c.MaxPathLen > 0:
		f.Check, f.Severity = "pathlen-too-long", SevError
		f.Message = fmt.Sprintf("pathLenConstraint %d allows the proxy's key to mint further CAs", c.MaxPathLen)
		f.Fix = "reissue the CA with pathlen:0"
	default:
		f.Check, f.Severity, f.Message = "pathlen", SevInfo, "pathLenConstraint 0: the CA issues only end-entity certificates"
	}
	return []Finding{f}
}

func keyUsageFindings(c *x509.Certificate) []Finding {
	const want = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	f := func(check string, sev Severity, msg, fix string) Finding {
		return Finding{Check: check, Severity: sev, Subject: "CA", Message: msg, Fix: fix}
	}
	ku := c.KeyUsage
	if ku == 0 {
		return []Finding{f("key-usage-missing", SevError, "no keyUsage extension: the key is not limited to signing certificates and CRLs",
			"reissue the CA with keyUsage critical, keyCertSign, cRLSign")}
	}
	var out []Finding
	if ku&x509.KeyUsageCertSign == 0 {
		out = append(out, f("key-usage-certsign", SevError, "keyUsage lacks keyCertSign: clients refuse every certificate it issues", "reissue the CA with keyUsage keyCertSign, cRLSign"))
	}
	if ku&x509.KeyUsageCRLSign == 0 {
		out = append(out, f("key-usage-crlsign", SevInfo, "keyUsage lacks cRLSign: the CA cannot sign its own CRL", "add cRLSign when you next reissue it, if it publishes a CRL"))
	}
	if ku&x509.KeyUsageDigitalSignature != 0 {
		out = append(out, f("key-usage-digitalsignature", SevInfo, "keyUsage includes digitalSignature (needed only to sign OCSP answers with the CA key itself)", "drop it unless the CA signs its OCSP answers directly"))
	}
	if extra := ku &^ (want | x509.KeyUsageDigitalSignature); extra != 0 {
		out = append(out, f("key-usage-extra", SevWarn, "keyUsage allows more than signing certificates and CRLs ("+keyUsageNames(extra)+")",
			"reissue the CA with keyUsage critical, keyCertSign, cRLSign only"))
	}
	if len(out) == 0 {
		out = append(out, f("key-usage", SevInfo, "keyUsage keyCertSign, cRLSign", ""))
	}
	return out
}

func keyUsageNames(ku x509.KeyUsage) string {
	names := []string{"digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"}
	var out []string
	for i, n := range names {
		if ku&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ", ")
}

func ekuFindings(c *x509.Certificate, role Role) []Finding {
	f := func(check string, sev Severity, msg, fix string) []Finding {
		return []Finding{{Check: check, Severity: sev, Subject: "CA", Message: msg, Fix: fix}}
	}
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		if role == RoleRoot {
			return f("eku-missing", SevInfo, "the root names no extendedKeyUsage (usual for a root; its intermediate limits it)", "")
		}
		return f("eku-missing", SevWarn, "no extendedKeyUsage: where clients honour it, the CA is trusted for every purpose (code signing, e-mail, client auth), not only TLS servers",
			"reissue the CA with extendedKeyUsage serverAuth")
	}
	var bad, odd []string
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
		case x509.ExtKeyUsageClientAuth:
			odd = append(odd, "clientAuth")
		case x509.ExtKeyUsageAny:
			bad = append(bad, "anyExtendedKeyUsage")
		default:
			bad = append(bad, ekuName(u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		odd = append(odd, oid.String())
	}
	switch {
	case len(bad) > 0:
		return f("eku-extra", SevError, "extendedKeyUsage allows "+strings.Join(bad, ", ")+": a stolen proxy key could sign for those purposes on every managed host",
			"reissue the CA with extendedKeyUsage serverAuth only")
	case len(odd) > 0:
		return f("eku-extra", SevWarn, "extendedKeyUsage allows "+strings.Join(odd, ", ")+" beside serverAuth", "reissue the CA with extendedKeyUsage serverAuth only")
	}
	return f("eku", SevInfo, "extendedKeyUsage serverAuth only", "")
}

func ekuName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	}
	return fmt.Sprintf("EKU %d", u)
}

func keyFindings(c *x509.Certificate) []Finding {
	f := func(check string, sev Severity, msg, fix string) []Finding {
		return []Finding{{Check: check, Severity: sev, Subject: "CA", Message: msg, Fix: fix}}
	}
	var out []Finding
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		out = append(out, f("signature-weak", SevError, "signed with "+c.SignatureAlgorithm.String()+": current clients refuse it", "reissue the CA with SHA-256 or better")...)
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		switch {
		case bits < 2048:
			out = append(out, f("key-size", SevError, fmt.Sprintf("RSA %d-bit key: too short, clients refuse it", bits), "reissue the CA with RSA 3072 or ECDSA P-256")...)
		default:
			out = append(out, f("key-size", SevInfo, fmt.Sprintf("RSA %d-bit key", bits), "")...)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384():
			out = append(out, f("key-size", SevInfo, "ECDSA "+k.Curve.Params().Name+" key", "")...)
		default:
			out = append(out, f("key-type", SevWarn, "ECDSA "+k.Curve.Params().Name+" key: Chrome and other BoringSSL clients accept only P-256 and P-384", "reissue the CA with ECDSA P-256 or P-384")...)
		}
	case ed25519.PublicKey:
		out = append(out, f("key-type", SevError, "Ed25519 key: browsers do not accept Ed25519 certificates", "reissue the CA with ECDSA P-256 or RSA 3072")...)
	default:
		out = append(out, f("key-type", SevError, fmt.Sprintf("%T key: not one TLS clients accept", k), "reissue the CA with ECDSA P-256 or RSA 3072")...)
	}
	return out
}

func validityFindings(c *x509.Certificate, role Role, now time.Time) []Finding {
	f := func(check string, sev Severity, msg, fix string) Finding {
		return Finding{Check: check, Severity: sev, Subject: "CA", Message: msg, Fix: fix}
	}
	var out []Finding
	length := c.NotAfter.Sub(c.NotBefore)
	years := length.Hours() / 24 / 365
	limit := MaxIssuingValidity
	if role == RoleRoot {
		limit = MaxRootValidity
	}
	if length > limit {
		fix := "issue the proxy's CA for at most 5 years and rotate it (publish the successor in the policy, then remove the old one)"
		if role == RoleRoot {
			fix = "plan the root's successor; keep offline roots under 25 years"
		}
		out = append(out, f("validity-long", SevWarn, fmt.Sprintf("valid for %.1f years", years), fix))
	}
	left := daysLeft(c.NotAfter, now)
	switch {
	case now.Before(c.NotBefore):
		out = append(out, f("not-yet-valid", SevError, "not valid before "+c.NotBefore.UTC().Format(time.RFC3339), "check the clock of the machine that issued it"))
	case left < 0:
		out = append(out, f("expired", SevError, "expired on "+c.NotAfter.UTC().Format("2006-01-02")+": every managed client refuses the proxy's certificates", "issue a successor now and publish it in the policy"))
	case left < ExpiryError:
		out = append(out, f("expires-soon", SevError, fmt.Sprintf("expires in %d days (%s)", left, c.NotAfter.UTC().Format("2006-01-02")), "publish the successor in the policy now: agents need time to install it everywhere"))
	case left < ExpiryWarn:
		out = append(out, f("expires-soon", SevWarn, fmt.Sprintf("expires in %d days (%s)", left, c.NotAfter.UTC().Format("2006-01-02")), "issue the successor and publish it in the policy"))
	default:
		out = append(out, f("validity", SevInfo, fmt.Sprintf("valid for %.1f years, %d days left", years, left), ""))
	}
	return out
}

// urlFindings checks where clients fetch revocation data and the issuer
// from: present, and plain http (a client validating through the
// interception proxy cannot complete a TLS handshake to fetch it).
func urlFindings(c *x509.Certificate) []Finding {
	var out []Finding
	add := func(check string, sev Severity, subject, msg, fix string) {
		out = append(out, Finding{Check: check, Severity: sev, Subject: subject, Message: msg, Fix: fix})
	}
	if len(c.CRLDistributionPoints) == 0 {
		add("cdp-missing", SevWarn, "CA", "no CRL distribution point: clients that require revocation information refuse the chain",
			"reissue the CA with crlDistributionPoints URI:http://… serving its issuer's CRL")
	}
	if len(c.OCSPServer) == 0 && len(c.IssuingCertificateURL) == 0 {
		add("aia-missing", SevWarn, "CA", "no authorityInfoAccess: clients cannot fetch the issuer or query OCSP",
			"reissue the CA with authorityInfoAccess OCSP;URI:http://… and caIssuers;URI:http://…")
	}
	check := func(kind, u string) {
		p, err := url.Parse(u)
		switch {
		case err != nil:
			add(kind+"-url", SevError, u, "not a URL: "+err.Error(), "reissue the CA with a valid http:// URL")
		case p.Scheme == "https":
			add(kind+"-https", SevError, u, "https: a client checking revocation through the interception proxy cannot open a TLS connection to fetch it (and it cannot check the revocation of that server's certificate either)",
				"serve it over plain http:// (the data is signed) and reissue the CA with that URL")
		case p.Scheme != "http":
			add(kind+"-not-http", SevWarn, u, p.Scheme+": only some clients (Windows for ldap://) fetch it", "add an http:// URL")
		}
	}
	for _, u := range c.CRLDistributionPoints {
		check("cdp", u)
	}
	for _, u := range c.OCSPServer {
		check("ocsp", u)
	}
	for _, u := range c.IssuingCertificateURL {
		check("aia", u)
	}
	return out
}

func nameConstraintFindings(c *x509.Certificate) []Finding {
	var ex []string
	ex = append(ex, c.ExcludedDNSDomains...)
	for _, n := range c.ExcludedIPRanges {
		ex = append(ex, n.String())
	}
	if len(ex) == 0 && len(c.PermittedDNSDomains) == 0 && len(c.PermittedIPRanges) == 0 {
		return []Finding{{Check: "name-constraints", Severity: SevInfo, Subject: "CA",
			Message: "no name constraints: the proxy's key can impersonate internal services too",
			Fix:     "when you next reissue it, consider nameConstraints excluding the internal domains and networks the proxy does not inspect (excluded;DNS:.corp.example)"}}
	}
	msg := "name constraints"
	if len(ex) > 0 {
		msg += ", excluded: " + strings.Join(ex, ", ")
	}
	if len(c.PermittedDNSDomains) > 0 {
		msg += ", permitted: " + strings.Join(c.PermittedDNSDomains, ", ")
	}
	return []Finding{{Check: "name-constraints", Severity: SevInfo, Subject: "CA", Message: msg}}
}
