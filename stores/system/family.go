package system

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Family describes how one family of Linux distributions keeps its system
// trust store: where locally added anchors go, which tool turns the sources
// into the files applications read, and which of those files to audit.
// All paths are absolute paths as seen inside the root.
type Family struct {
	// Name is the family's short name, reported as the store's Format.
	Name string
	// AnchorsDir is where an administrator drops a CA to add it.
	AnchorsDir string
	// AnchorExt is the extension the refresh tool requires of anchor files
	// ("" when any name is read).
	AnchorExt string
	// Bundle is the extracted PEM bundle applications read (OpenSSL's
	// default CAfile, GnuTLS, curl, Go's crypto/x509, Python, …).
	Bundle string
	// Refresh lists the commands that rebuild Bundle, best first; the first
	// whose program exists is run.
	Refresh [][]string
	// CertsConf and CertsDir are set for the Debian-style tool: the file
	// that selects (or deselects with "!") certificates of CertsDir.
	CertsConf string
	CertsDir  string
	// VendorDir is the Debian subdirectory of CertsDir holding the
	// distribution's own CAs ("mozilla"), or for p11-kit families the
	// directory tree holding the distribution's trust sources.
	VendorDir string
	// Blocklists are the p11-kit blocklist directories: a CA found there is
	// left out of Bundle even when it is an anchor.
	Blocklists []string
	// P11Kit is true for families whose tool is built on p11-kit (source
	// directories + blocklist) rather than on ca-certificates.conf.
	P11Kit bool
}

// Families returns the family table, freshly built (no shared mutable
// state). Every entry was checked against the distribution's own
// documentation or tool source; see the comment on each. Long: it is
// the table, one entry per family.
func Families() []Family {
	return []Family{
		// Debian and Ubuntu (and derivatives: Mint, Pop!_OS, Kali, Raspberry Pi
		// OS). Source: /usr/sbin/update-ca-certificates of ca-certificates
		// 20250419~deb12u2 (Debian 12, read on this machine): CERTSCONF=/etc/ca-certificates.conf,
		// CERTSDIR=/usr/share/ca-certificates, LOCALCERTSDIR=
		// /usr/local/share/ca-certificates (only "*.crt", found recursively with
		// find -L), bundle ca-certificates.crt in ETCCERTSDIR=/etc/ssl/certs; the
		// distribution's CAs are /usr/share/ca-certificates/mozilla/*.crt, lines
		// in the conf starting with "!" deselect one.
		{
			Name:       "debian",
			AnchorsDir: "/usr/local/share/ca-certificates",
			AnchorExt:  ".crt",
			Bundle:     "/etc/ssl/certs/ca-certificates.crt",
			Refresh:    [][]string{{"update-ca-certificates"}},
			CertsConf:  "/etc/ca-certificates.conf",
			CertsDir:   "/usr/share/ca-certificates",
			VendorDir:  "mozilla",
		},
		// Alpine. Its ca-certificates package ships a C port of Debian's tool
		// (update-ca-certificates.c in Alpine's aports/main/ca-certificates) with
		// the same directories, the same conf syntax and the same bundle path;
		// it takes no directory flags.
		{
			Name:       "alpine",
			AnchorsDir: "/usr/local/share/ca-certificates",
			AnchorExt:  ".crt",
			Bundle:     "/etc/ssl/certs/ca-certificates.crt",
			Refresh:    [][]string{{"update-ca-certificates"}},
			CertsConf:  "/etc/ca-certificates.conf",
			CertsDir:   "/usr/share/ca-certificates",
			VendorDir:  "mozilla",
		},
		// RHEL, CentOS, Fedora, Rocky, Alma, Amazon Linux, Oracle Linux. Source:
		// update-ca-trust(8) and /etc/pki/ca-trust/source/README of Fedora's
		// ca-certificates: anchors in /etc/pki/ca-trust/source/anchors (PEM or
		// DER, any name), the distribution's set in /usr/share/pki/ca-trust-source
		// (ca-bundle.trust.p11-kit), distrust in source/blocklist (named
		// "blacklist" before Fedora 34 / RHEL 9), output of "update-ca-trust
		// extract" under /etc/pki/ca-trust/extracted; pem/tls-ca-bundle.pem is
		// the server-auth bundle (/etc/pki/tls/certs/ca-bundle.crt links to it).
		{
			Name:       "rhel",
			AnchorsDir: "/etc/pki/ca-trust/source/anchors",
			Bundle:     "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
			Refresh:    [][]string{{"update-ca-trust", "extract"}},
			VendorDir:  "/usr/share/pki/ca-trust-source",
			Blocklists: []string{
				"/etc/pki/ca-trust/source/blocklist",
				"/etc/pki/ca-trust/source/blacklist",
				"/usr/share/pki/ca-trust-source/blocklist",
				"/usr/share/pki/ca-trust-source/blacklist",
			},
			P11Kit: true,
		},
		// SUSE (SLES, openSUSE Leap and Tumbleweed). Source: README of
		// github.com/openSUSE/ca-certificates: p11-kit reads /etc/pki/trust and
		// /usr/share/pki/trust (anchors/ subdirectories for plain PEM), distrust
		// by placing a certificate in /etc/pki/trust/blacklist, and
		// update-ca-certificates writes the server-auth bundle to
		// /var/lib/ca-certificates/ca-bundle.pem (/etc/ssl/ca-bundle.pem links
		// to it). /etc/ca-certificates.conf is not supported there.
		{
			Name:       "suse",
			AnchorsDir: "/etc/pki/trust/anchors",
			Bundle:     "/var/lib/ca-certificates/ca-bundle.pem",
			Refresh:    [][]string{{"update-ca-certificates"}},
			VendorDir:  "/usr/share/pki/trust",
			Blocklists: []string{
				"/etc/pki/trust/blacklist",
				"/etc/pki/trust/blocklist",
				"/usr/share/pki/trust/blacklist",
				"/usr/share/pki/trust/blocklist",
			},
			P11Kit: true,
		},
		// Arch (and Manjaro, EndeavourOS). Source: Arch's ca-certificates-utils
		// (a port of Fedora's update-ca-trust) and update-ca-trust(8) on
		// man.archlinux.org: anchors in /etc/ca-certificates/trust-source/anchors,
		// the distribution's set in /usr/share/ca-certificates/trust-source,
		// output flat in /etc/ca-certificates/extracted (tls-ca-bundle.pem;
		// /etc/ssl/certs/ca-certificates.crt links to it). "trust
		// extract-compat" runs the same extraction on older installs.
		{
			Name:       "arch",
			AnchorsDir: "/etc/ca-certificates/trust-source/anchors",
			Bundle:     "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
			Refresh:    [][]string{{"trust", "extract-compat"}, {"update-ca-trust", "extract"}},
			VendorDir:  "/usr/share/ca-certificates/trust-source",
			Blocklists: []string{
				"/etc/ca-certificates/trust-source/blocklist",
				"/etc/ca-certificates/trust-source/blacklist",
				"/usr/share/ca-certificates/trust-source/blocklist",
				"/usr/share/ca-certificates/trust-source/blacklist",
			},
			P11Kit: true,
		},
	}
}

// familyOf maps an os-release ID (or an ID_LIKE word) to a family name.
func familyOf(id string) string {
	switch id {
	case "debian", "ubuntu", "linuxmint", "pop", "kali", "raspbian", "devuan":
		return "debian"
	case "alpine", "postmarketos":
		return "alpine"
	case "rhel", "fedora", "centos", "rocky", "almalinux", "amzn", "ol":
		return "rhel"
	case "suse", "opensuse", "sles", "sled", "opensuse-leap", "opensuse-tumbleweed":
		return "suse"
	case "arch", "manjaro", "endeavouros":
		return "arch"
	}
	if strings.HasPrefix(id, "opensuse") { // opensuse-microos, opensuse-slowroll, …
		return "suse"
	}
	return ""
}

// FamilyNamed returns the family with that Name ("debian", "rhel", …).
func FamilyNamed(name string) (Family, bool) {
	for _, f := range Families() {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// OSRelease is the part of os-release(5) family detection needs.
type OSRelease struct {
	ID       string
	IDLike   []string
	Pretty   string
	Version  string
	Original map[string]string
}

// ParseOSRelease parses an os-release(5) file: KEY=value lines, values
// optionally quoted with shell-style escapes, comments and blank lines
// ignored. Lines that are not assignments are skipped, as systemd does.
func ParseOSRelease(data []byte) OSRelease {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		kv[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	return OSRelease{
		ID:       strings.ToLower(kv["ID"]),
		IDLike:   strings.Fields(strings.ToLower(kv["ID_LIKE"])),
		Pretty:   kv["PRETTY_NAME"],
		Version:  kv["VERSION_ID"],
		Original: kv,
	}
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if v[0] == '"' {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
		return v[1 : len(v)-1]
	}
	return v
}

// DetectFamily returns the family of the distribution os-release describes:
// its ID first, then the ID_LIKE words in order (the spec lists them
// closest first). It reports an error naming ID and ID_LIKE when none is
// known.
func DetectFamily(r OSRelease) (Family, error) {
	for _, id := range append([]string{r.ID}, r.IDLike...) {
		if name := familyOf(id); name != "" {
			f, _ := FamilyNamed(name)
			return f, nil
		}
	}
	return Family{}, fmt.Errorf("unknown Linux distribution family (ID=%q, ID_LIKE=%q): Anchorwatch knows Debian/Ubuntu, RHEL/Fedora/CentOS, SUSE, Arch and Alpine families", r.ID, strings.Join(r.IDLike, " "))
}
