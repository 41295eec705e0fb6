// Package proxytest sets up the real proxy the grader's tests run against:
// an ssl-bump Squid (through server/evidence/squidtest) that trusts given
// roots upstream, and free loopback addresses on port 443 for the grading
// origins. Unix only; it needs squid-openssl and root (port 443).
package proxytest
