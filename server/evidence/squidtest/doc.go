// Package squidtest runs a real Squid with ssl-bump on loopback for
// end-to-end tests of the unmanaged-device evidence: two curl clients, one
// trusting the test interception CA and one not, and Squid's real
// access.log and cache.log afterwards. Unix only; it needs the Debian
// packages squid-openssl and curl and fails the test naming them when
// they are missing.
package squidtest
