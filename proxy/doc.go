// Package proxy judges the interception proxy itself: how it validates the
// sites it connects to on the users' behalf, what the proxy's own logs show
// about destinations interception breaks, and which traffic it must not
// decrypt.
//
// Grading (Run): the grader plays a set of upstream origins with one flaw
// each — expired, not yet valid, self-signed, untrusted root, wrong host
// name, revoked (CRL and OCSP), SHA-1 signed, RSA-1024, TLS 1.0 or 1.1
// only, RC4, 3DES, NULL or non-forward-secret ciphers only — beside a
// sound baseline and a valid chain from a recent ECDSA root (Checks). Its
// certificates come from a grading PKI (PKI) whose roots the proxy is told
// to trust upstream; the roots are name-constrained to the grading domain
// and their keys are thrown away. Every origin sits behind one address: a
// router reads the proxy's ClientHello (ParseClientHello), records what the
// proxy offers upstream, and hands the connection to the origin its SNI
// names; the CRL and OCSP answers are served on the same address. Go's
// crypto/tls plays every origin but the NULL-cipher one, which runs under
// `openssl s_server`.
//
// The grader connects to each origin through the proxy as a client would
// and records what came back (Probe); Classify decides the outcome —
// blocked, the error passed through to the client, or re-signed by the
// interception CA as if valid (the worst: the user sees a good certificate
// for a bad site) — and Report.Finish grades the run on the scale of
// Durumeric et al. (NDSS 2017): A optimal, B suboptimal, C known attack, F
// severely broken, naming each failing check and what to change. The
// ClientHello the proxy sends upstream is graded on the same scale
// (GradeHello, CipherGrade).
//
// Pure logic (checks, classification, grading, ClientHello parsing and
// grading, log findings, bypass export) is untagged and tested on Linux;
// the tests run the grader against a real Squid with ssl-bump.
package proxy
