// Package policy holds what an administrator decides and hands to hosts:
// CA input parsing (PEM, DER, PKCS#7 bundles), the built-in blocklist of
// known-bad roots, and the signed policy document — including its "do not
// decrypt" list (bypass.go), which the proxy package exports in the
// interception proxy's own format.
package policy
