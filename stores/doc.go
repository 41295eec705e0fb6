// Package stores holds the contract every trust-store adapter implements,
// certificate identity (SHA-256 of the DER, SPKI hash), the registry through
// which adapters make themselves known, and discovery of every store on a host
// under a root directory.
//
// Adapters live in sub-packages (stores/system, stores/nss, stores/java, …)
// and register themselves from init; the core never lists platforms by hand.
//
// Discover bounds each adapter's discovery and wraps every store in Guard,
// which bounds each operation: one store that hangs never holds back its
// caller. ErrUnsafe marks a store an adapter will not write because a
// local user controls its place (docs/security.md).
// Import stores/all to get every adapter built for the current platform.
package stores
