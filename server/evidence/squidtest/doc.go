// Package squidtest runs a real Squid with ssl-bump on loopback for
// end-to-end tests: Start runs one configured as a test needs (the
// interception CA, upstream trust, a hosts_file, ssl_bump rules, extra
// directives) with access.log in the anchorwatch logformat; Run and
// RunHandshakes drive real clients through it — curl trusting the
// interception CA and curl not trusting it, and for RunHandshakes also
// `openssl s_client -tls1` and a client that opens a tunnel and never
// starts the handshake — and hand back Squid's real access.log and
// cache.log. Unix only; it needs the Debian packages squid-openssl, curl
// and openssl and fails the test naming them when they are missing.
package squidtest
