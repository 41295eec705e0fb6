package nss

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// modernMinor is the first NSS 3.x that writes and prefers PKCS#11 3.2
// CKO_TRUST objects (3.114).
const modernMinor = 114

// ErrNoModernNSS is returned (wrapped) when a change needs NSS >= 3.114
// (a database holds a CKO_TRUST object, which only it can rewrite or
// delete) and this host has none that certutil can run on.
var ErrNoModernNSS = errors.New("the database holds an NSS >= 3.114 trust object (written by Firefox), which only NSS >= 3.114 can change, and no such NSS was found (Firefox ESR's own libraries under /usr/lib/firefox-esr, /usr/lib/firefox or /usr/lib64/firefox): install firefox-esr or nss >= 3.114")

// nssLib is one set of NSS libraries certutil can run on.
type nssLib struct {
	dir   string // for LD_LIBRARY_PATH; "" for the libraries certutil links to
	minor int    // NSS 3.<minor>; 0 when unknown
}

func (l nssLib) modern() bool { return l.minor >= modernMinor }

func (l nssLib) String() string {
	where := "the system NSS"
	if l.dir != "" {
		where = l.dir
	}
	if l.minor == 0 {
		return where
	}
	return fmt.Sprintf("%s (NSS 3.%d)", where, l.minor)
}

// nssLibs are the NSS generations certutil can run on here: the system's
// own (which writes legacy trust objects when older than 3.114) and one
// >= 3.114, the system's or an application's (Firefox ships its own).
type nssLibs struct {
	system nssLib
	modern *nssLib
}

// legacy returns the libraries that write legacy CKO_NSS_TRUST objects,
// ok false when the system NSS is itself >= 3.114.
func (l nssLibs) legacy() (nssLib, bool) { return l.system, !l.system.modern() }

// systemLibDirs are where a distribution keeps libsoftokn3.so.
var systemLibDirs = []string{
	"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/i386-linux-gnu",
	"/usr/lib/arm-linux-gnueabihf", "/usr/lib64", "/usr/lib",
}

// modernLibDirs are where applications keep their own NSS. Only
// directories that nobody but root controls are used: certutil loads
// these libraries, as root for a system database.
var modernLibDirs = []string{
	"/usr/lib/firefox-esr", "/usr/lib/firefox", "/usr/lib64/firefox",
	"/usr/lib/thunderbird", "/usr/lib64/thunderbird", "/opt/firefox",
}

// findLibs looks the NSS generations up on this host (host paths: the
// tools run here whatever root the store is under).
func findLibs() nssLibs {
	var l nssLibs
	for _, d := range systemLibDirs {
		if !rootOnly(d) {
			continue
		}
		if m, err := softokenMinor(d); err == nil {
			l.system = nssLib{minor: m}
			break
		}
	}
	if l.system.modern() {
		l.modern = &l.system
		return l
	}
	for _, d := range modernLibDirs {
		if !rootOnly(d) {
			continue
		}
		if m, err := softokenMinor(d); err == nil && m >= modernMinor && hasLibs(d) {
			l.modern = &nssLib{dir: d, minor: m}
			break
		}
	}
	return l
}

// maxSoftoken bounds the read of libsoftokn3.so (Firefox's is 360 KiB).
const maxSoftoken = 32 << 20

// softokenMinor reads the NSS version libsoftokn3.so in dir announces
// ("Version: NSS 3.125.1"): the softoken writes the trust objects. The
// file must be root's.
func softokenMinor(dir string) (int, error) {
	b, err := fsroot.ReadFile(filepath.Join(dir, "libsoftokn3.so"), fsroot.Want{Max: maxSoftoken, Follow: true}.OwnedBy(0))
	if err != nil {
		return 0, err
	}
	return parseNSSVersion(b)
}

var versionMark = []byte("Version: NSS 3.")

// parseNSSVersion finds the minor version in an NSS library's version
// string.
func parseNSSVersion(b []byte) (int, error) {
	i := bytes.Index(b, versionMark)
	if i < 0 {
		return 0, errors.New("no NSS version string")
	}
	rest := b[i+len(versionMark):]
	n := 0
	for n < len(rest) && n < 4 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, errors.New("malformed NSS version string")
	}
	return strconv.Atoi(string(rest[:n]))
}

// hasLibs reports whether dir holds the libraries certutil needs beside
// the softoken, owned by root.
func hasLibs(dir string) bool {
	for _, f := range []string{"libnss3.so", "libnssutil3.so", "libfreeblpriv3.so"} {
		fi, _, err := fsroot.Open(filepath.Join(dir, f), fsroot.Want{Follow: true}.OwnedBy(0))
		if err != nil {
			return false
		}
		fi.Close()
	}
	return true
}

// rootOnly reports whether nobody but root controls dir.
func rootOnly(dir string) bool {
	c, err := fsroot.Controller(dir)
	return err == nil && c.UID == 0
}
