package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

func TestDiscoveryDirs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"/usr/lib/jvm/java-17/lib/security", "/home/alice/.mozilla/firefox/p1.default",
		"/home/bob/.pki", "/etc/ssl/certs", "/opt"} {
		if err := os.MkdirAll(fsroot.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(fsroot.Join(root, "/etc/passwd"), []byte("carol:x:1003:1003::/home/carol:/bin/sh\nsvc:x:5:5::/var/lib/svc:/bin/false\n"), 0o644)
	tests := []struct {
		kinds []stores.Kind
		want  []string // inside root
		not   []string
	}{
		{nil, []string{
			"/usr/lib/jvm", "/usr/lib/jvm/java-17", // a parent of runtimes and its children
			"/opt",
			"/etc/ssl/certs",                                                          // deepest existing ancestor of /etc/ssl/certs/java
			"/home",                                                                   // new homes
			"/home/alice/.mozilla/firefox", "/home/alice/.mozilla/firefox/p1.default", // profiles.ini dir and its profiles
			"/home/alice",    // where ~/.pki and snap dirs would appear
			"/home/bob/.pki", // where nssdb would appear
		}, []string{"/home/carol", "/var/lib/svc", "/usr/lib/jvm/java-17/lib"}},
		{[]stores.Kind{stores.KindJava}, []string{"/usr/lib/jvm"}, []string{"/home", "/home/alice/.mozilla/firefox"}},
		{[]stores.Kind{stores.KindSystem}, nil, []string{"/usr/lib/jvm", "/home"}},
	}
	for _, tt := range tests {
		got := discoveryDirs(root, tt.kinds)
		for _, w := range tt.want {
			if !slices.Contains(got, fsroot.Join(root, w)) {
				t.Errorf("kinds %v: %s not watched; got %v", tt.kinds, w, got)
			}
		}
		for _, n := range tt.not {
			if slices.Contains(got, fsroot.Join(root, n)) {
				t.Errorf("kinds %v: %s watched", tt.kinds, n)
			}
		}
		for _, d := range got {
			if rel, err := filepath.Rel(root, d); err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) >= 2 && rel[:2] == ".." {
				t.Errorf("%s is outside the root", d)
			}
		}
	}
}

// TestAgentDiscoversNewStores: a JDK unpacked under /usr/lib/jvm and a
// Firefox profile created in a new user's home are found, get our CA and
// are reported well before the rescan (15 min by default) would find them.
func TestAgentDiscoversNewStores(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgent(t, sb, coll, signer, stores.KindJava, stores.KindNSS)
	fp := stores.SHA256(ca)
	waitFor(t, "first installs", func() bool {
		evs := h.rec.all()
		return countEvents(evs, api.EventInstalled, "java:", fp) == 1 && countEvents(evs, api.EventInstalled, "nss:", fp) == 1
	})
	if h.cfg.RescanInterval != 0 {
		t.Fatal("the test relies on the default 15 min rescan")
	}

	rt, err := javatest.JDK25(sb.root)
	if err != nil {
		t.Fatal(err)
	}
	prof := nsstest.FirefoxProfile(t, sb.root, "/home/bob", "n3w.default-release")
	waitFor(t, "the new JDK's cacerts and the new profile get our CA", func() bool {
		evs := h.rec.all()
		return countEvents(evs, api.EventInstalled, "java:"+rt.Store, fp) == 1 && countEvents(evs, api.EventInstalled, "nss:"+prof, fp) == 1
	})
	waitFor(t, "the collector shows four compliant stores", func() bool {
		d := coll.host()
		return allCompliant(d, 1) && len(d.Stores) == 4
	})
}
