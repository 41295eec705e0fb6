// Package stores holds the contract every trust-store adapter implements,
// certificate identity (SHA-256 of the DER, SPKI hash), the registry through
// which adapters make themselves known, and discovery of every store on a host
// under a root directory.
//
// Adapters live in sub-packages (stores/system, stores/nss, stores/java, …)
// and register themselves from init; the core never lists platforms by hand.
// Import stores/all to get every adapter built for the current platform.
package stores
