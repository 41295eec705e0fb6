package proxy

// Check is one upstream test: an origin the grader serves with one flaw
// (or none), and what the proxy should make of it.
type Check struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Bad is true for a flawed origin: the proxy must block it or pass the
	// error on, never show it as a valid site. For a sound origin (false)
	// the proxy must let it through.
	Bad bool `json:"bad"`
	// FailGrade is the grade of a proxy that fails this check.
	FailGrade Grade `json:"fail_grade"`
	// Risk says what failing means; Fix says what to change.
	Risk string `json:"-"`
	Fix  string `json:"-"`
}

// Check IDs.
const (
	CheckValid       = "valid"
	CheckExpired     = "expired"
	CheckNotYetValid = "not-yet-valid"
	CheckSelfSigned  = "self-signed"
	CheckUntrusted   = "untrusted-root"
	CheckWrongHost   = "wrong-host"
	CheckRevokedCRL  = "revoked-crl"
	CheckRevokedOCSP = "revoked-ocsp"
	CheckSHA1        = "sha1-signature"
	CheckRSA1024     = "rsa-1024"
	CheckTLS10       = "tls10-only"
	CheckTLS11       = "tls11-only"
	CheckRC4         = "cipher-rc4"
	Check3DES        = "cipher-3des"
	CheckNullCipher  = "cipher-null"
	CheckRSAKex      = "cipher-no-forward-secrecy"
	CheckModernRoot  = "modern-root"
)

const (
	fixVerify = "verify upstream certificates and refuse the connection on any error. Squid: remove " +
		"`sslproxy_cert_error allow …` and `tls_outgoing_options flags=DONT_VERIFY_PEER`; the default refuses"
	fixSeclevel = "let the TLS library refuse weak signatures and keys. Squid: drop `@SECLEVEL=0`/`@SECLEVEL=1` " +
		"from `tls_outgoing_options cipher=` (Debian's OpenSSL default is SECLEVEL=2)"
	fixVersions = "refuse TLS 1.0 and 1.1 upstream. Squid: `tls_outgoing_options min-version=1.2`"
	fixCiphers  = "refuse broken cipher suites upstream. Squid: drop weak suites and `@SECLEVEL=0` from " +
		"`tls_outgoing_options cipher=`, or use `cipher=ECDHE+AESGCM:ECDHE+CHACHA20`"
	fixForwardSecrecy = "offer only forward-secret suites upstream. Squid: `tls_outgoing_options cipher=ECDHE+AESGCM:ECDHE+CHACHA20` " +
		"(OpenSSL's default list still has RSA key exchange)"
)

// Checks lists every upstream test, the sound baseline first.
func Checks() []Check {
	return []Check{
		{ID: CheckValid, Title: "valid certificate (baseline)", FailGrade: 0,
			Risk: "the proxy refuses a sound site from the grading root, so nothing else can be graded",
			Fix:  "add the grading roots (roots.pem in the --pki directory) to the proxy's upstream trust. Squid: `tls_outgoing_options cafile=/path/roots.pem`"},
		{ID: CheckExpired, Title: "expired certificate", Bad: true, FailGrade: GradeF,
			Risk: "users are shown a valid certificate for a site whose certificate expired", Fix: fixVerify},
		{ID: CheckNotYetValid, Title: "certificate not yet valid", Bad: true, FailGrade: GradeF,
			Risk: "users are shown a valid certificate for a site whose certificate is not valid yet", Fix: fixVerify},
		{ID: CheckSelfSigned, Title: "self-signed certificate", Bad: true, FailGrade: GradeF,
			Risk: "anyone between the proxy and the site can impersonate any site with a self-made certificate", Fix: fixVerify},
		{ID: CheckUntrusted, Title: "certificate from an untrusted root", Bad: true, FailGrade: GradeF,
			Risk: "anyone between the proxy and the site can impersonate any site with their own CA", Fix: fixVerify},
		{ID: CheckWrongHost, Title: "certificate for another host name", Bad: true, FailGrade: GradeF,
			Risk: "a certificate for any site is accepted for every site", Fix: fixVerify},
		{ID: CheckRevokedCRL, Title: "revoked certificate (CRL)", Bad: true, FailGrade: GradeB,
			Risk: "a certificate revoked by its CA (a stolen key) is shown as valid; browsers behind the proxy cannot check it themselves",
			Fix:  "check revocation upstream. Squid fetches no CRLs itself: `tls_outgoing_options crlfile=FILE` with CRLs you refresh, and flags=… without DONT_VERIFY_PEER"},
		{ID: CheckRevokedOCSP, Title: "revoked certificate (OCSP)", Bad: true, FailGrade: GradeB,
			Risk: "a certificate revoked by its CA (a stolen key) is shown as valid; browsers behind the proxy cannot check it themselves",
			Fix:  "turn on OCSP checking of upstream certificates where the product has it (Squid has none: bypass high-value sites or check CRLs)"},
		{ID: CheckSHA1, Title: "SHA-1 signed certificate", Bad: true, FailGrade: GradeC,
			Risk: "SHA-1 signatures can be forged (chosen-prefix collisions); browsers refuse them since 2017", Fix: fixSeclevel},
		{ID: CheckRSA1024, Title: "RSA-1024 key", Bad: true, FailGrade: GradeC,
			Risk: "1024-bit RSA is within reach of factoring; browsers refuse it since 2014", Fix: fixSeclevel},
		{ID: CheckTLS10, Title: "origin speaks only TLS 1.0", Bad: true, FailGrade: GradeC,
			Risk: "the upstream leg runs TLS 1.0 (BEAST, Lucky13) while the user sees a modern connection", Fix: fixVersions},
		{ID: CheckTLS11, Title: "origin speaks only TLS 1.1", Bad: true, FailGrade: GradeB,
			Risk: "the upstream leg runs TLS 1.1, deprecated by RFC 8996, while the user sees a modern connection", Fix: fixVersions},
		{ID: CheckRC4, Title: "origin offers only RC4", Bad: true, FailGrade: GradeC,
			Risk: "the upstream leg uses RC4, whose biases reveal plaintext", Fix: fixCiphers},
		{ID: Check3DES, Title: "origin offers only 3DES", Bad: true, FailGrade: GradeC,
			Risk: "the upstream leg uses 3DES, open to Sweet32 on long connections", Fix: fixCiphers},
		{ID: CheckNullCipher, Title: "origin offers only NULL encryption", Bad: true, FailGrade: GradeF,
			Risk: "the upstream leg is not encrypted at all while the user sees a padlock", Fix: fixCiphers},
		{ID: CheckRSAKex, Title: "origin offers only RSA key exchange", Bad: true, FailGrade: GradeB,
			Risk: "the upstream leg has no forward secrecy: a later key compromise decrypts recorded traffic", Fix: fixForwardSecrecy},
		{ID: CheckModernRoot, Title: "valid chain from a recent root (ECDSA P-384)", FailGrade: GradeB,
			Risk: "the proxy refuses a valid site whose root (a recent ECDSA root, like ISRG Root X2) is missing from old bundles or unsupported",
			Fix:  "update the proxy's upstream root store and TLS library; add roots.pem of the --pki directory like the other grading root"},
	}
}

// CheckByID returns the check with the given ID.
func CheckByID(id string) (Check, bool) {
	for _, c := range Checks() {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}
