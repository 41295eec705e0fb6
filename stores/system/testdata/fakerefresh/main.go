// Command fakerefresh stands in for the refresh tools that do not run on
// this Debian machine (RHEL's update-ca-trust, Arch's trust, SUSE's and
// Alpine's update-ca-certificates). The tests build it statically and put
// it inside a sandbox root under the tool's name; the adapter runs it with
// chroot like the real one. It reads /etc/os-release to pick the family's
// layout and writes the family's bundle from its sources:
//
//   - p11-kit families: every certificate of the vendor tree and of the
//     anchors directory, minus those (by DER) in a blocklist directory;
//   - Alpine: the certificates ca-certificates.conf selects, plus
//     /usr/local/share/ca-certificates/*.crt.
//
// It only handles PEM and DER files; enough for the adapter's tests, and no
// substitute for the real tools.
package main

import (
	"bytes"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

type layout struct {
	anchors, vendor, bundle, conf, certsDir string
	blocklists                              []string
}

var layouts = map[string]layout{
	"rhel": {anchors: "/etc/pki/ca-trust/source/anchors", vendor: "/usr/share/pki/ca-trust-source", bundle: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		blocklists: []string{"/etc/pki/ca-trust/source/blocklist", "/etc/pki/ca-trust/source/blacklist", "/usr/share/pki/ca-trust-source/blocklist", "/usr/share/pki/ca-trust-source/blacklist"}},
	"suse": {anchors: "/etc/pki/trust/anchors", vendor: "/usr/share/pki/trust", bundle: "/var/lib/ca-certificates/ca-bundle.pem",
		blocklists: []string{"/etc/pki/trust/blacklist", "/etc/pki/trust/blocklist"}},
	"arch": {anchors: "/etc/ca-certificates/trust-source/anchors", vendor: "/usr/share/ca-certificates/trust-source", bundle: "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
		blocklists: []string{"/etc/ca-certificates/trust-source/blocklist", "/etc/ca-certificates/trust-source/blacklist"}},
	"alpine": {anchors: "/usr/local/share/ca-certificates", bundle: "/etc/ssl/certs/ca-certificates.crt", conf: "/etc/ca-certificates.conf", certsDir: "/usr/share/ca-certificates"},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakerefresh:", err)
		os.Exit(1)
	}
}

func family() (string, error) {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "ID="); ok {
			switch strings.Trim(v, `"`) {
			case "rhel", "fedora", "centos", "rocky":
				return "rhel", nil
			case "sles", "opensuse-leap", "opensuse-tumbleweed":
				return "suse", nil
			case "arch", "manjaro":
				return "arch", nil
			case "alpine":
				return "alpine", nil
			}
		}
	}
	return "", fmt.Errorf("unknown family in /etc/os-release")
}

func run() error {
	if os.Getenv("FAKEREFRESH_FAIL") != "" || fileExists("/etc/fakerefresh-fail") {
		return fmt.Errorf("failing as asked")
	}
	fam, err := family()
	if err != nil {
		return err
	}
	l := layouts[fam]
	blocked := map[string]bool{}
	for _, d := range l.blocklists {
		for _, der := range certsIn(d, true) {
			blocked[string(der)] = true
		}
	}
	var out bytes.Buffer
	add := func(der []byte) {
		if !blocked[string(der)] {
			fmt.Fprintf(&out, "# fakerefresh\n")
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	}
	if fam == "alpine" {
		conf, _ := os.ReadFile(l.conf)
		for _, line := range strings.Split(string(conf), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			for _, der := range certsIn(filepath.Join(l.certsDir, line), false) {
				add(der)
			}
		}
		matches, _ := filepath.Glob(filepath.Join(l.anchors, "*.crt"))
		for _, m := range matches {
			for _, der := range certsIn(m, false) {
				add(der)
			}
		}
	} else {
		for _, d := range []string{l.vendor, l.anchors} {
			for _, der := range certsIn(d, d == l.vendor) {
				add(der)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(l.bundle), 0o755); err != nil {
		return err
	}
	tmp := l.bundle + ".new"
	if err := os.WriteFile(tmp, out.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.bundle)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// certsIn returns the DER of every certificate in the file or directory p
// (recursively when deep; blocklist subdirectories of a vendor tree are
// skipped).
func certsIn(p string, deep bool) [][]byte {
	var out [][]byte
	_ = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if f != p && (!deep || d.Name() == "blocklist" || d.Name() == "blacklist") {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil
		}
		if !bytes.Contains(data, []byte("-----BEGIN")) {
			out = append(out, data)
			return nil
		}
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE":
				out = append(out, b.Bytes)
			case "TRUSTED CERTIFICATE": // the certificate, then its OpenSSL trust settings
				var raw asn1.RawValue
				if _, err := asn1.Unmarshal(b.Bytes, &raw); err == nil {
					out = append(out, raw.FullBytes)
				}
			}
		}
		return nil
	})
	return out
}
