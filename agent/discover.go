package agent

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Where new stores appear. Besides the stores it manages, the agent
// watches the directories new ones are created in — a JDK unpacked under
// /usr/lib/jvm, a Firefox profile made under ~/.mozilla/firefox, a new
// user's home — and runs discovery shortly after one changes, instead of
// waiting for the rescan. These lists mirror the adapters' discovery
// (stores/java, stores/nss).
var (
	// javaParents hold one Java runtime per child directory.
	javaParents = []string{"/usr/lib/jvm", "/usr/java", "/usr/local/java", "/opt"}
	// javaDistDirs hold a distribution's shared cacerts.
	javaDistDirs = []string{"/etc/ssl/certs/java", "/etc/pki/java", "/etc/pki/ca-trust/extracted/java"}
	// mozillaParents, relative to a home, hold profiles.ini and one
	// profile per child directory.
	mozillaParents = []string{".mozilla/firefox", "snap/firefox/common/.mozilla/firefox",
		".var/app/org.mozilla.firefox/.mozilla/firefox", ".config/mozilla/firefox", ".thunderbird",
		"snap/thunderbird/common/.thunderbird", ".var/app/org.mozilla.Thunderbird/.thunderbird",
		".var/app/net.thunderbird.Thunderbird/.thunderbird"}
	// nssDBDirs, relative to a home, are NSS databases themselves.
	nssDBDirs = []string{".pki/nssdb", "snap/chromium/current/.pki/nssdb", ".var/app/org.chromium.Chromium/.pki/nssdb"}
	// homeParents hold one home per child.
	homeParents = []string{"/home", "/Users"}
)

// maxDiscoveryDirs bounds the directories watched for new stores (each
// is an inotify watch).
const maxDiscoveryDirs = 1024

// discoveryNames are the file names whose appearance can mean a new store.
var discoveryNames = map[string]bool{"cert9.db": true, "profiles.ini": true, "cacerts": true, "installs.ini": true}

// discoveryDirs returns the host paths to watch for new stores of kinds
// (empty: every kind) under root: for each place stores appear, the place
// itself and its child directories when it exists, else its deepest
// existing ancestor (so its creation is seen, and the watch moves down on
// the next discovery).
func discoveryDirs(root string, kinds []stores.Kind) []string {
	want := func(k stores.Kind) bool {
		if len(kinds) == 0 {
			return true
		}
		for _, x := range kinds {
			if x == k {
				return true
			}
		}
		return false
	}
	set := map[string]bool{}
	// watchUnder watches p (inside root) and, with children, its child
	// directories; a missing p is watched through its deepest existing
	// ancestor below stop.
	watchUnder := func(p, stop string, children bool) {
		hp := fsroot.Join(root, p)
		if isDir(hp) {
			set[hp] = true
			if children {
				ents, _ := os.ReadDir(hp)
				for _, e := range ents {
					if e.IsDir() {
						set[filepath.Join(hp, e.Name())] = true
					}
				}
			}
			return
		}
		for q := path.Dir(p); q != "/" && q != "." && strings.HasPrefix(q, stop); q = path.Dir(q) {
			if hq := fsroot.Join(root, q); isDir(hq) {
				set[hq] = true
				return
			}
		}
	}
	if want(stores.KindJava) {
		for _, p := range javaParents {
			watchUnder(p, "/", true)
		}
		for _, p := range javaDistDirs {
			watchUnder(p, "/", false)
		}
	}
	if want(stores.KindNSS) {
		for _, p := range homeParents {
			watchUnder(p, "/", false)
		}
		for _, h := range homeDirs(root) {
			for _, rel := range mozillaParents {
				watchUnder(path.Join(h, rel), h, true)
			}
			for _, rel := range nssDBDirs {
				watchUnder(path.Join(h, rel), h, false)
			}
		}
		watchUnder("/etc/pki/nssdb", "/", false)
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	if len(out) > maxDiscoveryDirs {
		out = out[:maxDiscoveryDirs]
	}
	return out
}

// homeDirs lists the home directories under root (paths inside root):
// /root, every directory in /home and /Users, and the homes of
// /etc/passwd that exist.
func homeDirs(root string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		h = path.Clean(h)
		if h == "/" || !path.IsAbs(h) || seen[h] || !isDir(fsroot.Join(root, h)) {
			return
		}
		seen[h] = true
		out = append(out, h)
	}
	add("/root")
	for _, base := range homeParents {
		ents, _ := os.ReadDir(fsroot.Join(root, base))
		for _, e := range ents {
			if e.IsDir() {
				add(path.Join(base, e.Name()))
			}
		}
	}
	if data, err := fsroot.ReadFileIn(root, "/etc/passwd", fsroot.Want{Max: 4 << 20}); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			// Only homes in the usual places: a service's home (/var/lib/x,
			// /usr/sbin) holds no browser profile and may be busy.
			if len(f) >= 6 && (strings.HasPrefix(f[5], "/home/") || strings.HasPrefix(f[5], "/Users/") || strings.HasPrefix(f[5], "/srv/")) {
				add(f[5])
			}
		}
	}
	sort.Strings(out)
	return out
}

func isDir(hp string) bool {
	fi, err := os.Stat(hp)
	return err == nil && fi.IsDir()
}
