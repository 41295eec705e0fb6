// Package system is the Linux system trust-store adapter.
//
// A Linux system store has two halves: the sources an administrator edits
// (an anchors directory, plus Debian's /etc/ca-certificates.conf or the
// p11-kit blocklist directories) and the extracted bundle the refresh tool
// builds from them, which is what applications actually read (OpenSSL's
// default CAfile, GnuTLS, curl, Go, Python). The adapter writes the first
// and audits the second: a CA counts as trusted only when it is in the
// bundle, and a CA that sits in the sources without reaching the bundle
// (not refreshed, deselected with "!" in ca-certificates.conf, blocklisted)
// is listed as untrusted with the reason.
//
// The family is detected from os-release (ID, then ID_LIKE) under the root,
// never from which directories happen to exist:
//
//	family  anchors directory                          refresh                    bundle audited
//	debian  /usr/local/share/ca-certificates/*.crt     update-ca-certificates     /etc/ssl/certs/ca-certificates.crt
//	alpine  /usr/local/share/ca-certificates/*.crt     update-ca-certificates     /etc/ssl/certs/ca-certificates.crt
//	rhel    /etc/pki/ca-trust/source/anchors           update-ca-trust extract    /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem
//	suse    /etc/pki/trust/anchors                     update-ca-certificates     /var/lib/ca-certificates/ca-bundle.pem
//	arch    /etc/ca-certificates/trust-source/anchors  trust extract-compat       /etc/ca-certificates/extracted/tls-ca-bundle.pem
//
// Anchors are written as PEM files named stores.Label(cert)+".crt", mode
// 0644, atomically. Under a root other than "/", a Debian-family root is
// refreshed by the host's update-ca-certificates with directory flags
// pointing inside the root (hooks are not run: they are host programs that
// would change the host); other families by chrooting into the root and
// running the root's own tool (root privileges needed); otherwise the store
// reports a Note naming what to run.
//
// The store is registered from an init in a linux-only file; this file is
// untagged so the package, its family table and its parsers exist on every
// GOOS. Package systemtest builds Debian sandbox roots with the real tool
// for tests and demos.
package system
