// Package nsstest builds real NSS databases for tests: a Firefox (or
// Thunderbird) profile with its profiles.ini, a Chromium ~/.pki/nssdb,
// certificates added with given trust, and throwaway CAs with leaves for
// TLS handshakes. Every database is made by the installed certutil
// (Debian package libnss3-tools); a missing tool fails the test with a
// message naming the package, it never skips.
//
// Paths named "inside the root" are absolute paths as seen by a process
// chrooted at root, the way stores.Env.Root works; the helpers create
// them under root on the host.
//
//	root := t.TempDir()
//	prof := nsstest.FirefoxProfile(t, root, "/home/alice", "abcd.default-release")
//	nsstest.AddCert(t, root, prof, ca, "corp-ca", "C,,")
//	db := nsstest.ChromiumDB(t, root, "/home/alice")
//	nsstest.Chown(t, root, "/home/alice", 1000, 1000)
package nsstest
