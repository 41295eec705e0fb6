package nss

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

func symlink(t *testing.T, root, target, link string) {
	t.Helper()
	hp := fsroot.Join(root, link)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, hp); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverEveryUsersStores(t *testing.T) {
	root := t.TempDir()
	writePasswd(t, root, strings.Join([]string{
		"root:x:0:0:root:/root:/bin/bash",
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
		"alice:x:1001:1001:Alice:/home/alice:/bin/bash",
		"bob:x:1002:1002:Bob:/srv/bob:/bin/bash", // home outside /home: found through passwd
		"broken line without fields",
		"",
	}, "\n"))
	want := map[string]string{} // id -> app

	// alice: Firefox with a relative and an absolute profile, a profile
	// missing from profiles.ini, snap Firefox, Thunderbird, Chromium and
	// snap Chromium (whose "current" is a symlink to the revision).
	want["nss:"+nsstest.FirefoxProfile(t, root, "/home/alice", "rel.default-release")] = "firefox"
	want["nss:"+nsstest.MozillaProfile(t, root, "/home/alice/.mozilla/firefox", "abs.work", false)] = "firefox"
	want["nss:"+nsstest.NewDB(t, root, "/home/alice/.mozilla/firefox/unlisted.default")] = "firefox"
	want["nss:"+nsstest.MozillaProfile(t, root, "/home/alice/snap/firefox/common/.mozilla/firefox", "snap.default", true)] = "firefox"
	want["nss:"+nsstest.ThunderbirdProfile(t, root, "/home/alice", "tb.default")] = "thunderbird"
	want["nss:"+nsstest.ChromiumDB(t, root, "/home/alice")] = "chromium"
	want["nss:"+nsstest.NewDB(t, root, "/home/alice/snap/chromium/2345/.pki/nssdb")] = "chromium"
	symlink(t, root, "2345", "/home/alice/snap/chromium/current")
	// A profile listed in profiles.ini that was never started: no store.
	ini := fsroot.Join(root, "/home/alice/.mozilla/firefox/profiles.ini")
	f, _ := os.OpenFile(ini, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("[Profile9]\nName=never\nIsRelative=1\nPath=never.started\n\n[Install4F96D1932A9F858E]\nDefault=rel.default-release\nLocked=1\n")
	f.Close()
	os.MkdirAll(fsroot.Join(root, "/home/alice/.mozilla/firefox/never.started"), 0o755)

	// bob: flatpak Firefox and Thunderbird.
	want["nss:"+nsstest.MozillaProfile(t, root, "/srv/bob/.var/app/org.mozilla.firefox/.mozilla/firefox", "fp.default", true)] = "firefox"
	want["nss:"+nsstest.MozillaProfile(t, root, "/srv/bob/.var/app/org.mozilla.Thunderbird/.thunderbird", "fptb.default", true)] = "thunderbird"

	// carol (no passwd entry, found under /home): her nssdb is an
	// absolute symlink to the system database, which stays one store.
	want["nss:"+nsstest.NewDB(t, root, "/etc/pki/nssdb")] = "system"
	symlink(t, root, "/etc/pki/nssdb", "/home/carol/.pki/nssdb")
	// A hostile profiles.ini climbing out of the root lands inside it.
	os.MkdirAll(fsroot.Join(root, "/home/carol/.mozilla/firefox"), 0o755)
	os.WriteFile(fsroot.Join(root, "/home/carol/.mozilla/firefox/profiles.ini"),
		[]byte("[Profile0]\nIsRelative=1\nPath=../../../../../../../../etc/pki/nssdb\n[Profile1]\nIsRelative=0\nPath=/../../etc/pki/nssdb\n"), 0o644)

	// root's Chromium database.
	want["nss:"+nsstest.ChromiumDB(t, root, "/root")] = "chromium"
	// A macOS home.
	want["nss:"+nsstest.MozillaProfile(t, root, "/Users/mac/Library/Application Support/Firefox", "Profiles/m.default", true)] = "firefox"

	ss, err := Discover(context.Background(), stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var ids []string
	for _, s := range ss {
		info := s.Info()
		got[info.ID] = info.App
		ids = append(ids, info.ID)
		if info.Kind != stores.KindNSS || info.Format != FormatCert9 || info.Path != strings.TrimPrefix(info.ID, "nss:") || info.Note != "" {
			t.Errorf("info %+v", info)
		}
		if _, err := s.List(context.Background()); err != nil {
			t.Errorf("%s: List: %v", info.ID, err)
		}
	}
	sort.Strings(ids)
	for id, app := range want {
		if got[id] != app {
			t.Errorf("%s: app %q, want %q", id, got[id], app)
		}
	}
	if len(got) != len(want) {
		t.Errorf("found %d stores, want %d:\n%s", len(got), len(want), strings.Join(ids, "\n"))
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("stores are not sorted by id")
	}
}

func TestDiscoverThroughRegistry(t *testing.T) {
	root := t.TempDir()
	writePasswd(t, root, "root:x:0:0:root:/root:/bin/bash\ndan:x:2000:2000::/home/dan:/bin/sh\n")
	db := nsstest.ChromiumDB(t, root, "/home/dan")
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindNSS})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(ss) != 1 || ss[0].Info().ID != "nss:"+db {
		t.Fatalf("stores %v", ss)
	}
	// Owner is the name of the uid owning cert9.db in the root's passwd.
	if os.Geteuid() == 0 {
		nsstest.Chown(t, root, "/home/dan", 2000, 2000)
		s, _ := Open(stores.Env{Root: root}, db, "chromium")
		if s.Info().Owner != "dan" {
			t.Errorf("owner %q, want dan", s.Info().Owner)
		}
		nsstest.Chown(t, root, "/home/dan", 3000, 3000)
		s, _ = Open(stores.Env{Root: root}, db, "chromium")
		if s.Info().Owner != "3000" {
			t.Errorf("owner %q, want 3000 (no passwd entry)", s.Info().Owner)
		}
	}
}

func TestParseProfilesINI(t *testing.T) {
	ini := "\ufeff[General]\r\nStartWithLastProfile=1\r\n\r\n" +
		"[Profile1]\r\nName=work\r\nIsRelative=0\r\nPath=/home/a/work profile\r\n\r\n" +
		"[Profile0]\nName=default\nIsRelative = 1\nPath = Profiles\\abc.default\nDefault=1\n" +
		"; comment\n# comment\n[Profile2]\nName=nopath\n" +
		"[Profile3]\nPath=noflag.default\n" +
		"[Install308046B0AF4A39CB]\nDefault=Profiles/abc.default\n" +
		"[Broken\nPath=ignored\n"
	got := parseProfilesINI([]byte(ini))
	want := []profileRef{
		{"/home/a/work profile", false},
		{"Profiles/abc.default", true},
		{"noflag.default", true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		ref  profileRef
		want string
	}{
		{profileRef{"abc.default", true}, "/home/a/.mozilla/firefox/abc.default"},
		{profileRef{"../../../../../../x", true}, "/x"},
		{profileRef{"/srv/p", false}, "/srv/p"},
		{profileRef{"/srv/p", true}, "/srv/p"},
		{profileRef{"C:/Users/a/p", false}, "/Users/a/p"},
		{profileRef{"rel/p", false}, "/rel/p"},
	} {
		if got := resolveProfile("/home/a/.mozilla/firefox", tc.ref); got != tc.want {
			t.Errorf("resolve %+v = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
