// Package pki checks the health of an interception PKI: the CA
// certificates themselves (a lint), the CRLs their distribution points
// serve, and the OCSP responders their AIA names. An interception PKI
// fails in ways that break every client at once — a CRL not republished
// before its nextUpdate, a distribution point on https (fetched through
// the proxy that needs it), a responder that is down or answers
// "unauthorized", a CA trusted for every purpose with no path-length
// limit — and each of those is a Finding here, with a severity and what to
// do about it.
//
// The pieces, one file each:
//
//   - finding.go: Finding, Severity, Report and the exit status a report
//     deserves.
//   - lint.go: Lint, zlint v3's RFC and community lints (not the CA/B
//     Forum's, which hold publicly trusted CAs to rules a private CA need
//     not follow) plus the interception-CA profile.
//   - crl.go: ParseCRL and CheckCRL (signature against the issuer,
//     thisUpdate/nextUpdate and the margin left, revocation of the CA).
//   - ocsp.go: the OCSP request, ParseOCSP (signature and responder
//     authorization against the issuer) and CheckOCSP (status, freshness).
//   - fetch.go: Fetcher, bounded HTTP fetches of CRLs, OCSP answers and
//     issuer certificates (plain http only, a size limit and a deadline on
//     every fetch, redirects only to http).
//   - check.go: Check, the whole health check of one CA: lint, every CDP,
//     every OCSP responder, for the CA and a sample leaf.
//   - reach.go: Probe, the agent's reachability test of one CDP or
//     responder from a host's own network position, and Endpoints, the
//     URLs of a set of CAs.
//   - subnet.go: Subnet, the network a host address belongs to, for the
//     collector's "which subnets cannot reach it" view.
//
// Everything here is pure logic over crypto/x509, golang.org/x/crypto/ocsp
// and net/http; it runs the same on every platform and is tested on
// Linux against a PKI made with `openssl ca`, its CRLs served over HTTP
// and `openssl ocsp` as the responder.
package pki
