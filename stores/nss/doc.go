// Package nss is the trust-store adapter for NSS databases: every user's
// Firefox and Thunderbird profiles, Chromium's ~/.pki/nssdb and the
// system database /etc/pki/nssdb.
//
// # Discovery
//
// Discover looks at every home under the root (each home in the root's
// /etc/passwd, /root, and every directory in /home and /Users) for:
//
//   - Mozilla profiles named by profiles.ini (IsRelative=1 relative to the
//     ini's directory, IsRelative=0 an absolute path taken inside the root,
//     and [Install…] Default= entries), plus profile directories holding a
//     database that profiles.ini does not list, in ~/.mozilla/firefox,
//     ~/snap/firefox/common/.mozilla/firefox,
//     ~/.var/app/org.mozilla.firefox/.mozilla/firefox,
//     ~/.config/mozilla/firefox, ~/.thunderbird and its snap and flatpak
//     homes, and the macOS ~/Library/Application Support/Firefox and
//     ~/Library/Thunderbird;
//   - Chromium's ~/.pki/nssdb, ~/snap/chromium/current/.pki/nssdb and
//     the flatpak ~/.var/app/org.chromium.Chromium/.pki/nssdb;
//   - the system database /etc/pki/nssdb.
//
// Paths are resolved with fsroot.Resolve, so a database reached through
// several symlinks is one store; its ID is "nss:" plus the resolved
// directory inside the root. Info.Owner is the user owning the database
// file (looked up in the root's /etc/passwd). A directory with only a
// legacy cert8.db is returned with Format "cert8.db" and a Note; List,
// Install and Remove refuse it (ErrNotSupported).
//
// # Reading
//
// List reads cert9.db and key4.db through descriptors checked on open
// (regular files owned by the directory's owner, no link, no second hard
// link in a user's directory, bounded in size, opened without blocking),
// whole, under SQLite's shared lock (Firefox may be writing), and parses
// them in memory with the pure-Go SQLite driver (modernc.org/sqlite), in
// one query over the nssPublic table. Certificates
// (CKO_CERTIFICATE, DER in a11, nickname in a3) are joined to trust
// objects by issuer and serial number (a81, a82) and checked against the
// hash the trust object carries. Both trust encodings are read: the
// legacy NSS trust objects (CKO_NSS_TRUST, TLS server auth in
// CKA_NSS_TRUST_SERVER_AUTH) and the PKCS#11 3.2 CKO_TRUST objects of
// NSS >= 3.114 (CKA_TRUST_SERVER_AUTH). Only a trusted CA for TLS server
// authentication ("C" in certutil's SSL field, CKT_TRUST_ANCHOR) counts
// as TrustedServerAuth; a valid CA ("c"), a trusted peer ("P"), a
// distrusted certificate ("p") or no trust object do not. See attr.go for
// the constants and their sources.
//
// A trust attribute counts only when NSS would accept it: NSS keeps an
// HMAC of every trust attribute in key4.db and, logged in (at once with
// the empty password), ignores one whose MAC does not verify. mac.go
// checks them the same way, so a key4.db replaced by a fresh one (or
// missing) makes the trust read as absent, as it is for NSS.
//
// # Writing
//
// Trust attributes are authenticated with a MAC kept in key4.db, so they
// are written by certutil (Debian package libnss3-tools), never by hand:
// Install runs certutil -A -t C,, (which on a certificate already present
// only fixes its trust and keeps its nickname), Remove runs certutil -D
// on the nickname the database gives the certificate. NSS resolves a
// nickname to every certificate with the same subject, so after each
// deletion the database is re-read and anything else certutil touched is
// put back. certutil loads the PKCS#11 modules the directory's pkcs11.txt
// names, so root never runs it where a user controls the path: in a
// user's directory it runs as that user, in a session of its own, with a
// deadline; when the user cannot reach the database by its path, on a
// private copy whose result is moved back as the user (copy_unix.go);
// only in a directory nobody but root controls as root. The files are
// checked on open descriptors first (ErrUnsafe for links, hard links,
// another owner, write access for others, a directory its owner cannot
// open) and their modes restored through descriptors afterwards. Nothing
// is run when every certificate is already present and trusted. A
// database that cannot be read, is read-only, is protected by a primary
// password, or a missing certutil gives a precise error and the files are
// left byte-identical.
//
// Package nsstest builds real databases and profiles for tests of this
// and other packages.
package nss
