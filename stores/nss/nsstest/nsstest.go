package nsstest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Certutil returns the path of certutil, failing the test when it is
// not installed.
func Certutil(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("certutil")
	if err != nil {
		t.Fatalf("certutil not found: install the Debian package libnss3-tools (%v)", err)
	}
	return p
}

// Run runs certutil with args and stdin, failing the test on error, and
// returns its combined output.
func Run(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	return RunEnv(t, nil, stdin, args...)
}

// FirefoxNSS returns the environment that makes the system's certutil
// and tstclnt run on the NSS libraries Firefox ESR ships (3.125 on this
// Debian, which writes PKCS#11 3.2 CKO_TRUST objects; the system NSS 3.87
// writes the legacy ones).
func FirefoxNSS(t testing.TB) []string {
	t.Helper()
	for _, d := range []string{"/usr/lib/firefox-esr", "/usr/lib/firefox"} {
		if _, err := os.Stat(filepath.Join(d, "libsoftokn3.so")); err == nil {
			return []string{"LD_LIBRARY_PATH=" + d}
		}
	}
	t.Fatal("Firefox's NSS libraries not found: install the Debian package firefox-esr")
	return nil
}

// RunEnv is Run with extra environment variables (FirefoxNSS).
func RunEnv(t testing.TB, env []string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(Certutil(t), args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NewDB creates an empty cert9.db/key4.db with an empty password in dir
// (inside root), creating dir, and returns dir.
func NewDB(t testing.TB, root, dir string) string {
	t.Helper()
	hp := fsroot.Join(root, dir)
	if err := os.MkdirAll(hp, 0o755); err != nil {
		t.Fatal(err)
	}
	Run(t, nil, "-N", "-d", "sql:"+hp, "--empty-password")
	return dir
}

// FirefoxProfile creates home/.mozilla/firefox/profiles.ini naming the
// profile name (IsRelative=1, Default=1) and the profile's database, and
// returns the profile directory inside root. Calling it again for the
// same home appends another profile section.
func FirefoxProfile(t testing.TB, root, home, name string) string {
	t.Helper()
	return MozillaProfile(t, root, path.Join(home, ".mozilla/firefox"), name, true)
}

// ThunderbirdProfile is FirefoxProfile for ~/.thunderbird.
func ThunderbirdProfile(t testing.TB, root, home, name string) string {
	t.Helper()
	return MozillaProfile(t, root, path.Join(home, ".thunderbird"), name, true)
}

// MozillaProfile creates a profile in iniDir (inside root) and lists it
// in iniDir/profiles.ini. With relative false the ini names the profile
// by its absolute path inside the root (IsRelative=0); the profile then
// lives in iniDir/name all the same.
func MozillaProfile(t testing.TB, root, iniDir, name string, relative bool) string {
	t.Helper()
	prof := path.Join(iniDir, name)
	NewDB(t, root, prof)
	ini := fsroot.Join(root, path.Join(iniDir, "profiles.ini"))
	old, _ := os.ReadFile(ini)
	n := bytes.Count(old, []byte("[Profile"))
	var b strings.Builder
	if len(old) == 0 {
		b.WriteString("[General]\nStartWithLastProfile=1\nVersion=2\n\n")
	}
	b.Write(old)
	p, rel := name, "1"
	if !relative {
		p, rel = prof, "0"
	}
	fmt.Fprintf(&b, "[Profile%d]\nName=%s\nIsRelative=%s\nPath=%s\n", n, name, rel, p)
	if n == 0 {
		b.WriteString("Default=1\n")
	}
	b.WriteString("\n")
	if err := os.WriteFile(ini, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return prof
}

// ChromiumDB creates home/.pki/nssdb, the database Chromium reads on
// Linux, and returns it (inside root).
func ChromiumDB(t testing.TB, root, home string) string {
	t.Helper()
	return NewDB(t, root, path.Join(home, ".pki/nssdb"))
}

// AddCert adds c to the database in dir (inside root) with nickname nick
// and certutil trust flags trust ("C,,", ",,", "CT,C,C", "c,,", …).
func AddCert(t testing.TB, root, dir string, c *x509.Certificate, nick, trust string) {
	t.Helper()
	in := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	Run(t, in, "-A", "-d", "sql:"+fsroot.Join(root, dir), "-n", nick, "-t", trust, "-a")
}

// List returns certutil -L of the database in dir (inside root): one
// line per certificate, "nickname<spaces>trust".
func List(t testing.TB, root, dir string) string {
	t.Helper()
	return Run(t, nil, "-L", "-d", "sql:"+fsroot.Join(root, dir))
}

// Trust returns the trust flags certutil -L shows for nick ("C,,"), or
// "" when nick is not in the database.
func Trust(t testing.TB, root, dir, nick string) string {
	t.Helper()
	for _, line := range strings.Split(List(t, root, dir), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Join(f[:len(f)-1], " ") == nick {
			return f[len(f)-1]
		}
	}
	return ""
}

// Chown gives p (inside root) and everything under it to uid:gid, and
// opens the directories on the way from root to p for traversal (0755),
// so certutil run as that user can reach the database.
func Chown(t testing.TB, root, p string, uid, gid int) {
	t.Helper()
	hp := fsroot.Join(root, p)
	err := filepath.Walk(hp, func(q string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(q, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Open every directory above p for traversal, up to the temp dir the
	// test root lives in (t.TempDir makes its parents 0700).
	stop := filepath.Clean(os.TempDir())
	if !strings.HasPrefix(hp, stop+string(filepath.Separator)) {
		stop = filepath.Dir(filepath.Clean(root))
	}
	for d := filepath.Dir(hp); d != stop && d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// CA is a throwaway certificate authority.
//
// Deprecated: use testpki.CA.
type CA = testpki.CA

// NewCA makes a self-signed CA named cn.
//
// Deprecated: use testpki.NewCA.
func NewCA(t testing.TB, cn string) CA {
	t.Helper()
	return *testpki.NewCA(t, cn)
}
