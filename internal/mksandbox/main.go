// Command mksandbox builds a sandbox root that looks like a Debian 12
// workstation to Anchorwatch, with the real tools and the adapters' test
// helpers:
//
//   - the Debian system store: /usr/share/ca-certificates (the full Mozilla
//     set) and /etc/ssl/certs/ca-certificates.crt built by the real
//     update-ca-certificates;
//   - a user alice (uid 1000) with a Firefox profile and a Chromium
//     ~/.pki/nssdb, both real cert9.db databases made by certutil;
//   - two JDKs: Debian's OpenJDK 17 (its cacerts a symlink to the shared
//     JKS /etc/ssl/certs/java/cacerts) and a Temurin 25 with its own
//     password-less PKCS12 cacerts.
//
// Usage:
//
//	go run ./internal/mksandbox DIR
//
// DIR must be empty or absent. Nothing outside DIR is written; the host's
// stores are only read. It needs the Debian packages ca-certificates,
// openssl and libnss3-tools.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/mksandbox DIR")
		os.Exit(2)
	}
	root, err := filepath.Abs(os.Args[1])
	if err != nil {
		fatal(err)
	}
	if ents, err := os.ReadDir(root); err == nil && len(ents) > 0 {
		fatal(fmt.Errorf("%s is not empty: remove it first (rm -rf %s)", root, root))
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		fatal(err)
	}
	// The marker lets scripts/demo.sh recognise (and safely delete) a
	// sandbox it made.
	if err := os.WriteFile(filepath.Join(root, Marker), []byte("made by internal/mksandbox\n"), 0o644); err != nil {
		fatal(err)
	}
	tb := newTB("mksandbox")
	defer tb.cleanup()
	if err := Build(tb, root); err != nil {
		tb.cleanup()
		fatal(err)
	}
	fmt.Println(root)
}

// Marker is the file, at the top of the root, that marks a sandbox.
const Marker = ".anchorwatch-sandbox"

// Home of the sandbox's user.
const (
	User = "alice"
	Home = "/home/alice"
	UID  = 1000
)

// Build lays out the workstation under root.
func Build(tb *shimTB, root string) error {
	systemtest.DebianRoot(tb, root)
	passwd := "root:x:0:0:root:/root:/bin/bash\n" +
		fmt.Sprintf("%s:x:%d:%d:Alice Example,,,:%s:/bin/bash\n", User, UID, UID, Home)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", User, UID)
	if err := os.WriteFile(fsroot.Join(root, "/etc/passwd"), []byte(passwd), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(fsroot.Join(root, "/etc/group"), []byte(group), 0o644); err != nil {
		return err
	}
	nsstest.FirefoxProfile(tb, root, Home, "k3x9w2p1.default-release")
	nsstest.ChromiumDB(tb, root, Home)
	if os.Geteuid() == 0 {
		nsstest.Chown(tb, root, Home, UID, UID) // as a normal user, the files stay the caller's
	}
	if _, err := javatest.Standard(root); err != nil {
		return fmt.Errorf("java runtimes: %w", err)
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mksandbox:", err)
	os.Exit(1)
}
