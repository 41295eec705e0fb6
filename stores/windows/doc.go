// Package windows is the Windows trust-store adapter: the LocalMachine ROOT
// (trust anchors) and CA (intermediates) system stores, read and written
// through crypt32, never the current user's store.
//
// Two stores are registered on Windows, with the ids
// "windows:LocalMachine\ROOT" and "windows:LocalMachine\CA". List reads the
// whole system store (every physical store Windows trusts) and also the
// Group Policy (HKLM\SOFTWARE\Policies\Microsoft\SystemCertificates) and
// Enterprise (HKLM\SOFTWARE\Microsoft\EnterpriseCertificates) physical
// stores, decoding their registry blobs itself: a certificate delivered by
// Group Policy counts as present and is reported with ManagedBy "gpo" (or
// "enterprise"); Install and Remove never touch those, they write only the
// LocalMachine registry physical store. Certificates are found by the
// SHA-1/SHA-256 of their DER, never by serial number.
//
// Change notification is RegNotifyChangeKeyValue on the store keys and the
// policy keys, re-armed after every signal, with a periodic rescan as the
// safety net.
//
// The parts that are pure logic (registry blob decoding, trust from the
// extended key usage property, install/remove planning) build on every
// platform and are tested on Linux; the crypt32 calls build only on
// Windows and are tested under Wine (see wine_test.go and docs/windows.md).
package windows
